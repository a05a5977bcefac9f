"""Optional check (not in CI): what GenAI backends understand of autobot-apm's LLM spans.

Starts Arize Phoenix and/or an MLflow tracking server on 127.0.0.1, runs the examples
(``examples/rag.py``, ``examples/llm_streaming.py``) and a small agent flow of this
script's own (an agent calling a model, a tool and a retrieval) with their traces
exported over OTLP/HTTP to that backend, reads the traces back through the backend's own
Python client and prints, for each span, what the backend made of it (span kind or type,
model, token counts, cost, retrieved documents, tool and agent names), then a summary.

    pip install arize-phoenix mlflow        # heavy; not a dependency of autobot-apm
    python scripts/check_genai_backends.py --backend phoenix --backend mlflow
    python scripts/check_genai_backends.py --backend phoenix --backend mlflow --latest

The examples run with this interpreter (it needs autobot-apm importable, ``src`` is put
on the path); the servers too, unless ``--server-python`` names another one (a separate
virtual environment, should the backends' pins clash with autobot-apm's). The read-back
clients are imported here, so this interpreter needs them either way.

Everything stays on loopback: each server listens on 127.0.0.1 only (Phoenix's OTLP/gRPC
listener, which it binds to every interface, is moved to 127.0.0.1 by a shim), start-up
is bounded, and each server's process group is stopped and its data directory removed at
the end. The clients' shapes change between releases, so anything unexpected is printed
as it came rather than guessed at.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("rag.py", "llm_streaming.py")
# Attribute fragments worth showing: what a GenAI backend reads or derives.
GENAI_FRAGMENTS = ("gen_ai.", "llm.", "openinference.", "retrieval", "tool", "token", "agent")
BACKEND_FRAGMENTS = ("mlflow.span", "mlflow.chat", "mlflow.llm", "input.value", "cost", "phoenix")
INTERESTING = GENAI_FRAGMENTS + BACKEND_FRAGMENTS
STARTUP_TIMEOUT = 180.0  # seconds; both servers run migrations on first start
INGEST_TIMEOUT = 60.0  # seconds to wait for the spans sent to show up in the API
# Phoenix binds its OTLP/gRPC receiver to [::]; this keeps it on loopback, then starts it.
PHOENIX_SHIM = """
import runpy, grpc.aio._server as s
add = s.Server.add_insecure_port
s.Server.add_insecure_port = lambda self, address: add(
    self, address.replace("[::]:", "127.0.0.1:"))
runpy.run_module("phoenix.server.main", run_name="__main__")
"""


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


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group (workers included): TERM, then KILL."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sent)
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def server(command: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[None]:
    """Run ``command`` in a process group of its own until the block ends; stop it either
    way. Its output goes to ``log``, shown only when it fails to start."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
            command, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            try:
                wait_for_port(port, process)
            except Exception:
                print(log.read_text(errors="replace")[-3000:])
                raise
            yield
        finally:
            stop(process)


def send_agent_example() -> None:
    """An agent that asks a model, calls a tool, retrieves passages and answers."""
    sys.path.insert(0, str(ROOT / "src"))
    import autobot_apm as apm

    apm.configure(service_name="agent-demo", llm_prices={"gpt-4o-mini": (0.15, 0.60)})
    with apm.track_llm("openai", "gpt-4o-mini", operation="invoke_agent",
                       agent_name="on-call-helper", agent_id="agent-7",
                       agent_description="Answers on-call questions"):  # fmt: skip
        with apm.track_llm("openai", "gpt-4o-mini", temperature=0.0) as op:
            op.usage(input_tokens=120, output_tokens=18)
            op.response(model="gpt-4o-mini", finish_reasons=["tool_calls"])
        with apm.track_llm("openai", operation="execute_tool", tool_name="lookup_runbook",
                           tool_call_id="call-1", tool_type="function",
                           tool_description="Finds the runbook of an alert"):  # fmt: skip
            pass
        with apm.track_llm("demo", operation="retrieval", data_source="runbooks") as op:
            op.retrieved(
                top_k=2,
                query="disk usage alert on a database host",
                documents=[
                    {"id": "rb-12", "score": 0.91, "content": "Free space."},
                    {"id": "rb-3", "score": 0.42, "content": "Rotate logs."},
                ],
            )
        with apm.track_llm("openai", "gpt-4o-mini") as op:
            op.usage(input_tokens=300, output_tokens=60)
            op.response(model="gpt-4o-mini", finish_reasons=["stop"])
    apm.shutdown()


def run_examples(endpoint: str, headers: str, latest: bool) -> None:
    """Run the examples, exporting to ``endpoint`` (the base: the SDK adds /v1/traces;
    the backends refuse the metrics and logs, which costs a logged export error and
    nothing else)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": headers,
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental" if latest else "",
    }
    commands = [[str(ROOT / "examples" / example)] for example in EXAMPLES]
    commands.append([str(Path(__file__).resolve()), "--send-agent-example"])
    for command in commands:
        print(f"  running {Path(command[0]).name} {' '.join(command[1:])}".rstrip())
        subprocess.run(  # noqa: S603 (fixed argv)
            [sys.executable, *command], env=env, check=True, timeout=120, capture_output=True
        )


def wait_for_spans(read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Read until the count stops growing (the backends ingest asynchronously)."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        time.sleep(2)
        latest = read()
        if latest and len(latest) == len(rows):
            return latest
        rows = latest
    return rows


def show(rows: list[dict[str, Any]], verbose: bool) -> None:
    """One line per span, then (verbose) the attributes a GenAI backend reads or derives."""
    for row in rows:
        print(f"  - {row.get('name')!s}  [{row.get('kind')!s}]")
        for key, value in sorted(row.get("attributes", {}).items()):
            if verbose and any(fragment in key for fragment in INTERESTING):
                print(f"      {key} = {str(value)[:150]}")


def summarise(rows: list[dict[str, Any]], facts: dict[str, str]) -> None:
    """Per span kind: how many spans, their names, and the facts (attribute keys, with
    ``*`` wildcards, that the backend writes or reads) that showed on them."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kinds.setdefault(str(row.get("kind")), []).append(row)
    print("  summary:")
    for kind, spans in sorted(kinds.items()):
        names = sorted({str(span.get("name")) for span in spans})
        print(f"    {kind}: {len(spans)} spans ({', '.join(names)})")
        for fact, pattern in facts.items():
            found = [value for span in spans for key, value in span["attributes"].items()
                     if fnmatch.fnmatchcase(key, pattern) and value not in (None, "")]  # fmt: skip
            values = sorted({_brief(value) for value in found})
            if values:
                more = f" (+{len(values) - 3})" if len(values) > 3 else ""
                print(f"      {fact}: {' | '.join(values[:3])}{more}")


def _brief(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}={_brief(item)}" for key, item in value.items())
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)[:48]


PHOENIX_FACTS = {
    "model": "*.model_name",
    "prompt tokens": "llm.token_count.prompt",
    "completion tokens": "llm.token_count.completion",
    "cost (Phoenix's own prices)": "phoenix cost",
    "query": "input.value",
    "document ids": "retrieval.documents.*.document.id",
    "tool": "tool.name",
    "agent": "agent.name",
}
# Phoenix prices LLM spans itself, from its own model table; the cost is in GraphQL only.
PHOENIX_COSTS = """{ projects { edges { node { name spans(first: 1000) { edges { node {
  context { spanId } costSummary { total { cost } } } } } } } } }"""


def phoenix_costs(base_url: str) -> dict[str, float]:
    """Span id -> the cost Phoenix computed, for the spans it priced."""
    request = urllib.request.Request(  # noqa: S310 (loopback URL built here)
        f"{base_url}/graphql", data=json.dumps({"query": PHOENIX_COSTS}).encode(),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (as above)
        answer = json.load(response)
    costs = {}
    for project in answer["data"]["projects"]["edges"]:
        for edge in project["node"]["spans"]["edges"]:
            summary = edge["node"]["costSummary"] or {}
            cost = (summary.get("total") or {}).get("cost")
            if cost is not None:
                costs[edge["node"]["context"]["spanId"]] = cost
    return costs


def check_phoenix(latest: bool, data: Path, python: str, verbose: bool) -> None:
    port = free_port()
    env = {"PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_TELEMETRY_ENABLED": "false",
           "PHOENIX_WORKING_DIR": str(data / "phoenix")}  # fmt: skip
    command = [python, "-c", PHOENIX_SHIM, "serve"]
    base_url = f"http://127.0.0.1:{port}"
    with server(command, port, env, data / "server.log"):
        run_examples(base_url, "", latest)
        from phoenix.client import Client  # type: ignore[import-not-found]

        client = Client(base_url=base_url)

        def read() -> list[dict[str, Any]]:
            spans = client.spans.get_spans(project_identifier="default", limit=1000)
            return [{"name": span["name"], "id": span["context"]["span_id"],
                     "kind": span.get("span_kind"),
                     "attributes": dict(span["attributes"])} for span in spans]  # fmt: skip

        rows = wait_for_spans(read)
        costs = phoenix_costs(base_url)
        for row in rows:
            if row["id"] in costs:
                row["attributes"]["phoenix cost"] = costs[row["id"]]
        print(f"Phoenix stored {len(rows)} spans:")
        show(rows, verbose)
        summarise(rows, PHOENIX_FACTS)


MLFLOW_FACTS = {
    "model": "mlflow.llm.model",
    "tokens": "mlflow.chat.tokenUsage",
    "cost (MLflow's own prices)": "mlflow.llm.cost",
    "inputs": "mlflow.spanInputs",
    "outputs": "mlflow.spanOutputs",
    "tool (raw gen_ai.tool.name)": "gen_ai.tool.name",
    "agent (raw gen_ai.agent.name)": "gen_ai.agent.name",
}


def check_mlflow(latest: bool, data: Path, python: str, verbose: bool) -> None:
    port = free_port()
    store = f"sqlite:///{data / 'mlflow.db'}"
    command = [python, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", store, "--default-artifact-root", str(data / "art"),
               "--workers", "1"]  # fmt: skip
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with server(command, port, env, data / "server.log"):
        import mlflow  # type: ignore[import-not-found]

        uri = f"http://127.0.0.1:{port}"
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("autobot-apm-check")
        run_examples(uri, f"x-mlflow-experiment-id={experiment}", latest)

        def read() -> list[dict[str, Any]]:
            traces = mlflow.search_traces(locations=[experiment], return_type="list")
            return [{"name": span.name, "kind": span.span_type,
                     "attributes": dict(span.attributes)}
                    for trace in traces for span in trace.data.spans]  # fmt: skip

        rows = wait_for_spans(read)
        print(f"MLflow stored {len(rows)} spans:")
        show(rows, verbose)
        summarise(rows, MLFLOW_FACTS)


CHECKS: dict[str, Callable[[bool, Path, str, bool], None]] = {
    "phoenix": check_phoenix,
    "mlflow": check_mlflow,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", action="append", choices=sorted(CHECKS), default=[])
    opt_in = "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental"
    parser.add_argument("--latest", action="store_true", help=f"export with {opt_in}")
    parser.add_argument(
        "--server-python",
        default=sys.executable,
        help="the interpreter that runs the servers (default: this one)",
    )
    parser.add_argument("--verbose", action="store_true", help="print each span's attributes")
    parser.add_argument("--send-agent-example", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.send_agent_example:
        send_agent_example()
        return 0
    if not arguments.backend:
        parser.error("name at least one --backend")
    failed = 0
    for backend in arguments.backend:
        data = Path(tempfile.mkdtemp(prefix=f"autobot-apm-{backend}-"))
        print(f"== {backend} (latest conventions: {arguments.latest})")
        try:
            CHECKS[backend](arguments.latest, data, arguments.server_python, arguments.verbose)
        except Exception as exc:  # report and go on with the next backend
            failed += 1
            print(f"  {backend} check failed: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(data, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
