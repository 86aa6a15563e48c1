"""The host's speed, read by timing the fixed reference workload: what a tenant outside this VM does to a step.

On a shared VM the host's other tenants can slow this machine without
taking any of its CPU time: no counter of ``/proc/stat`` moves and no steal
is reported, so :mod:`hellotorch.measuring.host_load` sees a quiet machine.
Here, in one hour, the same eager steps ran 6-49 % slower in the third of
three quiet ``quick`` runs than in the first, and the paired speedups rose
with them, by up to 9 %, every case the same way. Such a host is not a loaded machine (nothing here
can be waited out), but it is a different one, and a reader comparing two
runs needs to know.

So every CPU case times the reference workload
(:mod:`hellotorch.measuring.reference_workload`: plain torch operations no
commit can change) just before its timed rounds and again after its last
timed step, in a few short blocks, outside every timed measurement, and
records the mean of the two medians as ``host_reference_ms``. The run's
summary gives the range over its cases and ``compare`` each run's median,
so a spread of speedups across runs can be told apart from a change in the
code (:mod:`hellotorch.results.table`, :mod:`hellotorch.results.compare`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from hellotorch.measuring.reference_workload import reference_step

#: About 25 ms a reading: five 4 ms blocks, the median of their per-step times (one interrupted block does not count).
BLOCKS = 5
BLOCK_SECONDS = 0.004
#: untimed calls before the blocks: the other arm's buffers and caches are replaced by the workload's own.
WARM_CALLS = 3


def reference_ms(
    step: Callable[[object], object],
    *,
    blocks: int = BLOCKS,
    block_seconds: float = BLOCK_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Milliseconds per call of ``step``: the median over ``blocks`` blocks of at least ``block_seconds`` each."""
    for _ in range(WARM_CALLS):
        step(None)
    per_call = []
    for _ in range(blocks):
        calls, start = 0, clock()
        now = start
        while calls == 0 or now - start < block_seconds:
            step(None)
            calls += 1
            now = clock()
        per_call.append((now - start) / calls)
    return statistics.median(per_call) * 1e3


class HostSpeed:
    """The bench process's reader of the host's speed: one reference workload, its tensors allocated once."""

    def __init__(self, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._step: Callable[[object], object] | None = None

    def read(self) -> float:
        """One reading, in ms per reference step on the CPU."""
        if self._step is None:
            self._step = reference_step("cpu")
        return reference_ms(self._step, clock=self._clock)
