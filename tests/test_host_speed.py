"""The host's speed: the reference workload's reading on a fake clock, and how runs and comparisons show it."""

from __future__ import annotations

import math

import pytest

from hellotorch.measuring.host_speed import BLOCKS, WARM_CALLS, HostSpeed, reference_ms
from hellotorch.results.machines import HOST_SPEED_CHANGE_NOTE, host_speed_difference, host_speed_line
from tests.fixtures_util import edited_run, run_cli


class FakeHost:
    """A step that advances a fake clock by ``step_ms``, with an optional hiccup on one call."""

    def __init__(self, step_ms: float, *, hiccup_call: int | None = None, hiccup_ms: float = 0.0) -> None:
        self.now = 0.0
        self.calls = 0
        self.step_ms = step_ms
        self.hiccup_call, self.hiccup_ms = hiccup_call, hiccup_ms

    def clock(self) -> float:
        return self.now

    def step(self, _batch: object) -> None:
        self.calls += 1
        self.now += self.step_ms / 1e3
        if self.calls == self.hiccup_call:
            self.now += self.hiccup_ms / 1e3


def test_a_reading_is_the_time_per_call_and_the_warm_calls_are_not_timed():
    host = FakeHost(0.5)
    # The warm calls are slow: were they timed, the reading would be above 0.5 ms.
    host.hiccup_call, host.hiccup_ms = 1, 100.0
    assert reference_ms(host.step, clock=host.clock) == pytest.approx(0.5)
    # 5 blocks of at least 4 ms at 0.5 ms a call: 8 calls each, after the warm ones.
    assert host.calls == WARM_CALLS + BLOCKS * 8


def test_one_interrupted_block_does_not_move_the_reading():
    host = FakeHost(0.5, hiccup_call=WARM_CALLS + 10, hiccup_ms=20.0)  # a call of the second block
    assert reference_ms(host.step, clock=host.clock) == pytest.approx(0.5)


def test_a_slower_host_reads_slower():
    quick, slow = FakeHost(0.5), FakeHost(0.6)
    assert reference_ms(slow.step, clock=slow.clock) == pytest.approx(0.6)
    assert reference_ms(quick.step, clock=quick.clock) == pytest.approx(0.5)


def test_the_real_workload_reads_a_positive_time_and_is_built_once(monkeypatch):
    import hellotorch.measuring.host_speed as module

    built = []
    real = module.reference_step
    monkeypatch.setattr(module, "reference_step", lambda device: built.append(device) or real(device))
    speed = HostSpeed()
    first, second = speed.read(), speed.read()
    assert first > 0 and second > 0 and math.isfinite(first)
    assert built == ["cpu"]


def test_a_run_line_gives_the_range_and_names_a_host_that_changed():
    assert host_speed_line([math.nan, math.nan]) is None
    steady = host_speed_line([0.300, 0.310, math.nan])
    assert steady is not None and "0.300-0.310 ms" in steady and "slower" not in steady
    changed = host_speed_line([0.300, 0.360])
    assert changed is not None and "20% slower at its slowest" in changed and "no load check sees" in changed


def test_compare_names_hosts_of_different_speed_only_past_the_threshold():
    labels = ["a", "b"]
    assert host_speed_difference([[0.30, 0.30], [0.30 * (1 + HOST_SPEED_CHANGE_NOTE / 2)] * 2], labels) is None
    line = host_speed_difference([[0.30, 0.31, 0.29], [0.36, 0.35]], labels)
    assert line is not None and "a: 0.300" in line and "b: 0.355 (+18%)" in line
    # A run that never read it (older, or CUDA only): nothing to compare, nothing said.
    assert host_speed_difference([[0.30], [math.nan]], labels) is None


def _with_host_speed(step_ms: float):
    def edit(raw: dict) -> None:
        for bench in raw["benchmarks"]:
            bench["extra_info"]["host_reference_ms"] = step_ms

    return edit


def test_report_and_compare_show_the_hosts_speed(tmp_path):
    quick = edited_run(tmp_path, _with_host_speed(0.300), name="run-quick-host")
    slow = edited_run(tmp_path, _with_host_speed(0.390), name="run-slow-host")
    code, _, err = run_cli(["report", str(quick), "--no-plots"])
    assert code == 0, err
    assert "- host speed: the reference workload took 0.300-0.300 ms" in (quick / "summary.md").read_text()
    code, out, err = run_cli(["compare", str(quick), str(slow), "--output", str(tmp_path / "cmp")])
    assert code == 0, err
    assert "host speed differs" in out and "(+30%)" in out
