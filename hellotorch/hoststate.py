"""The host's cross-core state, probed: what one parallel region of the CPU threads costs.

On a shared VM the cost of waking the other threads for a parallel region
switches between two levels for tens of seconds at a time, and a step made
of many small parallel kernels (a compiled CPU step) slows with it far more
than its eager twin: the paired speedup of the MLP at batch 16 read 1.5x in
one state and 1.15x in the other (docs/methodology.md, "Threads and the
host's state"). The suite records the probe beside each compiled case's
speedup so a run says which state it was measured in.
"""

from __future__ import annotations

import math

import torch

from hellotorch.timing import synchronized_clock

#: Elements of the probe's tensor: above ATen's grain size (32768), so each call is one parallel region.
PROBE_ELEMENTS = 40_000


def parallel_region_us(*, calls: int = 50, repeats: int = 5, clock=synchronized_clock) -> float | None:
    """Microseconds per parallel region of the CPU threads (fork, a few microseconds of work, join).

    None with one thread, where there is no region to wake. The fastest of
    ``repeats`` blocks of ``calls``: a short burst of load is not the state
    being probed. On this project's 2-vCPU VM it reads about 4.5 us in the
    fast state and 6.5-7 us in the slow one (docs/methodology.md).
    """
    if torch.get_num_threads() < 2:
        return None
    probe = torch.zeros(PROBE_ELEMENTS)
    best = math.inf
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            probe.add_(1.0)
        best = min(best, clock() - start)
    return best / calls * 1e6
