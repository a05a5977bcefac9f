"""Count the objects the garbage collector counts as allocated, frees left out.

The collector starts a young collection when its young count passes the threshold
(700). CPython (3.8 to 3.13, with the GIL) adds one to that count for each object of a
collected type it allocates (dicts, lists, functions, coroutines, class instances...;
not those a free list hands back) and takes one off when such an object is freed, but
only while the count is above zero. Started far below zero, the count therefore adds up
the allocations alone: what a request allocates in all, beside what it leaves behind.

The count lives in the interpreter's state, which Python does not expose: it is found
by setting unusual thresholds and looking for them, 24 bytes apart (one generation's
record each), near the start of the interpreter state; then checked by allocating a
known number of objects. Where it cannot be found or checked (another build, another
version), :func:`allocation_counter` answers None and the figures are left out.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import struct
import sys
import sysconfig
from collections.abc import Callable, Iterator

# Thresholds nobody uses, to recognise the collector's state among other integers.
_MARKERS = (123_457, 37, 41)
_GENERATION_STRIDE = 24  # two pointers of list head, then threshold and count (ints)
_SCAN_BYTES = 1 << 16
_FAR_BELOW_ZERO = -(1 << 30)
_CHECK_OBJECTS = 1000


class _Probe:
    __slots__ = ("value",)  # a slot holding an object makes the class a collected one


class AllocationCounter:
    """Counts allocations of collected objects while :meth:`counting` is open."""

    def __init__(self, young_count: ctypes.c_int) -> None:
        self._young_count = young_count

    @contextlib.contextmanager
    def counting(self) -> Iterator[Callable[[], int]]:
        """Collector paused; yields a function returning the allocations so far."""
        read = self._allocated  # made before counting starts, so not counted
        gc.collect()
        gc.disable()
        self._young_count.value = _FAR_BELOW_ZERO
        try:
            yield read
        finally:
            gc.enable()
            gc.collect()  # sets the count back to zero

    def _allocated(self) -> int:
        return self._young_count.value - _FAR_BELOW_ZERO

    def works(self) -> bool:
        """Whether allocating and freeing a known number of objects counts that number."""
        with self.counting() as allocated:
            probes = [_Probe() for _ in range(_CHECK_OBJECTS)]
            del probes
            counted = allocated()
        # The probes, the comprehension's function and its list (unless a free list had one).
        return _CHECK_OBJECTS <= counted <= _CHECK_OBJECTS + 3


def allocation_counter() -> AllocationCounter | None:
    """A checked counter, or None where this interpreter's count cannot be reached."""
    if not _supported():
        return None
    young_count = _find_young_count()
    if young_count is None:
        return None
    counter = AllocationCounter(young_count)
    return counter if counter.works() else None


def _supported() -> bool:
    return (
        sys.implementation.name == "cpython"
        and (3, 8) <= sys.version_info[:2] <= (3, 13)
        and not sysconfig.get_config_var("Py_GIL_DISABLED")
        and ctypes.sizeof(ctypes.c_void_p) == 8
    )


def _find_young_count() -> ctypes.c_int | None:
    """The young generation's count, found by its threshold; None unless found once."""
    saved = gc.get_threshold()
    gc.set_threshold(*_MARKERS)
    try:
        get_state = ctypes.pythonapi.PyInterpreterState_Get
        get_state.restype = ctypes.c_void_p
        state = get_state()
        if not state:
            return None
        memory = ctypes.string_at(state, _SCAN_BYTES)
        found = [offset for offset in range(0, _SCAN_BYTES - 64, 4) if _markers_at(memory, offset)]
    finally:
        gc.set_threshold(*saved)
    if len(found) != 1:
        return None
    return ctypes.c_int.from_address(state + found[0] + 4)  # the count follows the threshold


def _markers_at(memory: bytes, offset: int) -> bool:
    return all(
        struct.unpack_from("i", memory, offset + index * _GENERATION_STRIDE)[0] == marker
        for index, marker in enumerate(_MARKERS)
    )
