"""Timing a case where the host's thread state allows: rounds started in the fast state, and the step against a fixed reference.

:mod:`hellotorch.suite.measure_case` measures a case; this module holds the two
timings that depend on the host rather than on the case: pytest-benchmark's
rounds, begun once the CPU threads are in their fast state
(:class:`hellotorch.measuring.thread_state.ThreadStateMonitor`), and the step's time in
units of the fixed reference workload (:mod:`hellotorch.measuring.reference_workload`), which
an A/B compares across processes of different speed.
"""

from __future__ import annotations

from typing import Any

import torch

from hellotorch import record
from hellotorch.measuring.case_conditions import CaseConditions
from hellotorch.measuring.clock import synchronized_clock
from hellotorch.measuring.paired import paired_speedup_as_planned
from hellotorch.measuring.reference_workload import REFERENCE_VERSION, reference_step
from hellotorch.measuring.thread_state import ThreadStateMonitor
from hellotorch.profiles.cases import BenchCase, Profile
from hellotorch.training.loops import TrainingSetup


def _busy(setup: TrainingSetup, *, seconds: float = 0.05) -> None:
    """Steps of the case for about ``seconds``: the threads stay at the work while the case waits."""
    started = synchronized_clock()
    while synchronized_clock() - started < seconds:
        setup.step(setup.batch)


def timed_rounds(
    setup: TrainingSetup,
    benchmark: Any,
    *,
    state: ThreadStateMonitor | None,
    profile: Profile,
    conditions: CaseConditions | None = None,
) -> torch.Tensor:
    """pytest-benchmark's rounds, started in the threads' fast state where the profile waits for it.

    The rounds of a case last about ``max_time`` (0.5 s), far shorter than
    the state (10-70 s here), so they fall in one state or the other whole:
    a compiled step time 1.8x, an eager one 1.4x, in the slow state. The
    state around them is recorded either way, and so is the machine's load
    (``conditions``): rounds cannot be redone, so contended rounds make the
    case disturbed.
    """

    def rounds() -> torch.Tensor:
        if conditions is None:
            return benchmark(setup.step, setup.batch)
        return conditions.around_rounds(lambda: benchmark(setup.step, setup.batch))

    wait = profile.measurement.state_wait_seconds
    if state is None or not wait:
        return rounds()
    waited, fast_before = state.wait_until_fast(lambda: _busy(setup), max_seconds=wait)
    loss = rounds()
    after = state.read()
    if after is None:
        rounds_state = "unprobed"
    else:
        rounds_state = "fast" if fast_before and not state.is_slow(after) else "slow"
    benchmark.extra_info.update(record.fields(rounds_state_wait_s=waited, rounds_thread_state=rounds_state))
    return loss


def against_reference(
    case: BenchCase, setup: TrainingSetup, *, profile: Profile, state: ThreadStateMonitor | None
) -> dict[str, Any]:
    """The step's time over the fixed reference workload's, in interleaved pairs (as the paired speedup is).

    ``state`` is the CPU threads' monitor, None off the CPU. Both arms run
    the faster one's step count per block, as in the paired speedup: sizing
    each arm's block on its own (10 ms each) was measured and spread the
    value 2.2-2.8x more (docs/methodology.md). The threads' state of the
    pairs and the value's interval are recorded beside it, so a process
    that never left the slow state can be told apart.
    """
    against = paired_speedup_as_planned(
        setup.step, setup.batch, reference_step(case.device), None, measurement=profile.measurement, state=state
    )
    return record.fields(
        step_per_reference=against.median,
        step_per_reference_pairs=against.pairs,
        step_per_reference_ci_low=against.ci_low,
        step_per_reference_ci_high=against.ci_high,
        reference_thread_state=against.thread_state,
        reference_slow_state_pairs=against.slow_state_pairs,
        reference_version=REFERENCE_VERSION,
    )
