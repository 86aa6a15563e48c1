"""The machine's load, read from fake counters: when a case is contended, waited on, or disturbed. No timing."""

import math

import pytest

from hellotorch.measuring.host_load import (
    OTHERS_CORES_LIMIT,
    HostLoad,
    HostMonitor,
    HostSample,
    contended,
    load_between,
    read_sample,
)
from hellotorch.measuring.paired import paired_speedup

from .test_measure import FakeClock


def _sample(wall, busy, own=0.0, steal=0.0, running=1, load1=0.1):
    return HostSample(wall_s=wall, busy_s=busy, steal_s=steal, own_s=own, procs_running=running, load1=load1)


def test_others_cpu_is_the_machines_busy_time_less_this_processs_own():
    load = load_between(_sample(0, 10.0, own=1.0), _sample(2, 13.0, own=2.5), cores=2)
    assert load.others_cores == pytest.approx(0.75)  # 3 s busy, 1.5 s ours, over 2 s
    assert not contended(load, others_limit=1.0) and contended(load, others_limit=0.5)
    assert load_between(_sample(0, 0), _sample(0.01, 0), cores=2) is None  # too short to say


def test_steal_and_runnable_tasks_are_evidence_too():
    load = load_between(_sample(0, 0, steal=0, running=1), _sample(1, 0.1, steal=0.3, running=5), cores=2)
    assert load.steal_fraction == pytest.approx(0.15) and contended(load)
    assert "5 runnable tasks on 2 cores" in load.describe() and "15% stolen" in load.describe()


def test_proc_stat_is_parsed_and_an_unreadable_one_gives_none(tmp_path):
    stat, loadavg = tmp_path / "stat", tmp_path / "loadavg"
    stat.write_text("cpu  100 5 20 900 3 1 2 7 0 0\ncpu0 1 2 3 4\nprocs_running 3\nprocs_blocked 0\n")
    loadavg.write_text("1.50 0.80 0.60 3/200 1234\n")
    sample = read_sample(stat=stat, loadavg=loadavg)
    assert sample.procs_running == 3 and sample.load1 == 1.5
    ticks = sample.busy_s / (100 + 5 + 20 + 1 + 2)
    assert sample.steal_s == pytest.approx(7 * ticks)
    assert read_sample(stat=tmp_path / "none", loadavg=loadavg) is None
    stat.write_text("garbage\n")
    assert read_sample(stat=stat, loadavg=loadavg) is None


class FakeMachine:
    """Counters that move with a fake clock: others take ``others(t)`` cores at time t (own CPU is never counted)."""

    def __init__(self, clock, others):
        self.clock, self.others, self.busy, self.last = clock, others, 0.0, 0.0

    def read(self):
        now = self.clock.now
        # integrate the others' load since the last reading, in small steps
        t = self.last
        while t < now:
            step = min(0.01, now - t)
            self.busy += self.others(t) * step
            t += step
        self.last = now
        return _sample(now, self.busy, running=1 + round(self.others(now)))

    def sleep(self, seconds):
        self.clock.now += seconds


def test_a_case_waits_for_a_busy_machine_to_clear_and_then_is_fit():
    clock = FakeClock()
    machine = FakeMachine(clock, lambda t: 1.0 if t < 3.0 else 0.0)
    monitor = HostMonitor(read=machine.read, sleep=machine.sleep, cores=2)
    fit, waited, load = monitor.wait_until_fit(max_seconds=30)
    assert fit and 2.0 <= waited <= 5.0 and load.others_cores < OTHERS_CORES_LIMIT


def test_a_machine_that_never_clears_is_not_fit_after_the_budget():
    clock = FakeClock()
    machine = FakeMachine(clock, lambda t: 1.5)
    monitor = HostMonitor(read=machine.read, sleep=machine.sleep, cores=2)
    fit, waited, load = monitor.wait_until_fit(max_seconds=5)
    assert not fit and waited >= 5 and load.others_cores == pytest.approx(1.5)


def test_an_unreadable_machine_is_fit_and_unprobed():
    monitor = HostMonitor(read=lambda: None, sleep=lambda s: None, cores=2)
    assert monitor.wait_until_fit(max_seconds=5) == (True, 0.0, None)


class LoadedSteps:
    """Eager 2 ms, compiled 1 ms; while the machine is loaded the compiled step slows most (ratio 1.0)."""

    def __init__(self, clock, loaded):
        self.clock, self.loaded = clock, loaded

    def eager(self, batch):
        self.clock.now += 0.002 * (1.5 if self.loaded(self.clock.now) else 1.0)

    def compiled(self, batch):
        self.clock.now += 0.001 * (3.0 if self.loaded(self.clock.now) else 1.0)


def _measure(loaded, **overrides):
    clock = FakeClock()
    machine = FakeMachine(clock, lambda t: 1.0 if loaded(t) else 0.0)
    steps = LoadedSteps(clock, loaded)
    host = HostMonitor(read=machine.read, sleep=machine.sleep, cores=2)
    settings = dict(pairs=20, target_ci=0.01, max_pairs=400, max_seconds=2.0, host=host, host_wait_seconds=10.0)
    return paired_speedup(steps.eager, None, steps.compiled, None, clock=clock, **{**settings, **overrides})


def test_pairs_measured_during_a_burst_are_left_out_and_the_speedup_is_the_quiet_machines():
    result = _measure(lambda t: 0.3 <= t < 1.3)  # a one-second burst early in the case
    assert result.median == pytest.approx(2.0) and not result.disturbed
    assert result.contended_pairs > 10 and result.pairs - result.contended_pairs >= 20
    assert result.host.contended > 0 and result.host.runnable_max == 2
    assert result.as_fields()["host_contended_pairs"] == result.contended_pairs


def test_a_machine_busy_the_whole_case_makes_it_disturbed_never_a_confident_number():
    result = _measure(lambda t: True)
    assert result.disturbed and result.contended_pairs == result.pairs
    assert result.median == pytest.approx(1.0)  # what the load made of it: recorded, but not a result
    assert result.host.others_cores == pytest.approx(1.0, abs=0.05)


def test_a_fixed_count_of_pairs_is_made_up_after_a_burst():
    result = _measure(lambda t: t < 0.5, target_ci=None, pairs=10)
    assert result.median == pytest.approx(2.0) and not result.disturbed
    assert result.pairs - result.contended_pairs >= 10


def test_a_quiet_machine_changes_nothing():
    result = _measure(lambda t: False)
    assert result.median == pytest.approx(2.0) and result.contended_pairs == 0 and not result.disturbed
    assert math.isfinite(result.quiet_median)


def test_describe_names_the_evidence():
    load = HostLoad(seconds=1, others_cores=1.2, steal_fraction=0, runnable=5, load1=4.2, cores=2)
    assert load.describe() == "others used 1.20 of 2 cores, 5 runnable tasks on 2 cores"
