"""The paired speedup, the headline number, on fake steps with a clock of known cost."""

import math
import random
import statistics

import pytest
import torch

from hellotorch.measuring.pair_statistics import quantiles, quiet_ratios
from hellotorch.measuring.paired import paired_speedup, warm_steps
from hellotorch.measuring.thread_state import ThreadStateMonitor, parallel_region_us


class FakeClock:
    """A clock that only moves when a fake step says it took time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_step(clock, seconds, calls):
    def step(batch):
        calls.append(seconds)
        clock.now += seconds(len(calls)) if callable(seconds) else seconds
        return None

    return step


def test_a_compiled_step_twice_as_fast_gives_exactly_2():
    clock, calls = FakeClock(), []
    eager, compiled = fake_step(clock, 0.002, calls), fake_step(clock, 0.001, calls)
    result = paired_speedup(eager, None, compiled, None, pairs=9, clock=clock)
    assert result.median == pytest.approx(2.0) and result.q1 == pytest.approx(2.0) and result.q3 == pytest.approx(2.0)
    assert result.eager_ms == pytest.approx(2.0) and result.compiled_ms == pytest.approx(1.0)
    assert result.pairs == 9 and result.steps_per_block == 10  # 10 ms blocks of the faster (1 ms) step


def test_swapped_arms_give_the_inverse():
    clock, calls = FakeClock(), []
    result = paired_speedup(
        fake_step(clock, 0.001, calls), None, fake_step(clock, 0.002, calls), None, pairs=4, clock=clock
    )
    assert result.median == pytest.approx(0.5)


def test_quartiles_come_from_the_pairwise_ratios():
    clock = FakeClock()
    # Eager costs 3 ms; compiled alternates between 1 ms and 2 ms per block (a drifting neighbour).
    blocks = {"compiled": 0}

    def eager(batch):
        clock.now += 0.003

    def compiled(batch):
        clock.now += 0.001 if (blocks["compiled"] // 3) % 2 == 0 else 0.002
        blocks["compiled"] += 1

    result = paired_speedup(eager, None, compiled, None, pairs=8, clock=clock, block_seconds=0.003)
    assert 1.5 <= result.q1 <= result.median <= result.q3 <= 3.0
    assert result.q1 < result.q3  # the spread shows


def test_the_arms_alternate_order_so_drift_favours_neither():
    clock, order = FakeClock(), []

    def step(name):
        def run(batch):
            order.append(name)
            clock.now += 0.001

        return run

    paired_speedup(step("e"), None, step("c"), None, pairs=4, clock=clock, block_seconds=0.001)
    blocks = order[10:]  # after the 5 + 5 steady-step probes; each block: one untimed step, then the timed one
    assert blocks[0::2] == blocks[1::2] == ["e", "c", "c", "e", "e", "c", "c", "e"]


@pytest.mark.parametrize(("steps", "warm"), [(1, 1), (4, 1), (10, 2), (12, 3), (40, 10)])
def test_a_quarter_of_each_block_runs_untimed_first(steps, warm):
    assert warm_steps(steps) == warm
    clock, order = FakeClock(), []

    def run(batch):
        order.append(clock.now)
        clock.now += 0.001

    paired_speedup(run, None, run, None, pairs=2, clock=clock, steps_per_block=steps)
    assert len(order) == 2 * 2 * (steps + warm)  # two pairs, each of two blocks


@pytest.mark.parametrize(
    ("steps", "step_ms", "warm"), [(10, 1.0, 20), (10, 1.5, 14), (2, 5.0, 4), (1, 25.0, 1), (100, 0.1, 200)]
)
def test_each_arm_runs_at_least_warm_seconds_untimed(steps, step_ms, warm):
    assert warm_steps(steps, step_seconds=step_ms / 1e3, warm_seconds=0.02) == warm
    assert warm_steps(steps, step_seconds=step_ms / 1e3, warm_seconds=0.0) == max(1, round(steps / 4))


def test_the_slower_arm_gets_fewer_untimed_steps_for_the_same_time():
    clock, calls = FakeClock(), []
    # Eager 2 ms, compiled 1 ms: 10-step blocks (of the faster), 20 ms untimed = 10 eager or 20 compiled steps.
    paired_speedup(
        fake_step(clock, 0.002, calls),
        None,
        fake_step(clock, 0.001, calls),
        None,
        pairs=2,
        clock=clock,
        warm_seconds=0.02,
    )
    after_probes = calls[10:]  # 5 + 5 steady-step probes
    assert after_probes.count(0.002) == 2 * (10 + 10) and after_probes.count(0.001) == 2 * (10 + 20)


def test_quantiles_of_one_value_and_of_many():
    assert quantiles([2.0]) == (2.0, 2.0, 2.0)
    assert quantiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)


def test_no_pairs_is_refused():
    clock = FakeClock()
    with pytest.raises(ValueError, match="pairs must be positive"):
        paired_speedup(lambda b: None, None, lambda b: None, None, pairs=0, clock=clock)


def test_the_quiet_pairs_give_the_undisturbed_ratio_where_the_all_pairs_median_is_pulled_toward_1():
    # True cost: eager 3 ms, compiled 1 ms (3x). Most pairs carry a 4 ms burst on both blocks.
    eager_times, compiled_times = [], []
    for index in range(200):
        burst = 0.0 if index % 10 == 0 else 0.004 * (1 + (index % 7) / 7)
        eager_times.append(0.003 + burst)
        compiled_times.append(0.001 + burst)
    quiet = quiet_ratios(eager_times, compiled_times)
    assert len(quiet) == 20 and statistics.median(quiet) == pytest.approx(3.0)
    assert statistics.median(e / c for e, c in zip(eager_times, compiled_times)) < 1.6


def test_an_adaptive_speedup_stops_once_precise_and_keeps_the_all_pairs_median():
    clock, calls = FakeClock(), []
    eager, compiled = fake_step(clock, 0.002, calls), fake_step(clock, 0.001, calls)
    result = paired_speedup(eager, None, compiled, None, pairs=20, target_ci=0.01, max_pairs=400, clock=clock)
    assert result.pairs == 20  # no spread: precise at the first check
    assert result.median == pytest.approx(2.0) and result.all_pairs_median == pytest.approx(2.0)
    assert result.ci_low == pytest.approx(2.0) and result.ci_high == pytest.approx(2.0)


def test_an_adaptive_speedup_that_never_gets_precise_stops_at_its_caps():
    clock, calls = FakeClock(), []

    noise = random.Random(0)

    def wobbly(batch):  # 1-3 ms at random: the interval never narrows to 0.1 %
        clock.now += noise.uniform(0.001, 0.003)

    eager = fake_step(clock, 0.002, calls)
    result = paired_speedup(eager, None, wobbly, None, pairs=20, target_ci=0.001, max_pairs=60, clock=clock)
    assert result.pairs == 60
    timed = paired_speedup(
        eager, None, wobbly, None, pairs=20, target_ci=0.001, max_pairs=10**6, max_seconds=1.0, clock=clock
    )
    assert 20 <= timed.pairs < 10**6


def test_parallel_region_probe_is_the_fastest_block_per_call():
    # Blocks of 10 calls taking 80, 50 and 90 us in all: the probe reads the fastest, 5 us a call.
    ticks = iter([0.0, 80e-6, 1.0, 1.0 + 50e-6, 2.0, 2.0 + 90e-6])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert parallel_region_us(calls=10, repeats=3, clock=lambda: next(ticks)) == pytest.approx(5.0)
    finally:
        torch.set_num_threads(threads)


def test_parallel_region_probe_is_none_with_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert parallel_region_us() is None
    finally:
        torch.set_num_threads(threads)


class SwitchingHost:
    """A fake host whose threads' state follows a schedule of probes: each probe moves to the next state.

    In the slow state the compiled step costs 1.8x and the eager step 1.4x, as measured on this
    project's VM, so the ratio itself moves (2.0x fast, about 1.56x slow).
    """

    FAST_US, SLOW_US = 4.5, 7.0

    def __init__(self, clock, schedule):
        self.clock, self.schedule, self.slow, self.probes = clock, schedule, False, 0

    def probe(self):
        self.slow = self.schedule(self.probes)
        self.probes += 1
        return self.SLOW_US if self.slow else self.FAST_US

    def eager(self, batch):
        self.clock.now += 0.002 * (1.4 if self.slow else 1.0)

    def compiled(self, batch):
        self.clock.now += 0.001 * (1.8 if self.slow else 1.0)


def _adaptive(host, clock, **overrides):
    settings = dict(pairs=20, target_ci=0.01, max_pairs=400, max_seconds=2.0, clock=clock)
    return paired_speedup(host.eager, None, host.compiled, None, **{**settings, **overrides})


def test_a_monitor_takes_the_fastest_probe_as_the_fast_level_and_flags_what_is_well_above_it():
    readings = iter([6.8, 4.4, 7.0, None])
    monitor = ThreadStateMonitor(probe=lambda: next(readings))
    assert monitor.read() == 6.8 and not monitor.is_slow(6.8)  # nothing faster seen yet
    monitor.read()
    assert monitor.fastest_us == 4.4 and monitor.is_slow(6.8) and not monitor.is_slow(5.0)
    assert monitor.read() == 7.0 and monitor.fastest_us == 4.4
    assert monitor.read() is None and not monitor.is_slow(None)  # one thread: no state to read


def test_pairs_in_the_slow_state_are_left_out_of_the_speedup():
    clock = FakeClock()
    # Fast for the first 3 probes, then slow for 20, then fast: a slow spell in the middle of the case.
    host = SwitchingHost(clock, lambda probe: 3 <= probe < 23)
    monitor = ThreadStateMonitor(probe=host.probe)
    result = _adaptive(host, clock, state=monitor, state_wait_seconds=30.0)
    assert result.median == pytest.approx(2.0) and result.thread_state == "fast"
    assert result.eager_ms == pytest.approx(2.0) and result.compiled_ms == pytest.approx(1.0)
    # The rounds bracketed by a slow probe (2 pairs each) are out; the all-pairs median shows the mix.
    assert result.slow_state_pairs >= 40 and result.pairs - result.slow_state_pairs >= 20
    assert result.all_pairs_median < 2.0


def test_without_a_monitor_the_slow_spell_pulls_the_speedup_down():
    clock = FakeClock()
    host = SwitchingHost(clock, schedule=None)
    host.slow = True  # every step in the slow state, and nothing probes it
    result = _adaptive(host, clock)
    assert result.median == pytest.approx(0.0028 / 0.0018) and result.thread_state == "unprobed"


def test_a_case_waits_out_the_slow_state_without_it_counting_against_its_time_cap():
    clock = FakeClock()
    host = SwitchingHost(clock, lambda probe: 1 <= probe < 90)  # about 3 s of fake time in the slow state
    result = _adaptive(
        host, clock, max_seconds=1.0, state=ThreadStateMonitor(probe=host.probe), state_wait_seconds=30.0
    )
    assert result.thread_state == "fast" and result.median == pytest.approx(2.0)
    assert clock.now > 3.0  # it waited past its 1 s cap for the fast state


def test_a_case_that_never_leaves_the_slow_state_gives_up_after_its_wait_and_says_so():
    clock = FakeClock()
    host = SwitchingHost(clock, lambda probe: probe >= 1)  # one fast probe, then slow for good
    result = _adaptive(host, clock, max_seconds=1.0, state=ThreadStateMonitor(probe=host.probe), state_wait_seconds=2.0)
    assert result.thread_state == "slow" and result.slow_state_pairs == result.pairs
    assert result.median == pytest.approx(0.0028 / 0.0018)  # read from all pairs: the slow state's ratio
    assert clock.now < 1.0 + 2.0 + 0.5  # its time cap plus the wait, plus the last round and the warm-up


def test_without_a_precision_target_the_monitor_is_not_used():
    clock, probes = FakeClock(), []
    eager, compiled = fake_step(clock, 0.002, []), fake_step(clock, 0.001, [])
    result = paired_speedup(
        eager,
        None,
        compiled,
        None,
        pairs=6,
        clock=clock,
        state=ThreadStateMonitor(probe=lambda: probes.append(1) or 5.0),
    )
    assert probes == [] and result.thread_state == "unprobed" and result.pairs == 6


def test_waiting_for_the_fast_state_keeps_the_threads_busy_until_a_probe_reads_it():
    clock, busy = FakeClock(), []
    readings = iter([4.5, 7.0, 6.9, 4.6])  # the reference, then two slow probes, then fast

    def keep_busy():
        busy.append(clock.now)
        clock.now += 0.05

    monitor = ThreadStateMonitor(probe=lambda: next(readings))
    monitor.read()
    waited, fast = monitor.wait_until_fast(keep_busy, max_seconds=10.0, clock=clock)
    assert fast and len(busy) == 2 and waited == pytest.approx(0.1)


def test_waiting_for_the_fast_state_gives_up_after_its_budget():
    clock = FakeClock()
    monitor = ThreadStateMonitor(probe=lambda: 7.0)
    monitor.fastest_us = 4.5  # seen earlier in the process

    def keep_busy():
        clock.now += 0.05

    waited, fast = monitor.wait_until_fast(keep_busy, max_seconds=1.0, clock=clock)
    assert not fast and 1.0 <= waited < 1.1


def test_the_reference_workload_is_the_same_in_every_process_and_ignores_its_batch():
    from hellotorch.measuring.reference_workload import reference_step

    first, second = reference_step(), reference_step()
    loss = first(None)
    assert torch.equal(loss, second("any batch")) and math.isfinite(loss.item())
    assert torch.equal(first(None), loss)  # no state carried from one call to the next (no optimizer, grads cleared)
