"""The host's speed: the Python loop's reading on a fake clock, and how runs and comparisons show it."""

from __future__ import annotations

import math

import pytest

from hellotorch.measuring.host_speed import (
    BLOCKS,
    LOOP_ITERATIONS,
    WARM_CALLS,
    per_call_ms,
    python_loop,
    read_host_speed,
)
from hellotorch.results.machines import (
    HOST_SPEED_CHANGE_NOTE,
    host_speed_change,
    host_speed_difference,
    host_speed_line,
)
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
    assert per_call_ms(host.step, clock=host.clock) == pytest.approx(0.5)
    # 5 blocks of at least 4 ms at 0.5 ms a call: 8 calls each, after the warm ones.
    assert host.calls == WARM_CALLS + BLOCKS * 8


def test_the_untimed_warm_up_is_a_time_not_a_count():
    # 20 ms untimed at 0.5 ms a call is 40 calls, then 5 blocks of 8: what follows other work is not timed.
    host = FakeHost(0.5)
    assert per_call_ms(host.step, clock=host.clock) == pytest.approx(0.5)
    assert host.calls == 40 + BLOCKS * 8
    longer = FakeHost(0.5)
    per_call_ms(longer.step, clock=longer.clock, warm_seconds=0.05)
    assert 100 <= longer.calls - BLOCKS * 8 <= 101  # 50 ms at 0.5 ms a call (give or take float rounding)


def test_one_interrupted_block_does_not_move_the_reading():
    host = FakeHost(0.5, hiccup_call=40 + 10, hiccup_ms=20.0)  # after 40 warm calls: a call of the second block
    assert per_call_ms(host.step, clock=host.clock) == pytest.approx(0.5)


def test_a_slower_host_reads_slower():
    quick, slow = FakeHost(0.5), FakeHost(0.6)
    assert per_call_ms(slow.step, clock=slow.clock) == pytest.approx(0.6)
    assert per_call_ms(quick.step, clock=quick.clock) == pytest.approx(0.5)


def test_the_real_loop_reads_a_positive_time_and_does_the_same_work_each_call():
    assert python_loop() == python_loop() == sum(value * value % 7 for value in range(LOOP_ITERATIONS))
    first, second = read_host_speed(), read_host_speed()
    assert first > 0 and second > 0 and math.isfinite(first)


def test_a_run_line_gives_the_median_and_range_and_names_a_host_that_changed():
    assert host_speed_line([math.nan, math.nan]) is None
    steady = host_speed_line([0.300, 0.310, math.nan])
    assert steady is not None and "305.0 µs a call" in steady and "300.0-310.0" in steady and "slower" not in steady
    # The host slowed for the last third of the run: named, with the change between the thirds' medians.
    changed = host_speed_line([0.300] * 6 + [0.360] * 3)
    assert changed is not None and "20% slower in one third of the run" in changed and "no load check sees" in changed


def test_one_slow_reading_is_not_a_slower_host_and_too_few_are_not_judged():
    # One case read 30 % slow (the work just before it): each third's median is unmoved.
    assert host_speed_change([0.300, 0.302, 0.299, 0.390, 0.301, 0.300, 0.298, 0.303, 0.300]) < 0.01
    assert "slower" not in host_speed_line([0.300, 0.302, 0.299, 0.390, 0.301, 0.300, 0.298, 0.303, 0.300])
    assert host_speed_change([0.300, 0.400]) is None
    # A 12 % change between thirds is within what a quiet run read (9.3 %): not named.
    assert "slower" not in host_speed_line([0.300] * 6 + [0.336] * 3)
    assert "slower" not in host_speed_line([0.300, 0.400])


def test_compare_names_hosts_of_different_speed_only_past_the_threshold():
    labels = ["a", "b"]
    assert host_speed_difference([[0.30, 0.30], [0.30 * (1 + HOST_SPEED_CHANGE_NOTE / 2)] * 2], labels) is None
    line = host_speed_difference([[0.30, 0.31, 0.29], [0.36, 0.35]], labels)
    assert line is not None and "a: 300.0" in line and "b: 355.0 (+18%)" in line
    # A run that never read it (older, or CUDA only): nothing to compare, nothing said.
    assert host_speed_difference([[0.30], [math.nan]], labels) is None


def _with_host_speed(step_ms: float):
    def edit(raw: dict) -> None:
        for bench in raw["benchmarks"]:
            bench["extra_info"]["host_speed_ms"] = step_ms

    return edit


def test_report_and_compare_show_the_hosts_speed(tmp_path):
    quick = edited_run(tmp_path, _with_host_speed(0.300), name="run-quick-host")
    slow = edited_run(tmp_path, _with_host_speed(0.390), name="run-slow-host")
    code, _, err = run_cli(["report", str(quick), "--no-plots"])
    assert code == 0, err
    assert "- host speed: a fixed Python loop took 300.0 µs a call" in (quick / "summary.md").read_text()
    code, out, err = run_cli(["compare", str(quick), str(slow), "--output", str(tmp_path / "cmp")])
    assert code == 0, err
    assert "host speed differs" in out and "(+30%)" in out
