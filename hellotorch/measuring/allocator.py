"""The C allocator's policy in a measuring process: keep freed memory, so a step does not page-fault it back in.

glibc's ``malloc`` returns large blocks to the kernel when they are freed
(each block above its mmap threshold is unmapped; the heap's top is trimmed
above the trim threshold), and it moves that threshold as the process runs.
A training step frees and allocates the same activation buffers every step,
so under the defaults a step may page-fault its buffers in again, each
time: the CNN's eager step at batch 32 took 3,000-5,900 minor page faults a
step here, a different number in each process, and its speed moved with it
by up to 20 % between processes (docs/trials.md, "The CNN's speed from one
process to the next"). With both thresholds fixed high, the same step took
3-13 faults and 20-23 ms in every process.

So a measuring process keeps what it frees (``Measurement.steady_allocator``,
on by default), as PyTorch's own CPU launcher does when it preloads jemalloc
or tcmalloc (``python -m torch.backends.xeon.run_cpu``). The process's
resident memory then stays at its peak, as a long training job's does. What
was set is a fact of the run (``allocator`` in the machine's facts); outside
glibc (macOS, musl) nothing is set and the fact says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

from hellotorch.settings import DEFAULT_ALLOCATOR_POLICY

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap, not from a mapping of their own ...
MMAP_THRESHOLD_BYTES = 1 << 30
#: ... and glibc refuses a threshold above its heap's half (32 MiB on 64-bit) in some versions: then this one.
MMAP_THRESHOLD_FALLBACK_BYTES = 32 << 20
#: the heap's free top is returned to the kernel only above this (mallopt takes an int).
TRIM_THRESHOLD_BYTES = (1 << 31) - 1

_applied: str | None = None


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def apply_allocator_policy(steady: bool, *, libc: ctypes.CDLL | None = None) -> str:
    """Set this process's allocator policy (once; later calls keep the first) and return what it is."""
    global _applied
    if _applied is not None:
        return _applied
    libc = libc if libc is not None else _glibc()
    if not steady:
        _applied = DEFAULT_ALLOCATOR_POLICY
    elif libc is None:
        _applied = f"{DEFAULT_ALLOCATOR_POLICY} (not glibc: nothing to set)"
    else:
        mmap_threshold = MMAP_THRESHOLD_BYTES
        if not libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold):
            mmap_threshold = MMAP_THRESHOLD_FALLBACK_BYTES
            libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
        # Fixing either threshold also stops glibc from moving the mmap threshold as the process runs.
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
        _applied = f"glibc, freed memory kept (mmap threshold {mmap_threshold >> 20} MiB, trim off)"
    return _applied


def allocator_policy() -> str:
    """The policy this process measures under: the one set, or the C library's default where none was."""
    return _applied or DEFAULT_ALLOCATOR_POLICY


def _reset_for_tests() -> None:
    global _applied
    _applied = None
