"""The compile_benchmark fixture's measurement: the suite's parity and host checks applied to a user's own pieces."""

import time

import pytest
import torch
from torch import nn

from hellotorch.measuring.host_load import HostMonitor, HostSample
from hellotorch.parity.arms import draws_random_numbers
from hellotorch.suite.user_step import UserArms, check_user_parity, measure_user_step
from hellotorch.training.compiling import CompileConfig

AOT = CompileConfig(mode="default", backend="aot_eager")


def linear_pieces(dropout: float = 0.0, optimizer=torch.optim.SGD):
    def make():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(dropout), nn.Linear(8, 1))
        return model, optimizer(model.parameters(), lr=0.01), nn.MSELoss(), (torch.randn(16, 5), torch.randn(16, 1))

    return make


class FakeBenchmark:
    """pytest-benchmark's fixture as the measurement sees it: a call and an ``extra_info``."""

    def __init__(self):
        self.extra_info = {}

    def __call__(self, function, *args):
        return function(*args)


class BusyMachine:
    """Other processes take 1.5 of 2 cores whenever read; waiting passes at once (a fake sleep)."""

    def __init__(self):
        self.offset = 0.0

    def read(self):
        wall = time.monotonic() + self.offset
        return HostSample(wall_s=wall, busy_s=1.5 * wall, steal_s=0.0, own_s=0.0, procs_running=4, load1=4.0)

    def sleep(self, seconds):
        self.offset += seconds


def test_a_users_step_goes_through_the_suites_parity_check():
    report = check_user_parity(linear_pieces(), AOT, steps=5)
    assert report.verdict == "pass", report.reason
    names = [check.name for check in report.checks]
    # The suite's checks, not a copy of some of them: determinism, one step, gradients, the curve.
    assert names[0] == "eager vs eager" and any(name.startswith("one step: gradients") for name in names)
    assert report.run is None


def test_a_factory_that_is_not_seeded_is_nondeterministic_not_a_failure():
    def make():
        model = nn.Linear(5, 1)
        return model, torch.optim.SGD(model.parameters(), lr=0.01), nn.MSELoss(), (torch.randn(4, 5), torch.randn(4, 1))

    assert check_user_parity(make, AOT, steps=3).verdict == "nondeterministic"


def test_dropout_is_found_in_the_model_itself():
    assert draws_random_numbers(linear_pieces(0.5)()[0])
    assert not draws_random_numbers(linear_pieces(0.0)()[0])
    arms = UserArms.for_factory(linear_pieces(0.5), CompileConfig())
    assert arms.config.fallback_random and "fallback_random" in arms.notes[0]


def test_a_model_that_cannot_be_converted_to_float64_is_judged_by_the_band_alone():
    class IntegerLookup(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 1)

        def forward(self, index):
            return self.head(self.table(index)).squeeze(-1)

        def double(self):
            raise RuntimeError("this model has no float64 copy")

    def make():
        torch.manual_seed(0)
        model = IntegerLookup()
        batch = (torch.randint(0, 10, (8,)), torch.randn(8))
        return model, torch.optim.AdamW(model.parameters(), lr=1e-3), nn.MSELoss(), batch

    arms = UserArms.for_factory(make, AOT)
    assert not arms.has_fp64 and arms.family == "adaptive" and "band decides alone" in arms.notes[-1]
    assert check_user_parity(make, AOT, steps=3).verdict == "pass"


def test_the_fixture_records_what_it_measured():
    benchmark = FakeBenchmark()
    unread = HostMonitor(read=lambda: None, sleep=lambda seconds: None, cores=2)  # this machine's load is not the test
    report = measure_user_step(
        linear_pieces(), benchmark=benchmark, name="tiny step", backend="aot_eager", pairs=4, host=unread
    )
    info = benchmark.extra_info
    assert info["status"] == "ok" and info["parity"] == report.parity == "pass"
    assert info["model"] == "tiny_step" and info["id"] == report.id and info["speedup"] == report.speedup
    assert info["host_state"] == report.host_state == "unprobed"


def test_on_a_busy_machine_the_fixture_records_the_case_disturbed():
    machine = BusyMachine()
    host = HostMonitor(read=machine.read, sleep=machine.sleep, cores=2)
    benchmark = FakeBenchmark()
    report = measure_user_step(
        linear_pieces(), benchmark=benchmark, name="busy", backend="aot_eager", pairs=4, host=host
    )
    assert report.host_state == benchmark.extra_info["host_state"] == "disturbed"
    assert "runnable" in benchmark.extra_info["host_evidence"] or "cores" in benchmark.extra_info["host_evidence"]


def test_a_step_that_fails_after_it_was_timed_leaves_a_failed_record_with_its_reason():
    benchmark = FakeBenchmark()
    with pytest.raises(ValueError, match="parity_steps"):
        measure_user_step(
            linear_pieces(), benchmark=benchmark, name="broken", backend="aot_eager", pairs=2, parity_steps=0
        )
    info = benchmark.extra_info
    assert info["status"] == "failed" and "parity_steps" in info["failure"]
    assert info["id"].startswith("train-cpu-broken-b16-sgd")


def test_a_step_whose_parity_phase_fails_after_timing_is_recorded_failed():
    calls = {"n": 0}
    make_pieces = linear_pieces()

    def make():
        calls["n"] += 1
        if calls["n"] > 4:  # the arms for timing are built; the parity check's are not
            raise RuntimeError("the data loader ran dry")
        return make_pieces()

    benchmark = FakeBenchmark()
    with pytest.raises(RuntimeError, match="ran dry"):
        unread = HostMonitor(read=lambda: None, sleep=lambda seconds: None, cores=2)
        measure_user_step(make, benchmark=benchmark, name="dry", backend="aot_eager", pairs=2, host=unread)
    assert benchmark.extra_info["status"] == "failed" and "ran dry" in benchmark.extra_info["failure"]
