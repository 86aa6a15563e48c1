"""The host's speed, read by timing a fixed pure-Python loop: what a tenant outside this VM does to a step.

On a shared VM the host's other tenants can slow this machine without
taking any of its CPU time: no counter of ``/proc/stat`` moves and no steal
is reported, so :mod:`hellotorch.measuring.host_load` sees a quiet machine.
Here, in one hour, the same eager steps ran 4-49 % slower in the third of
three quiet ``quick`` runs than in the first, and the paired speedups rose
with them, by up to 9 %, every case the same way. Such a host is not a
loaded machine (nothing here can be waited out), but it is a different one,
and a reader comparing two runs needs to know.

So every CPU case times :func:`python_loop` just before its timed rounds and
again after its last timed step, outside every timed measurement, and
records the mean of the two readings as ``host_speed_ms``. The loop is
plain Python on one thread: its speed is the core's (its clock, a busy
sibling on the host, the host's caches), and neither PyTorch's threads nor
their state touch it. The fixed torch workload of
:mod:`hellotorch.measuring.reference_workload` was tried first: after a
second of a training step, its readings in one quiet process spread 22 %
(CV 7.5 %) where this loop's spread 5.5 % (CV 1.5 %)
(``bench/host_speed_trial.py``; docs/trials.md, "The host's speed"). The
run's summary and ``compare`` show the readings
(:mod:`hellotorch.results.machines`). A reading is in units of this loop on
this Python: compare it across machines or Python versions only as a rough
guide.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

#: Five 4 ms blocks, the median of their per-call times (one interrupted block does not count).
BLOCKS = 5
BLOCK_SECONDS = 0.004
#: Untimed calls first, for at least this long and this many: the first calls after other work pay for the
#: switch (the pairs measured 10-20 ms of it, docs/trials.md).
WARM_SECONDS = 0.02
WARM_CALLS = 3
#: The loop's length: about 75 µs a call on this project's 2-core VM, so a block holds some 50 calls.
LOOP_ITERATIONS = 2000


def python_loop(_batch: object = None) -> int:
    """The fixed workload: integer arithmetic in a Python loop; no allocation beyond small ints, no threads."""
    total = 0
    for value in range(LOOP_ITERATIONS):
        total += value * value % 7
    return total


def _calls_for(step: Callable[[object], object], seconds: float, clock: Callable[[], float], at_least: int) -> float:
    """Call ``step`` for at least ``seconds`` and ``at_least`` times; the seconds per call."""
    calls, start = 0, clock()
    now = start
    while calls < at_least or now - start < seconds:
        step(None)
        calls += 1
        now = clock()
    return (now - start) / calls


def per_call_ms(
    step: Callable[[object], object] = python_loop,
    *,
    blocks: int = BLOCKS,
    block_seconds: float = BLOCK_SECONDS,
    warm_seconds: float = WARM_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Milliseconds per call of ``step``, after ``warm_seconds`` untimed: the median over ``blocks`` blocks."""
    _calls_for(step, warm_seconds, clock, at_least=WARM_CALLS)
    per_call = [_calls_for(step, block_seconds, clock, at_least=1) for _ in range(blocks)]
    return statistics.median(per_call) * 1e3


def read_host_speed() -> float:
    """One reading of the host's speed, in ms per call of :func:`python_loop`."""
    return per_call_ms(python_loop)
