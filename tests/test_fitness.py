"""``hellotorch env --check`` on fake counters: busy processes are named, the load decides the verdict."""

from hellotorch.measuring.fitness import busy_processes, check_machine, is_fit
from hellotorch.measuring.host_load import HostMonitor, HostSample


class FakeCounters:
    def __init__(self, others_cores, running=1):
        self.now, self.busy, self.others, self.running = 0.0, 0.0, others_cores, running

    def read(self):
        return HostSample(self.now, self.busy, 0.0, 0.0, self.running, 0.5)

    def sleep(self, seconds):
        self.now += seconds
        self.busy += self.others * seconds


def _processes(busy_cores):
    readings = iter([{1: ("init", 1.0), 42: ("spinner", 10.0)}, {1: ("init", 1.0), 42: ("spinner", 10.0 + busy_cores)}])
    return lambda: next(readings)


def _check(others, running=1, busy_cores=0.0, environ=None):
    counters = FakeCounters(others, running)
    monitor = HostMonitor(read=counters.read, sleep=counters.sleep, cores=2)
    return check_machine(window_s=1.0, monitor=monitor, processes=_processes(busy_cores), environ=environ or {})


def test_a_quiet_machine_is_fit_whatever_the_advice():
    checks = _check(0.01)
    assert is_fit(checks)
    assert not next(c for c in checks if c.name == "thread binding").ok  # advice, not the verdict


def test_a_busy_machine_is_not_fit_and_names_the_busy_process():
    checks = _check(1.0, running=3, busy_cores=1.0)
    assert not is_fit(checks)
    load = next(c for c in checks if c.name == "load")
    assert not load.ok and "spinner (pid 42, 1.00 cores)" in load.seen
    assert "--threads 1" in load.advice  # what to do when the other work cannot stop
    assert not next(c for c in checks if c.name == "runnable tasks").ok


def test_bound_threads_satisfy_the_binding_advice():
    checks = _check(0.0, environ={"HELLOTORCH_BIND_THREADS": "1"})
    assert next(c for c in checks if c.name == "thread binding").ok


def test_busy_processes_leave_out_this_process_the_idle_and_the_new():
    import os

    before = {os.getpid(): ("me", 0.0), 7: ("idle", 5.0), 8: ("busy", 1.0)}
    after = {os.getpid(): ("me", 9.0), 7: ("idle", 5.01), 8: ("busy", 2.6), 9: ("new", 3.0)}
    assert busy_processes(before, after, 2.0) == [("busy", 8, 0.8)]
