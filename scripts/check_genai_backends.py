"""Optional check (not in CI): what GenAI backends understand of autobot-apm's LLM spans.

Starts Arize Phoenix and/or an MLflow tracking server on 127.0.0.1, runs the examples
(``examples/rag.py``, ``examples/llm_streaming.py``) with their traces exported over
OTLP/HTTP to that backend, reads the traces back through the backend's own API and prints,
for each span, what the backend made of it (span kind or type, model, token counts,
retrieved documents, tool name). Run it once with and once without the latest conventions:

    pip install arize-phoenix mlflow        # heavy; not a dependency of autobot-apm
    python scripts/check_genai_backends.py --backend phoenix --backend mlflow
    python scripts/check_genai_backends.py --backend phoenix --latest

Everything stays on loopback; each server is stopped (and its data directory removed) at
the end. The read-back calls are the backends' public Python clients; their shape changes
between releases, so anything unexpected is printed as it came rather than guessed at.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("rag.py", "llm_streaming.py")
# Attribute fragments worth showing: what a GenAI backend reads or derives.
INTERESTING = ("gen_ai.", "llm.", "openinference.", "retrieval", "tool", "token", "mlflow.")
STARTUP_TIMEOUT = 120.0  # seconds; both servers run migrations on first start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {STARTUP_TIMEOUT} s")


@contextlib.contextmanager
def server(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run ``command`` until the block ends; stop it (terminate, then kill) either way."""
    process = subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603 (fixed argv)
    try:
        wait_for_port(port, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_examples(endpoint: str, headers: str, latest: bool) -> None:
    """Run the examples, exporting to ``endpoint`` (the base: the SDK adds /v1/traces;
    the backends refuse the metrics, which costs a logged export error and nothing else)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": headers,
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental" if latest else "",
    }
    for example in EXAMPLES:
        print(f"  running examples/{example}")
        subprocess.run(  # noqa: S603 (fixed argv)
            [sys.executable, str(ROOT / "examples" / example)],
            env=env, check=True, timeout=120, capture_output=True,
        )  # fmt: skip


def show(rows: list[dict[str, Any]]) -> None:
    """One line per span, then the attributes a GenAI backend reads or derives."""
    for row in rows:
        print(f"  - {row.get('name')!s}  [{row.get('kind')!s}]")
        for key, value in sorted(row.get("attributes", {}).items()):
            if any(fragment in key for fragment in INTERESTING):
                print(f"      {key} = {str(value)[:120]}")


def check_phoenix(latest: bool, data: Path) -> None:
    port = free_port()
    env = {"PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_WORKING_DIR": str(data / "phoenix")}  # fmt: skip
    command = [sys.executable, "-m", "phoenix.server.main", "serve"]
    with server(command, port, env):
        run_examples(f"http://127.0.0.1:{port}", "", latest)
        time.sleep(3)  # Phoenix ingests asynchronously
        from phoenix.client import Client  # type: ignore[import-not-found]

        frame = Client(base_url=f"http://127.0.0.1:{port}").spans.get_spans_dataframe(
            project_identifier="default"
        )
        rows = []
        for _, span in frame.iterrows():
            attributes = {key.removeprefix("attributes."): value for key, value in span.items()
                          if str(key).startswith("attributes.") and value == value}  # fmt: skip
            rows.append({"name": span.get("name"), "kind": span.get("span_kind"),
                         "attributes": attributes})  # fmt: skip
        print(f"Phoenix understood {len(rows)} spans:")
        show(rows)


def check_mlflow(latest: bool, data: Path) -> None:
    port = free_port()
    store = f"sqlite:///{data / 'mlflow.db'}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
               "--port", str(port), "--backend-store-uri", store]  # fmt: skip
    with server(command, port, {}):
        import mlflow  # type: ignore[import-not-found]

        uri = f"http://127.0.0.1:{port}"
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("autobot-apm-check")
        run_examples(uri, f"x-mlflow-experiment-id={experiment}", latest)
        time.sleep(3)
        rows = []
        for trace in mlflow.search_traces(experiment_ids=[experiment], return_type="list"):
            for span in trace.data.spans:
                rows.append({"name": span.name, "kind": span.span_type,
                             "attributes": dict(span.attributes)})  # fmt: skip
        print(f"MLflow understood {len(rows)} spans:")
        show(rows)


CHECKS: dict[str, Callable[[bool, Path], None]] = {
    "phoenix": check_phoenix,
    "mlflow": check_mlflow,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", action="append", choices=sorted(CHECKS), required=True)
    opt_in = "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental"
    parser.add_argument("--latest", action="store_true", help=f"export with {opt_in}")
    arguments = parser.parse_args()
    failed = 0
    for backend in arguments.backend:
        data = Path(tempfile.mkdtemp(prefix=f"autobot-apm-{backend}-"))
        print(f"== {backend} (latest conventions: {arguments.latest})")
        try:
            CHECKS[backend](arguments.latest, data)
        except Exception as exc:  # report and go on with the next backend
            failed += 1
            print(f"  {backend} check failed: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(data, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
