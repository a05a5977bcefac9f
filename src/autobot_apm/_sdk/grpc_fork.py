"""What gRPC needs around ``os.fork()``: no export of ours in flight at the fork.

gRPC prepares a fork itself (it pauses its own threads so that the child can start them
again), but only when no thread is inside a gRPC call at that instant; otherwise it
skips the preparation, and the child's first call into gRPC aborts the child (SIGABRT
in the poller) or hangs it. Our exporters call into gRPC from background threads at
any moment, so a fork waits until none of them is inside an export, and no export
starts until the fork is done. With a collector that answers, that is a wait of
milliseconds; an export never lasts longer than its timeout, which bounds the wait.

When the wait ends without the exports done, or when ``GRPC_ENABLE_FORK_SUPPORT`` turns
gRPC's preparation off, gRPC cannot be used in the child at all: the child then exports
nothing rather than crash (see :func:`usable_in_child`).
"""

from __future__ import annotations

import os
import threading

# The values with which gRPC turns its fork preparation off (it is on when unset, and
# when the value is not a boolean): the false spellings of its flag parser, in any case,
# surrounding blanks ignored. Measured with grpcio 1.85: each of these hangs or crashes a
# child that calls into gRPC; "off" and "disabled" do not.
_OFF_VALUES = frozenset({"0", "f", "false", "n", "no"})
FORK_SUPPORT_VARIABLE = "GRPC_ENABLE_FORK_SUPPORT"


class ExportGate:
    """Keeps forks and gRPC exports apart: ``with gate:`` around each export; a fork
    holds the gate from before ``fork()`` until just after it."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._exporting = 0
        self._forking = False
        self.clear_at_fork = True  # no export was in flight at the last fork

    def reset_in_child(self) -> bool:
        """In the child: state of its own (only the forking thread exists here, and it
        holds the copied lock). Returns whether no export was in flight at the fork."""
        clear = self.clear_at_fork
        self._start()
        return clear

    def __enter__(self) -> None:
        with self._changed:
            while self._forking:
                self._changed.wait()
            self._exporting += 1

    def __exit__(self, *_: object) -> None:
        with self._changed:
            self._exporting -= 1
            if not self._exporting:
                self._changed.notify_all()

    def hold_for_fork(self, limit_s: float) -> None:
        """Before ``fork()``: wait up to ``limit_s`` for the exports in flight to end;
        keep new ones out until :meth:`release_after_fork`."""
        self._changed.acquire()
        self._forking = True
        self.clear_at_fork = self._changed.wait_for(self._idle, limit_s)

    def release_after_fork(self) -> None:
        """In the parent, after ``fork()``: exports may go on."""
        self._forking = False
        self._changed.notify_all()
        self._changed.release()

    def _idle(self) -> bool:
        return not self._exporting


GATE = ExportGate()


def usable_in_child(clear_at_fork: bool) -> bool:
    """Whether the child may call into gRPC: gRPC prepared the fork (its preparation is
    on, and no export of ours was inside gRPC)."""
    setting = os.environ.get(FORK_SUPPORT_VARIABLE, "").strip().lower()
    return clear_at_fork and setting not in _OFF_VALUES
