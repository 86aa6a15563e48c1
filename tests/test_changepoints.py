"""Change points: a real step is found at the right run with the right size; a flat series gives none; --regressions exits 1."""

import numpy as np
import pytest

from hellotorch.history.changepoints import find_steps, placement_sigma, robust_sigma
from hellotorch.results.runs import load_run

from .fixtures_util import edited_run, run_cli
from .test_noise import COMPILED

pytest.importorskip("ruptures")


def _series(seed: int, *, step: float = 0.0, at: int = 7, n: int = 12, cv: float = 0.01) -> np.ndarray:
    values = np.exp(np.random.default_rng(seed).normal(0, cv, n))
    values[at:] *= 1 + step
    return values


@pytest.mark.parametrize("seed", range(5))
def test_a_five_percent_step_is_found_at_its_run_with_its_size(seed):
    values = _series(seed, step=0.05)
    steps = find_steps(values, sigma=robust_sigma(np.log(values)))
    assert [cut for _, cut, _, _ in steps] == [7]
    start, cut, stop, p_value = steps[0]
    size = np.median(values[cut:stop]) / np.median(values[start:cut]) - 1
    assert size == pytest.approx(0.05, abs=0.015) and p_value < 0.01


def test_flat_series_give_almost_no_change_points():
    found = sum(bool(find_steps(values, sigma=robust_sigma(np.log(values)))) for values in map(_series, range(50)))
    assert found <= 2  # of 50 flat series of 12 runs with 1 % noise


def test_a_series_noisier_than_its_calibration_is_searched_at_its_own_noise():
    # A calibration of a few runs in a row (0.5 %) against a history that drifts by 3 %.
    series = [_series(seed, n=24, cv=0.03) for seed in range(30)]
    at_calibration = sum(bool(find_steps(values, sigma=0.005)) for values in series)
    at_placement = sum(bool(find_steps(values, sigma=placement_sigma(np.log(values), 0.005))) for values in series)
    assert at_calibration >= 10 and at_placement <= 1
    # A quiet series keeps its calibrated noise, and a real step in a drifting one is still found.
    quiet = _series(0, n=24, cv=0.001)
    assert placement_sigma(np.log(quiet), 0.01) == 0.01
    stepped = _series(1, n=24, cv=0.03, step=0.25, at=12)
    assert [cut for _, cut, _, _ in find_steps(stepped, sigma=placement_sigma(np.log(stepped), 0.005))] == [12]


def test_a_short_series_has_no_change_point():
    assert find_steps(_series(0, step=0.5, at=3, n=5), sigma=0.01) == []


def _history_of(tmp_path, slowdowns: list[float], *, in_reference_units: bool = False) -> str:
    """A history of runs of the fixture, the compiled MLP case's step slowed by each factor in turn.

    ``in_reference_units``: the runs timed the reference workload and only the step over it slows.
    """
    db = tmp_path / "h.sqlite"
    rng = np.random.default_rng(0)
    for index, slowdown in enumerate(slowdowns):
        noise = float(np.exp(rng.normal(0, 0.005)))

        def edit(raw, index=index, factor=(1 + slowdown) * noise):
            raw["datetime"] = f"2026-11-{index + 1:02d}T00:00:00+00:00"
            for bench in raw["benchmarks"]:
                if bench["extra_info"]["id"] == COMPILED and in_reference_units:
                    bench["extra_info"]["step_per_reference"] = 0.5 * factor
                elif bench["extra_info"]["id"] == COMPILED:
                    bench["stats"]["median"] *= factor

        folder = edited_run(tmp_path, edit, name=f"run-n{index:02d}")
        assert load_run(folder)
        code, _, err = run_cli(["history", "ingest", str(folder), "--history", str(db)])
        assert code == 0, err
    return str(db)


def test_history_regressions_exits_1_on_a_step_worse_than_the_noise(tmp_path):
    db = _history_of(tmp_path, [0.0] * 6 + [0.08] * 6)
    code, out, _ = run_cli(["history", "--history", db, "--case", COMPILED, "--regressions", "--output", str(tmp_path)])
    assert code == 1, out
    assert "REGRESSION" in out and " n06 " in out.split("REGRESSION: ", 1)[1]
    assert (tmp_path / "history.png").stat().st_size > 0


def test_a_step_in_reference_units_is_found_and_shown_beside_the_milliseconds(tmp_path):
    db = _history_of(tmp_path, [0.0] * 6 + [0.08] * 6, in_reference_units=True)
    code, out, _ = run_cli(["history", "--history", db, "--case", COMPILED, "--regressions"])
    assert code == 1, out
    assert "| step_per_reference |" in out and "step / reference" in out
    assert "| median_ms |" not in out  # the milliseconds did not move


def test_history_regressions_exits_0_on_a_flat_history(tmp_path):
    db = _history_of(tmp_path, [0.0] * 12)
    code, out, _ = run_cli(["history", "--history", db, "--case", COMPILED, "--regressions"])
    assert code == 0, out
    assert "No persistent step" in out


def test_history_refuses_a_missing_database(tmp_path):
    code, _, err = run_cli(["history", "--history", str(tmp_path / "none.sqlite")])
    assert code == 2 and "--history" in err
    assert not (tmp_path / "none.sqlite").exists()
