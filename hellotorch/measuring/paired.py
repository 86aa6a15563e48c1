"""Measurements around a bound step that pytest-benchmark does not make.

pytest-benchmark times the steady-state rounds; this module measures what
sits beside them in time: compile time (first call minus a steady step, never
inside timed rounds) and the paired eager/compiled speedup (the two arms
interleaved in one process, the number that holds on a noisy machine). FLOPs
and peak memory are :mod:`hellotorch.measuring.flops_memory`'s. All clocks are
:func:`hellotorch.measuring.clock.synchronized_clock`.

With a precision target (``target_ci``, the ``quick`` and ``full``
profiles), the paired speedup is read from the *quiet* pairs and stops when
it is precise enough rather than after a fixed count:

- **Quiet pairs.** A neighbour's burst adds about the same time to both
  blocks of a pair, which pulls their ratio toward 1 (``(E+d)/(C+d)``); the
  median over all pairs is therefore biased by the machine's load, and
  varies with it from run to run. Each pair's disturbance is measured
  (each arm's time over that arm's median, summed) and the speedup is the
  median ratio of the least disturbed ``QUIET_FRACTION`` of the pairs
  (at least ``MIN_QUIET_PAIRS``). The all-pairs median is kept beside it.
- **Adaptive.** After ``pairs`` pairs, pairs are added until the 95 %
  confidence interval of that median (distribution-free, from the order
  statistics: :func:`median_interval`) is within ``target_ci`` of it, or
  ``max_pairs`` / ``max_seconds`` is reached.
- **Fast-state pairs.** On a CPU with more than one thread the threads'
  state is probed between rounds (:class:`hellotorch.measuring.thread_state.ThreadStateMonitor`);
  pairs measured in the slow state, where a compiled step of small kernels
  runs up to 1.8x slower and its eager twin 1.4x, are left out, and a case
  that meets that state waits it out (``state_wait_seconds``) while pairing.

docs/methodology.md has the measurements behind both.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch

from hellotorch import record
from hellotorch.measuring.clock import synchronized_clock
from hellotorch.measuring.pair_statistics import (
    MIN_QUIET_PAIRS,
    median_interval,
    quantiles,
    quiet_ratios,
    relative_half_width,
)
from hellotorch.measuring.thread_state import ThreadStateMonitor
from hellotorch.models import Batch
from hellotorch.settings import Measurement

Step = Callable[[Batch], torch.Tensor]
Clock = Callable[[], float]


def time_call(step: Step, batch: Batch, *, clock: Clock = synchronized_clock) -> tuple[float, torch.Tensor]:
    start = clock()
    loss = step(batch)
    return clock() - start, loss


def steady_step_seconds(step: Step, batch: Batch, *, repeats: int = 5, clock: Clock = synchronized_clock) -> float:
    """Median of ``repeats`` single-step timings (after warm-up)."""
    return statistics.median(time_call(step, batch, clock=clock)[0] for _ in range(repeats))


@dataclass(frozen=True)
class PairedSpeedup:
    """eager time / compiled time, over interleaved blocks of steps."""

    median: float
    q1: float
    q3: float
    pairs: int
    steps_per_block: int
    eager_ms: float
    compiled_ms: float
    #: the 95 % confidence interval of the median ratio.
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    #: the median ratio over every pair (equal to ``median`` unless read from the quiet pairs).
    all_pairs_median: float = float("nan")
    #: pairs left out because a probe around them read the threads' slow state.
    slow_state_pairs: int = 0
    #: "fast": read from fast-state pairs; "slow": too few of those, read from all; "unprobed": no monitor.
    thread_state: str = "unprobed"

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_fields(self) -> dict[str, float | int]:
        """This measurement as the declared record fields (:mod:`hellotorch.record`)."""
        return record.fields(
            speedup=self.median,
            speedup_q1=self.q1,
            speedup_q3=self.q3,
            speedup_pairs=self.pairs,
            speedup_steps_per_block=self.steps_per_block,
            paired_eager_ms=self.eager_ms,
            paired_compiled_ms=self.compiled_ms,
            speedup_ci_low=self.ci_low,
            speedup_ci_high=self.ci_high,
            speedup_all_pairs=self.all_pairs_median,
            speedup_slow_state_pairs=self.slow_state_pairs,
            thread_state=self.thread_state,
        )


def block_steps(step_seconds: float, *, block_seconds: float = 0.01) -> int:
    """Steps per timed block: enough that a block lasts about ``block_seconds``."""
    return max(1, round(block_seconds / max(1e-6, step_seconds)))


def _bracketing_probe_is_slow(state: ThreadStateMonitor, probes: list[float | None], pair: int) -> bool:
    """Whether the probe before or after ``pair``'s round (two pairs, EC then CE) reads the slow state."""
    return any(state.is_slow(value) for value in probes[pair // 2 : pair // 2 + 2])


def paired_speedup(
    eager: Step,
    eager_batch: Batch,
    compiled: Step,
    compiled_batch: Batch,
    *,
    pairs: int,
    block_seconds: float = 0.01,
    steps_per_block: int | None = None,
    target_ci: float | None = None,
    max_pairs: int | None = None,
    max_seconds: float | None = None,
    state: ThreadStateMonitor | None = None,
    state_wait_seconds: float = 0.0,
    clock: Clock = synchronized_clock,
) -> PairedSpeedup:
    """Interleave blocks of eager and compiled steps; return the ratio's quartiles and its median's interval.

    A neighbour's load hits both arms of a pair alike, so the ratio holds
    where absolute times swing by 10x. The order alternates (EC, CE, ...)
    so a drift within a pair does not favour one arm. With ``target_ci``,
    the speedup is the median ratio of the quiet pairs (:func:`quiet_ratios`),
    and pairs are added after the first ``pairs`` until that median's 95 %
    interval is within ``target_ci`` (a fraction) of it, up to ``max_pairs``
    or ``max_seconds`` of pairs.

    With ``target_ci`` and a ``state`` monitor, the threads' state is probed
    before every round of two pairs, and a pair whose round is bracketed by a
    slow-state probe is left out: the speedup is read from the fast-state
    pairs only. Time spent in the slow state, up to ``state_wait_seconds``,
    does not count against ``max_seconds``: the case waits it out while it
    keeps pairing. A case that never gets ``MIN_QUIET_PAIRS`` fast-state
    pairs is read from all its pairs and says so (``thread_state`` "slow").
    """
    if pairs < 1:
        raise ValueError(f"pairs must be positive, got {pairs}")
    most = max(pairs, max_pairs or pairs) if target_ci else pairs
    state = state if target_ci else None
    steps = steps_per_block or block_steps(
        min(
            steady_step_seconds(eager, eager_batch, clock=clock),
            steady_step_seconds(compiled, compiled_batch, clock=clock),
        ),
        block_seconds=block_seconds,
    )

    def block(step: Step, batch: Batch) -> float:
        start = clock()
        for _ in range(steps):
            step(batch)
        return (clock() - start) / steps

    ratios, eager_times, compiled_times = [], [], []
    #: probes[k]: the state before round k, which is also after round k - 1.
    probes: list[float | None] = []
    started = clock()

    def kept() -> list[int]:
        """The pairs measured in the fast state (every pair, without a monitor)."""
        if state is None:
            return list(range(len(ratios)))
        return [i for i in range(len(ratios)) if not _bracketing_probe_is_slow(state, probes, i)]

    def slow_seconds(fast: list[int]) -> float:
        fast_set = set(fast)
        return sum((eager_times[i] + compiled_times[i]) * steps for i in range(len(ratios)) if i not in fast_set)

    def precise_enough() -> bool:
        if len(ratios) < pairs:
            return False
        if not target_ci:
            return True
        # Checked after whole EC+CE rounds, so neither order gets the last word.
        if len(ratios) % 2:
            return False
        fast = kept()
        if len(fast) >= most or len(ratios) >= 2 * most:
            return True
        if max_seconds is not None:
            excused = min(slow_seconds(fast), state_wait_seconds)
            if clock() - started - excused >= max_seconds:
                return True
        if len(fast) < pairs:
            return False
        subset = [eager_times[i] for i in fast], [compiled_times[i] for i in fast]
        return relative_half_width(quiet_ratios(*subset)) <= target_ci

    index = 0
    while True:
        if index % 2 == 0 and state is not None:
            probes.append(state.read())
        if precise_enough():
            break
        if index % 2 == 0:
            eager_time = block(eager, eager_batch)
            compiled_time = block(compiled, compiled_batch)
        else:
            compiled_time = block(compiled, compiled_batch)
            eager_time = block(eager, eager_batch)
        ratios.append(eager_time / compiled_time)
        eager_times.append(eager_time)
        compiled_times.append(compiled_time)
        index += 1
    fast = kept()
    thread_state = "unprobed"
    if state is not None and any(value is not None for value in probes):
        thread_state = "fast" if len(fast) >= MIN_QUIET_PAIRS else "slow"
    chosen = fast if len(fast) >= MIN_QUIET_PAIRS else list(range(len(ratios)))
    chosen_eager, chosen_compiled = [eager_times[i] for i in chosen], [compiled_times[i] for i in chosen]
    read = quiet_ratios(chosen_eager, chosen_compiled) if target_ci else ratios
    q1, median, q3 = quantiles(read)
    ci_low, ci_high = median_interval(read)
    return PairedSpeedup(
        median=median,
        q1=q1,
        q3=q3,
        pairs=len(ratios),
        steps_per_block=steps,
        eager_ms=statistics.median(chosen_eager) * 1e3,
        compiled_ms=statistics.median(chosen_compiled) * 1e3,
        ci_low=ci_low,
        ci_high=ci_high,
        all_pairs_median=statistics.median(ratios),
        slow_state_pairs=len(ratios) - len(fast),
        thread_state=thread_state,
    )


def paired_speedup_as_planned(
    eager: Step,
    eager_batch: Batch,
    compiled: Step,
    compiled_batch: Batch,
    *,
    measurement: Measurement,
    state: ThreadStateMonitor | None = None,
    steps_per_block: int | None = None,
    clock: Clock = synchronized_clock,
) -> PairedSpeedup:
    """:func:`paired_speedup` with every pairing setting of a profile's :class:`~hellotorch.settings.Measurement`.

    The one place the settings are read for pairing: the suite, the reference
    workload and the distributed ranks all call this, so none can leave one out.
    """
    return paired_speedup(
        eager,
        eager_batch,
        compiled,
        compiled_batch,
        pairs=measurement.pairs,
        target_ci=measurement.speedup_ci,
        max_pairs=measurement.max_pairs,
        max_seconds=measurement.max_pair_seconds,
        state=state,
        state_wait_seconds=measurement.state_wait_seconds,
        steps_per_block=steps_per_block,
        clock=clock,
    )
