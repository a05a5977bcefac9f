"""The ``autobot-apm`` command.

``autobot-apm doctor`` prints what the library sees, one section per concern. Each
section is one small function taking the parsed arguments and an output stream; a new
section is a new function added to ``DOCTOR_SECTIONS``. ``autobot-apm demo`` runs the
demo of :mod:`autobot_apm._demo`; ``autobot-apm serve`` the receiver of
:mod:`autobot_apm._serve`.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from ._privacy.redact import redact_url
from ._sdk.console.text import paint, shorten, wants_color, write_text
from ._sdk.exporters import SIGNAL_ENDPOINT_VARIABLES, exporter_kind
from ._sdk.parsers.values import parse_millis_as_seconds, parse_positive_seconds, parse_seconds
from ._sdk.settings import SETTINGS, Setting, Settings, resolve
from ._tracking.errors import ConfigurationError
from ._version import VERSION

__all__ = ["main"]

Section = Callable[[argparse.Namespace, TextIO], None]

CONNECT_TIMEOUT = 1.0  # seconds; a collector on the same network answers far sooner
VALUE_LIMIT = 60
KINDS = {
    "otlp": "otlp over {protocol}",
    "console": "console: no collector configured, spans and metrics are printed",
    "none": "none: telemetry is recorded but not exported",
    "disabled": "disabled (OTEL_SDK_DISABLED): nothing is recorded",
}


def _title(args: argparse.Namespace, out: TextIO, text: str) -> None:
    write_text(out, paint(text, "header", getattr(args, "color", False)) + "\n")


def _rows(out: TextIO, rows: Sequence[Sequence[str]]) -> None:
    """Indented rows, every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        write_text(out, "  " + "  ".join([*cells, row[-1]]).rstrip() + "\n")


def configuration_section(args: argparse.Namespace, out: TextIO) -> None:
    """Every setting with the value this environment gives it, and where it came from."""
    _title(args, out, "Configuration (from the environment; arguments to configure() win)")
    rows = [["setting", "value", "source"]]
    rows.extend([setting.name, *_resolve_one(setting)] for setting in SETTINGS)
    _rows(out, rows)


def _own_environ(setting: Setting) -> dict[str, str]:
    """Only this setting's variables: a fault elsewhere must not hide this one's value."""
    return {name: os.environ[name] for name in setting.env if name in os.environ}


def _resolve_one(setting: Setting) -> tuple[str, str]:
    """(value as shown, source) of one setting; an invalid value is reported, not raised."""
    try:
        resolved = resolve({}, _own_environ(setting))
    except ConfigurationError as exc:
        # A URL may carry credentials; a secret's value is never shown at all.
        value = "value hidden" if setting.secret else repr(redact_url(str(exc.value)))
        reason = f"{value}: {exc.reason}"
        return f"INVALID ({shorten(reason, VALUE_LIMIT)})", exc.setting
    source = resolved.sources[setting.name]
    if source == "default" and not setting.env:
        source = "default (configure() only)"
    return _shown(setting, resolved.as_mapping()[setting.name]), source


def _shown(setting: Setting, value: Any) -> str:
    """A value as doctor prints it; a secret only says whether it is set."""
    if setting.secret:
        return "<set>" if value else "<not set>"
    if setting.name == "endpoint" and value:
        return redact_url(str(value))
    if value is None or value == {} or value == ():
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        value = ",".join(f"{key}={item}" for key, item in value.items())
    elif isinstance(value, tuple | list):
        value = ",".join(map(str, value))
    if setting.parse in (parse_seconds, parse_positive_seconds, parse_millis_as_seconds):
        return f"{value:g} s"
    return shorten(str(value), VALUE_LIMIT)


def exporter_section(args: argparse.Namespace, out: TextIO) -> None:
    """Where telemetry goes, and whether the collector there accepts a TCP connection."""
    _title(args, out, "Exporter")
    rows = []
    try:
        settings = resolve({})
    except ConfigurationError as exc:
        problem = f"configure() would raise ConfigurationError ({exc.setting})"
        rows.append(["problem", problem])
        args.problems.append(problem)
        settings = resolve({}, _valid_environ())
    kind = "disabled" if settings.disabled else exporter_kind(settings)
    rows.append(["kind", KINDS[kind].format(protocol=settings.protocol)])
    if kind == "otlp":
        for signal, url in _endpoints(settings).items():
            rows.append([f"{signal} endpoint", redact_url(url) if url else "-"])
        reachability = _reachability(settings)
        rows.extend(reachability)
        args.problems.extend(
            f"collector {shown}" for _, shown in reachability if shown.startswith("UNREACHABLE")
        )
    _rows(out, rows)


def _valid_environ() -> dict[str, str]:
    """The environment without the variables of settings that are invalid."""
    environ = dict(os.environ)
    for setting in SETTINGS:
        try:
            resolve({}, _own_environ(setting))
        except ConfigurationError:
            for name in setting.env:
                environ.pop(name, None)
    return environ


def _endpoints(settings: Settings) -> dict[str, str | None]:
    """Per signal, the configured endpoint: the per-signal variable wins, as in the SDK."""
    base = str(settings.endpoint) if settings.endpoint else None
    return {
        variable.split("_")[3].lower(): os.environ.get(variable, "").strip() or base
        for variable in SIGNAL_ENDPOINT_VARIABLES
    }


def _reachability(settings: Settings) -> list[list[str]]:
    """One TCP connect per configured collector address; nothing else is contacted."""
    addresses = {_address(url) for url in _endpoints(settings).values() if url}
    if not addresses:
        return [["collector", "no endpoint configured: the exporter uses its own default"]]
    return [["collector", _connect(host, port)] for host, port in sorted(addresses)]


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", parts.port or default_port


def _connect(host: str, port: int) -> str:
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        return f"UNREACHABLE {host}:{port} ({exc.strerror or exc})"
    milliseconds = (time.perf_counter() - started) * 1000
    return f"reachable {host}:{port} (TCP connect in {milliseconds:.1f} ms)"


def hardware_section(args: argparse.Namespace, out: TextIO) -> None:
    """CPUs, memory, each GPU and NPU the sampler can read, and why any is missing."""
    from .sampler import describe_hardware

    _title(args, out, "Hardware (what start_sampler() would read)")
    statuses = describe_hardware(npu_sysfs_root=args.npu_sysfs_root)
    _rows(out, [[s.component, s.status, s.detail] for s in statuses])


def dropped_section(args: argparse.Namespace, out: TextIO) -> None:
    """Telemetry this process exported and dropped, and where to read an application's."""
    from ._sdk.health import telemetry_health

    _title(args, out, "Dropped telemetry")
    write_text(
        out,
        "  Counts are per process: this one exports nothing. In an application, read\n"
        "  autobot_apm.telemetry_health() or its autobot_apm.telemetry.dropped metric.\n",
    )
    health = telemetry_health()
    rows = [[name, _counts(health[name])] for name in ("exported", "dropped")]
    _rows(out, rows)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"


DOCTOR_SECTIONS: tuple[Section, ...] = (
    configuration_section,
    exporter_section,
    hardware_section,
    dropped_section,
)


def doctor(args: argparse.Namespace, out: TextIO) -> int:
    """Print every section; exit 1 when configure() would fail or a collector is down."""
    args.color = wants_color(out) and not args.no_color
    args.problems = []
    for number, section in enumerate(DOCTOR_SECTIONS):
        if number:
            write_text(out, "\n")
        section(args, out)
    if not args.problems:
        return 0
    write_text(out, "\nProblems:\n" + "".join(f"  - {p}\n" for p in args.problems))
    return 1


def demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import run_demo

    return run_demo(args.requests, color=False if args.no_color else None, out=out)


def serve(args: argparse.Namespace, out: TextIO) -> int:
    from ._serve import run_serve

    return run_serve(args, out, color=wants_color(out) and not args.no_color)


def build_parser() -> argparse.ArgumentParser:
    from ._demo import add_demo_arguments
    from ._serve import add_serve_arguments

    parser = argparse.ArgumentParser(
        prog="autobot-apm", description="OpenTelemetry-native APM for Python services."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)
    doctor_parser = commands.add_parser("doctor", help="show what autobot-apm sees here")
    doctor_parser.add_argument(
        "--npu-sysfs-root",
        default="/sys/class/accel",
        help="where to look for Intel NPUs (default: %(default)s)",
    )
    doctor_parser.set_defaults(run=doctor)
    demo_parser = commands.add_parser(
        "demo", help="run five traced services on loopback and show their telemetry"
    )
    add_demo_arguments(demo_parser)
    demo_parser.set_defaults(run=demo)
    serve_parser = commands.add_parser(
        "serve", help="receive OTLP on loopback and print traces and per-service numbers"
    )
    add_serve_arguments(serve_parser)
    serve_parser.set_defaults(run=serve)
    for command in (doctor_parser, demo_parser, serve_parser):
        command.add_argument("--no-color", action="store_true", help="plain text, no colours")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    try:
        return run(args, out or sys.stdout)
    except BrokenPipeError:
        # The reader left (`autobot-apm doctor | head`): no traceback, and none again when
        # the interpreter flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
