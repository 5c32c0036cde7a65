"""Handing freed host memory back to the system between gradient passes, so that resident memory
stays bounded over a long run.

glibc's malloc serves the many large, differently sized tensors a run of passes allocates from
its heap and raises its mmap threshold as they are freed; the holes they leave rarely fit the next
pass's tensors, so resident memory climbs with every new text width (measured in
``benchmarks/MEMORY.md``: an index build's peak grew with the number of texts). ``malloc_trim``
returns the free pages; each call costs page faults in the next pass, so it runs only once resident
memory has grown by ``GROWTH`` since it settled after the last call. Elsewhere (no glibc) this does nothing.

Example:
    >>> isinstance(release_freed(), bool)  # after a pass: True only when it gave memory back
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable

GROWTH = 1.25
"""Resident memory, as a multiple of what the last release left, that triggers the next one."""
_MIN_GROWTH_BYTES = 64 * 2**20  # below this, a release gives back too little to pay for its faults


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


_TRIM = _malloc_trim()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_state: dict[str, int | None] = {"settled": None}


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux), or None where /proc is not there."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def release_freed() -> bool:
    """After a pass: give freed heap pages back to the system once resident memory has grown by
    ``GROWTH`` over where it settled after the first pass since the last release (that pass's own
    freed pages, which the next pass reuses, are not counted as growth); returns whether it released."""
    if _TRIM is None:
        return False
    now = resident_bytes()
    if now is None:
        return False
    settled = _state["settled"]
    if settled is None:
        _state["settled"] = now
        return False
    if now < max(settled * GROWTH, settled + _MIN_GROWTH_BYTES):
        return False
    _TRIM(0)
    _state["settled"] = None
    return True
