"""The clock every hellotorch timing reads.

pytest-benchmark's timer knows nothing of CUDA: a kernel launched in the
timed call may still be running when the clock is read. This clock waits for
the GPU first when CUDA is in use, so it serves as pytest-benchmark's
``timer`` and as the paired-speedup loop's clock alike.
"""

from __future__ import annotations

import time

import torch


def synchronized_clock() -> float:
    """``time.perf_counter()`` after the queued CUDA work (if any) has finished."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()
