"""The demo's services as child processes, started together and never left behind.

Each child binds its own port and reports it (see :mod:`.service`), so no port is
guessed and none can be taken by the time it is used. Children run in their own
process group: Ctrl-C reaches the demo alone, which then stops them in order. To stop
a child the demo closes its standard input and waits for it to flush its telemetry;
one that does not exit in time gets SIGTERM, then SIGKILL. A child whose demo died
sees its standard input close and exits by itself.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any, Self

SERVICES = ("frontend", "backend", "cache", "llm", "worker")
START_TIMEOUT = 60.0  # five interpreters importing FastAPI at once on a busy laptop
STOP_TIMEOUT = 10.0  # a graceful stop includes the final export of telemetry
KILL_TIMEOUT = 3.0
STDERR_LINES = 15  # of a failed child's error output, shown to the user


class DemoError(Exception):
    """The demo cannot go on; the message says why, for the person running it."""


def service_command(name: str, endpoint: str) -> list[str]:
    """How the demo starts service ``name``, exporting to ``endpoint``."""
    return [sys.executable, "-m", "autobot_apm._demo.service", name, "--endpoint", endpoint]


def child_environment() -> dict[str, str]:
    """The demo's environment without the user's telemetry settings.

    The services send their telemetry to the demo's receiver and nowhere else: a
    collector endpoint or headers from ``OTEL_*`` variables are not passed on. The test
    suite's ``AUTOBOT_APM_STRICT`` is, so that an internal fault in a service is loud.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "AUTOBOT_APM_")) or key == "AUTOBOT_APM_STRICT"
    }
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


@dataclass
class Child:
    """One running service and what it told the demo."""

    name: str
    process: subprocess.Popen[str]
    stderr: IO[bytes]
    messages: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expect(self, key: str, deadline: float) -> Any:
        """Wait for the message carrying ``key``; DemoError if the child dies or is late."""
        while True:
            try:
                message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise DemoError(self._failure("did not start in time")) from None
            if message is None:
                raise DemoError(self._failure("stopped while starting"))
            if key in message:
                return message[key]

    def _failure(self, what: str) -> str:
        try:
            status = f" (exit status {self.process.wait(timeout=1.0)})"
        except subprocess.TimeoutExpired:
            status = ""
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        tail = "\n".join("    " + line for line in lines[-STDERR_LINES:])
        return f"service {self.name} {what}{status}" + (
            f"; its last words:\n{tail}" if tail else ""
        )


class Cluster:
    """Start services with :meth:`start`; leaving the ``with`` block stops every one."""

    def __init__(self, commands: Mapping[str, Sequence[str]]) -> None:
        self.commands = dict(commands)
        self.children: list[Child] = []
        self._readers: list[threading.Thread] = []

    @property
    def urls(self) -> dict[str, str]:
        return {child.name: child.url for child in self.children}

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch every service, tell each where the others are, wait until all serve."""
        deadline = time.monotonic() + timeout
        for name, command in self.commands.items():
            self.children.append(self._launch(name, command))
        for child in self.children:
            child.port = int(child.expect("port", deadline))
        introduction = json.dumps({"peers": self.urls}) + "\n"
        for child in self.children:
            _write(child, introduction)
        for child in self.children:
            child.expect("ready", deadline)

    def _launch(self, name: str, command: Sequence[str]) -> Child:
        # A file, not a pipe, so it can never fill up and block the child; stop() closes it.
        stderr = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=child_environment(),
            **_own_process_group(),
        )
        child = Child(name, process, stderr)
        reader = threading.Thread(target=_read_messages, args=(child,), daemon=True)
        reader.start()
        self._readers.append(reader)
        return child

    def stop(self) -> list[str]:
        """Stop every service; returns the names of those that had to be forced."""
        for child in self.children:
            _close_stdin(child)
        deadline = time.monotonic() + STOP_TIMEOUT
        forced = [c for c in self.children if not _exited(c, deadline - time.monotonic())]
        for child in forced:
            child.process.terminate()
            if not _exited(child, KILL_TIMEOUT):
                child.process.kill()
                child.process.wait()
        for reader in self._readers:
            reader.join(timeout=KILL_TIMEOUT)
        for child in self.children:
            child.stderr.close()
        self.children, self._readers = [], []
        return [child.name for child in forced]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _own_process_group() -> dict[str, Any]:
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}


def _read_messages(child: Child) -> None:
    """Pass each JSON line the child prints to the demo; None when its output ends."""
    stdout = child.process.stdout
    if stdout is not None:
        with stdout:
            for line in stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not part of the protocol (a library printing)
                if isinstance(message, dict):
                    child.messages.put(message)
    child.messages.put(None)


def _write(child: Child, text: str) -> None:
    try:
        if child.process.stdin is not None:
            child.process.stdin.write(text)
            child.process.stdin.flush()
    except OSError:
        pass  # the child is gone; expect() reports it with its error output


def _close_stdin(child: Child) -> None:
    try:
        if child.process.stdin is not None:
            child.process.stdin.close()
    except OSError:
        pass  # already gone: there is nothing left to ask


def _exited(child: Child, timeout: float) -> bool:
    try:
        child.process.wait(timeout=max(0.0, timeout))
    except subprocess.TimeoutExpired:
        return False
    return True
