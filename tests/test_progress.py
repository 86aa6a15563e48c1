"""Progress lines: case k of N and the time left, from the plan corrected by the cases done.

Driven by a fake clock: nothing here waits or times anything.
"""

from __future__ import annotations

import io
import os

import pytest

from hellotorch.progress import Progress, duration, style_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines_progress(estimates, **kwargs):
    clock, lines = FakeClock(), []
    return Progress("bench", estimates, style="lines", write=lines.append, clock=clock, **kwargs), clock, lines


def test_the_first_line_gives_the_count_and_the_plans_estimate():
    _, _, lines = lines_progress({"a": 30, "b": 90})
    assert lines == ["bench: 2 cases, about 2m00s by the plan"]


def test_before_anything_finishes_the_plan_counts_down():
    progress, clock, _ = lines_progress({"a": 30, "b": 90})
    progress.start("a")
    clock.now += 20
    assert progress.seconds_left() == pytest.approx(100)


def test_the_plan_is_scaled_by_how_the_finished_cases_compared_with_it():
    progress, clock, lines = lines_progress({"a": 30, "b": 90, "c": 60})
    clock.now += 60  # case a took twice its estimate: the rest will too
    progress.finish("a")
    assert progress.seconds_left() == pytest.approx(2 * 150)
    assert lines[-1] == "bench: 1/3 cases done (a), 1m00s elapsed, about 5m00s left"


def test_cases_finished_out_of_plan_order_count_their_own_estimate():
    progress, clock, _ = lines_progress({"a": 30, "b": 90, "c": 60})
    clock.now += 45
    progress.finish("b")  # b was planned at 90 s and took 45: half
    assert progress.seconds_left() == pytest.approx(0.5 * 90)


def test_the_last_case_leaves_nothing():
    progress, clock, lines = lines_progress({"a": 10})
    clock.now += 12
    progress.finish("a")
    assert progress.seconds_left() == 0
    assert lines[-1].startswith("bench: 1/1 cases done (a)") and lines[-1].endswith("about 0s left")


def test_unplanned_work_says_nothing_of_the_time_until_an_item_is_done():
    progress, clock, lines = lines_progress({"base-1": 1, "head-1": 1}, planned=False, unit="side runs")
    assert lines == ["bench: 2 side runs"]
    assert progress.left() == "estimating the time left"
    clock.now += 40
    progress.finish("base-1")
    assert progress.left() == "about 40s left"


def test_more_items_than_planned_grow_the_total():
    progress, clock, lines = lines_progress({"base-1": 1, "head-1": 1}, planned=False, unit="side runs")
    clock.now += 10
    progress.finish("base-1")
    progress.extend({"head-2": 1, "base-2": 1})
    assert progress.total == 4
    assert progress.seconds_left() == pytest.approx(30)


def test_plain_lines_have_no_escape_codes_or_carriage_returns():
    progress, clock, lines = lines_progress({"a": 5, "b": 5})
    for name in ("a", "b"):
        progress.start(name)
        clock.now += 5
        progress.finish(name)
    progress.say("a result line")
    assert all("\x1b" not in line and "\r" not in line for line in lines)


def test_the_bar_draws_one_updating_line_on_a_terminal():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    progress = Progress("bench", {"a": 5, "b": 5}, style="bar", stream=stream, clock=FakeClock())
    progress.start("a")
    progress.finish("a")
    progress.close()
    drawn = stream.getvalue()
    assert "\r" in drawn and "1/2 cases" in drawn and "\n" not in drawn.rstrip("\n")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3600, "1h00m"), (3725, "1h02m"), (-3, "0s")]
)
def test_durations_read_short(seconds, text):
    assert duration(seconds) == text


def test_a_file_or_pipe_gets_lines_and_the_environment_can_choose(monkeypatch):
    monkeypatch.delenv("HELLOTORCH_PROGRESS", raising=False)
    assert style_for(io.StringIO()) == "lines"
    monkeypatch.setenv("HELLOTORCH_PROGRESS", "off")
    assert style_for(io.StringIO()) == "off"
    monkeypatch.setenv("HELLOTORCH_PROGRESS", "sparkles")
    with pytest.raises(ValueError, match="HELLOTORCH_PROGRESS='sparkles': use one of bar, lines, off"):
        style_for()


def test_a_terminal_gets_the_bar_when_tqdm_imports(monkeypatch):
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 0

    monkeypatch.setattr("os.get_terminal_size", lambda fd: os.terminal_size((100, 40)))
    monkeypatch.delenv("HELLOTORCH_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert style_for(Terminal()) == "bar"
    monkeypatch.setenv("TERM", "dumb")
    assert style_for(Terminal()) == "lines"
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("os.get_terminal_size", lambda fd: os.terminal_size((0, 0)))
    assert style_for(Terminal()) == "lines"  # a terminal with no width gets lines: a bar would draw nothing


def test_each_kind_of_case_is_scaled_by_its_own_finished_cases():
    # Eager cases run at a tenth of their plan, compiled ones at half; the cache-state case has not run yet.
    estimates = {"e1": 5, "e2": 5, "e3": 5, "c1": 20, "c2": 20, "big": 200}
    kinds = {"e1": "eager", "e2": "eager", "e3": "eager", "c1": "compiled", "c2": "compiled", "big": "cache states"}
    progress, clock, _ = lines_progress(estimates, kinds=kinds)
    for name, took in (("e1", 0.5), ("e2", 0.5), ("c1", 10)):
        progress.start(name)
        clock.now += took
        progress.finish(name)
    # e3 at a tenth, c2 at half, the unseen kind at its plan: not all of it at the eager cases' tenth.
    assert progress.seconds_left() == pytest.approx(0.5 + 10 + 200)


def test_the_case_in_progress_counts_down_its_own_estimate():
    progress, clock, _ = lines_progress({"a": 30, "b": 90})
    progress.start("a")
    clock.now += 20
    assert progress.seconds_left() == pytest.approx(10 + 90)
    clock.now += 40  # a runs past its plan: it adds nothing below zero
    assert progress.seconds_left() == pytest.approx(90)
