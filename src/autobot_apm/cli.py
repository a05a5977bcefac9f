"""The ``autobot-apm`` command.

``autobot-apm doctor`` prints what the library sees, one section per concern. Each
section is one small function taking the parsed arguments and an output stream; a new
section is a new function added to ``DOCTOR_SECTIONS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

Section = Callable[[argparse.Namespace, TextIO], None]


def hardware_section(args: argparse.Namespace, out: TextIO) -> None:
    """CPUs, memory, each GPU and NPU the sampler can read, and why any is missing."""
    from .sampler import describe_hardware

    print("Hardware (what start_sampler() would read)", file=out)
    for status in describe_hardware(npu_sysfs_root=args.npu_sysfs_root):
        print(f"  {status.component:<16} {status.status:<7} {status.detail}", file=out)


DOCTOR_SECTIONS: tuple[Section, ...] = (hardware_section,)


def doctor(args: argparse.Namespace, out: TextIO) -> int:
    for number, section in enumerate(DOCTOR_SECTIONS):
        if number:
            print(file=out)
        section(args, out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autobot-apm", description="OpenTelemetry-native APM for Python services."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    doctor_parser = commands.add_parser("doctor", help="show what autobot-apm sees here")
    doctor_parser.add_argument(
        "--npu-sysfs-root",
        default="/sys/class/accel",
        help="where to look for Intel NPUs (default: %(default)s)",
    )
    doctor_parser.set_defaults(run=doctor)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = args.run
    return run(args, out or sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
