"""Measurements around a bound step that pytest-benchmark does not make: compile time and the paired speedup.

pytest-benchmark times the steady rounds; this module measures what sits
beside them: compile time (first call minus a steady step, never inside
timed rounds) and the paired eager/compiled speedup, the two arms
interleaved in one process in blocks of about 10 ms (EC, CE, ...), each (by
default) after 20 ms of untimed steps; this holds where times swing by 10x.

The headline is **typical on a fit machine**: the median ratio of the pairs
measured while no other process took CPU
(:mod:`hellotorch.measuring.host_load`) and, on a multi-threaded CPU with a
precision target, the threads were in their fast state
(:mod:`hellotorch.measuring.thread_state`). Beside it the record keeps the
uncontended reading (``speedup_quiet``: the quietest tenth of those pairs,
which reads high) and the median over every pair. With a precision target
(``quick``, ``full``, profile files) pairs are added until the headline's
95 % distribution-free interval is within the target. A case that cannot
collect enough fit pairs within its wait budget is disturbed: its numbers
are recorded with their evidence and are not a result. docs/methodology.md
gives the measurements behind each choice.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import torch

from hellotorch.measuring.clock import synchronized_clock
from hellotorch.measuring.host_load import JUDGE_WINDOW_S, HostLoad, HostMonitor, HostSample, LoadTally
from hellotorch.measuring.pair_statistics import (
    MIN_QUIET_PAIRS,
    PairedSpeedup,
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


def block_steps(step_seconds: float, *, block_seconds: float = 0.01) -> int:
    """Steps per timed block: enough that a block lasts about ``block_seconds``."""
    return max(1, round(block_seconds / max(1e-6, step_seconds)))


WARM_SHARE = 0.25  #: untimed steps before each block, as a share of its timed steps (at least one)


def warm_steps(steps: int, *, step_seconds: float = 0.0, warm_seconds: float = 0.0) -> int:
    """Untimed steps that start a block of ``steps``: a quarter of them, and at least ``warm_seconds`` of steps.

    After the other arm ran, the first steps pay for the switch, for a time
    rather than a number of steps: with a quarter of 10 ms untimed the MLP
    read 1-1.5 % below PyTorch's timer, with 20 ms within 0.5 % (docs/methodology.md).
    """
    by_time = math.ceil(warm_seconds / step_seconds - 1e-6) if warm_seconds > 0 and step_seconds > 0 else 0
    return max(1, round(steps * WARM_SHARE), by_time)


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
    warm_seconds: float = 0.0,
    steps_per_block: int | None = None,
    target_ci: float | None = None,
    max_pairs: int | None = None,
    max_seconds: float | None = None,
    state: ThreadStateMonitor | None = None,
    state_wait_seconds: float = 0.0,
    host: HostMonitor | None = None,
    host_wait_seconds: float = 0.0,
    clock: Clock = synchronized_clock,
) -> PairedSpeedup:
    """Interleave blocks of eager and compiled steps; return the ratio's median, quartiles and interval.

    A neighbour's steady load hits both arms of a pair alike; the order
    alternates (EC, CE, ...) so a drift within a pair does not favour one
    arm. The headline is the median ratio of the pairs measured on a fit
    machine (typical, not best case); the quietest tenth of those is kept
    beside it (``quiet_median``, the uncontended reading). With
    ``target_ci``, pairs are added after the first ``pairs`` until that
    median's 95 % interval is within ``target_ci`` (a fraction) of it, up to
    ``max_pairs`` or ``max_seconds`` of pairs. Each block starts with
    :func:`warm_steps` (``warm_seconds`` of them at least), untimed.

    Two monitors leave pairs out, each probed before every round of two
    pairs: ``state`` (with ``target_ci``) the threads' slow state, and
    ``host`` the machine's load, a round during which other processes took
    CPU (:func:`hellotorch.measuring.host_load.contended`). Time left out
    does not count against ``max_seconds`` up to ``state_wait_seconds`` and
    ``host_wait_seconds``: the case keeps pairing while it waits. A case
    that never gets enough fit pairs (``pairs``, or ``MIN_QUIET_PAIRS`` with
    a target) because of contention is ``disturbed``: its numbers are read
    from all its pairs and are not a result.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be positive, got {pairs}")
    most = max(pairs, max_pairs or pairs) if target_ci else pairs
    state = state if target_ci else None
    arms = ((eager, eager_batch), (compiled, compiled_batch))
    eager_step = compiled_step = 0.0  # each arm's own warm-up: the arms' steps differ in length
    if steps_per_block is None or warm_seconds > 0:
        eager_step, compiled_step = (steady_step_seconds(s, b, clock=clock) for s, b in arms)
    steps = steps_per_block or block_steps(min(eager_step, compiled_step), block_seconds=block_seconds)
    eager_warm = warm_steps(steps, step_seconds=eager_step, warm_seconds=warm_seconds)
    compiled_warm = warm_steps(steps, step_seconds=compiled_step, warm_seconds=warm_seconds)

    def block(step: Step, batch: Batch, warm: int) -> float:
        for _ in range(warm):  # untimed: the first steps after the other arm pay for switching
            step(batch)
        start = clock()
        for _ in range(steps):
            step(batch)
        return (clock() - start) / steps

    ratios, eager_times, compiled_times = [], [], []
    #: probes[k] / samples[k]: the thread state and the machine's counters before round k (after round k - 1).
    probes: list[float | None] = []
    samples: list[HostSample | None] = []
    loads: dict[int, HostLoad | None] = {}
    started = clock()

    def round_load(round_index: int) -> HostLoad | None:
        """The machine's load around a round, judged over at least half a second (cached once complete)."""
        if round_index in loads:
            return loads[round_index]
        load, complete = host.around(samples, round_index, round_index + 1)
        if complete:
            loads[round_index] = load
        return load

    def contended(pair: int) -> bool:
        return host is not None and host.is_contended(round_load(pair // 2))

    def slow_state(pair: int) -> bool:
        return state is not None and _bracketing_probe_is_slow(state, probes, pair)

    def kept() -> list[int]:
        """The pairs measured in the fast state on a fit machine (every pair, without monitors)."""
        return [i for i in range(len(ratios)) if not slow_state(i) and not contended(i)]

    def seconds_of(pairs_out: list[int]) -> float:
        # Each block also ran its untimed steps: that time was spent in the state too.
        return sum(
            eager_times[i] * (steps + eager_warm) + compiled_times[i] * (steps + compiled_warm) for i in pairs_out
        )

    def excused_seconds() -> float:
        """Time left out that does not count against ``max_seconds``: each monitor's, up to its own budget."""
        slow = [i for i in range(len(ratios)) if slow_state(i)]
        busy = [i for i in range(len(ratios)) if contended(i) and not slow_state(i)]
        return min(seconds_of(slow), state_wait_seconds) + min(seconds_of(busy), host_wait_seconds if host else 0.0)

    def needed() -> int:
        return MIN_QUIET_PAIRS if target_ci else pairs

    def precise_enough() -> bool:
        if len(ratios) < pairs:
            return False
        fast = kept()
        if not target_ci:
            if len(fast) >= pairs or len(ratios) >= 20 * pairs:
                return True
            left_out = seconds_of([i for i in range(len(ratios)) if i not in set(fast)])
            return left_out >= (host_wait_seconds if host else 0.0)
        # Checked after whole EC+CE rounds, so neither order gets the last word.
        if len(ratios) % 2:
            return False
        if len(fast) >= most or len(ratios) >= 2 * most:
            return True
        if max_seconds is not None and clock() - started - excused_seconds() >= max_seconds:
            return True
        if len(fast) < pairs:
            return False
        return relative_half_width([eager_times[i] / compiled_times[i] for i in fast]) <= target_ci

    index = 0
    while True:
        if index % 2 == 0:
            if state is not None:
                probes.append(state.read())
            if host is not None:
                samples.append(host.read())
        if precise_enough():
            break
        if index % 2 == 0:
            eager_time = block(eager, eager_batch, eager_warm)
            compiled_time = block(compiled, compiled_batch, compiled_warm)
        else:
            compiled_time = block(compiled, compiled_batch, compiled_warm)
            eager_time = block(eager, eager_batch, eager_warm)
        ratios.append(eager_time / compiled_time)
        eager_times.append(eager_time)
        compiled_times.append(compiled_time)
        index += 1
    slow = [i for i in range(len(ratios)) if slow_state(i)]
    busy = [i for i in range(len(ratios)) if contended(i)]
    fit = kept()
    thread_state = "unprobed"
    if state is not None and any(value is not None for value in probes):
        thread_state = "fast" if len(fit) >= MIN_QUIET_PAIRS or len(slow) == 0 else "slow"
    disturbed = bool(busy) and len(fit) < min(needed(), len(ratios))
    chosen = fit if len(fit) >= min(needed(), len(ratios)) else list(range(len(ratios)))
    chosen_eager, chosen_compiled = [eager_times[i] for i in chosen], [compiled_times[i] for i in chosen]
    read = [eager_times[i] / compiled_times[i] for i in chosen]
    q1, median, q3 = quantiles(read)
    ci_low, ci_high = median_interval(read)
    tally = None
    if host is not None:
        tally = LoadTally()
        start = 0  # whole, non-overlapping windows of at least JUDGE_WINDOW_S (the last one may be shorter)
        for end in range(1, len(samples)):
            load = host.between(samples[start], samples[end])
            if load is not None and (load.seconds >= JUDGE_WINDOW_S or end == len(samples) - 1):
                tally.add(load, is_contended=host.is_contended(load))
                start = end
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
        slow_state_pairs=len(slow),
        thread_state=thread_state,
        quiet_median=statistics.median(quiet_ratios(chosen_eager, chosen_compiled)) if target_ci else math.nan,
        contended_pairs=len(busy),
        host=tally,
        disturbed=disturbed,
    )


def paired_speedup_as_planned(
    eager: Step,
    eager_batch: Batch,
    compiled: Step,
    compiled_batch: Batch,
    *,
    measurement: Measurement,
    state: ThreadStateMonitor | None = None,
    host: HostMonitor | None = None,
    host_wait_left: float | None = None,
    steps_per_block: int | None = None,
    clock: Clock = synchronized_clock,
) -> PairedSpeedup:
    """:func:`paired_speedup` with every pairing setting of a profile's :class:`~hellotorch.settings.Measurement`.

    The one place the settings are read for pairing (the suite, the reference workload, the ranks).
    """
    return paired_speedup(
        eager,
        eager_batch,
        compiled,
        compiled_batch,
        pairs=measurement.pairs,
        block_seconds=measurement.pair_block_seconds,
        warm_seconds=measurement.pair_warm_seconds,
        target_ci=measurement.speedup_ci,
        max_pairs=measurement.max_pairs,
        max_seconds=measurement.max_pair_seconds,
        state=state,
        state_wait_seconds=measurement.state_wait_seconds,
        host=host,
        host_wait_seconds=measurement.host_wait_seconds if host_wait_left is None else host_wait_left,
        steps_per_block=steps_per_block,
        clock=clock,
    )
