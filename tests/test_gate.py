"""The regression gate on saved runs: passes on identical input, catches a 20% drop,
new parity failures and graph breaks, and refuses bad input with exit 2."""

import json
from pathlib import Path

import pytest

from hellotorch.cli import main

from .fixtures_util import FIXTURE_RUN, edited_run, on_other_device

TARGET = "train-cpu-mlp-b64-adamw.forloop-float32-default.step"


def gate(capsys, baseline, current, *extra):
    try:
        code = main(["gate", "--baseline", str(baseline), "--current", str(current), *extra])
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _case(raw, case_id=TARGET):
    return next(b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["id"] == case_id)


def test_identical_runs_pass(capsys):
    code, out, _ = gate(capsys, FIXTURE_RUN, FIXTURE_RUN)
    assert code == 0
    assert "PASS" in out and "0 regression(s)" in out


def test_a_twenty_percent_speedup_drop_fails_naming_case_and_numbers(tmp_path, capsys):
    def drop(raw):
        info = _case(raw)
        for key in ("speedup", "speedup_q1", "speedup_q3"):
            info[key] *= 0.8

    baseline = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    code, out, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, drop))
    assert code == 1
    assert "FAIL" in out and "1 regression(s)" in out
    row = next(line for line in out.splitlines() if TARGET in line)
    assert f"{_case(baseline)['speedup']:.3f}x" in row and "-20.0%" in row and "REGRESSED" in row


def test_a_drop_within_the_threshold_passes(tmp_path, capsys):
    def small_drop(raw):
        _case(raw)["speedup"] *= 0.97

    code, _, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, small_drop))
    assert code == 0


def test_new_parity_failure_and_more_graph_breaks_regress(tmp_path, capsys):
    def worse(raw):
        info = _case(raw)
        info["parity"] = "fail"
        info["graph_breaks"] += 2

    code, out, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, worse))
    assert code == 1
    regressed = [line for line in out.splitlines() if TARGET in line and "REGRESSED" in line]
    assert any("| parity " in line for line in regressed)
    assert any("| graph_breaks " in line and "+2" in line for line in regressed)


def test_a_case_that_now_fails_regresses(tmp_path, capsys):
    def fail(raw):
        raw["benchmarks"] = [b for b in raw["benchmarks"] if b["extra_info"]["id"] != TARGET]
        raw["hellotorch"]["failed"] = [{"id": TARGET, "reason": "BackendCompilerFailed: boom"}]

    code, out, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, fail))
    assert code == 1 and "BackendCompilerFailed" in out


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing.json", "does not exist"),
        (lambda tmp: (tmp / "corrupt.json").write_text("{not json") and tmp / "corrupt.json", "not valid JSON"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, make, message):
    code, _, err = gate(capsys, FIXTURE_RUN, make(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_no_case_in_common_exits_2(tmp_path, capsys):
    code, _, err = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, on_other_device))
    assert code == 2 and "no compiled case in common" in err


def test_writes_markdown_and_github_action_benchmark_json(tmp_path, capsys):
    md, gh = tmp_path / "gate.md", tmp_path / "bench.json"
    code, _, _ = gate(capsys, FIXTURE_RUN, FIXTURE_RUN, "--markdown", str(md), "--github-json", str(gh), "--all")
    assert code == 0 and "hellotorch gate" in md.read_text()
    entries = json.loads(gh.read_text())
    assert entries and {"name", "unit", "value"} <= set(entries[0])
    assert all(entry["value"] > 0 for entry in entries)


def test_a_pinned_baseline_is_smaller_and_gates_the_same(tmp_path, capsys):
    pinned = tmp_path / "baseline.json"
    assert main(["baseline", str(FIXTURE_RUN), "--output", str(pinned)]) == 0
    assert all("data" not in b["stats"] for b in json.loads(pinned.read_text())["benchmarks"])
    code, _, _ = gate(capsys, pinned, FIXTURE_RUN)
    assert code == 0


def test_the_pinned_repository_baseline_is_a_readable_run():

    from hellotorch.results.runs import load_run

    run = load_run(Path(__file__).parent.parent / "results" / "baselines" / "cpu-quick.json")
    assert run.meta["profile"] == "quick" and len(run.records) > 10


def _drop_target(raw):
    info = _case(raw)
    for key in ("speedup", "speedup_q1", "speedup_q3"):
        info[key] *= 0.7


@pytest.mark.parametrize("reproduces", [False, True])
def test_confirm_re_measures_suspects_and_fails_only_if_they_regress_again(tmp_path, capsys, monkeypatch, reproduces):
    import hellotorch.suite.remeasure
    from hellotorch.results.runs import load_run

    current = edited_run(tmp_path, _drop_target, name="run-current")
    rerun_source = edited_run(tmp_path, _drop_target, name="run-rerun") if reproduces else FIXTURE_RUN
    asked = {}

    def fake_remeasure(run):  # stands in for the real re-measurement by the suite
        asked["profile"] = run.meta["profile"]

        def remeasure(cases):
            asked["cases"] = cases
            return load_run(rerun_source)

        return remeasure

    monkeypatch.setattr(hellotorch.suite.remeasure, "remeasure_with_suite", fake_remeasure)
    code, out, _ = gate(capsys, FIXTURE_RUN, current, "--confirm", "--all")
    assert asked == {"cases": [TARGET], "profile": "quick"}
    assert code == (1 if reproduces else 0)
    assert ("(confirmed)" if reproduces else "(not reproduced)") in out
    assert "re-measured 1 case(s)" in out


@pytest.mark.parametrize(
    "value, message",
    [
        (float("nan"), "field 'speedup' is NaN"),
        (float("inf"), "not a finite number"),
        (None, "must be a number, got None"),
        ("1.2", "must be a number, got '1.2'"),
    ],
)
def test_a_non_finite_or_missing_speedup_is_refused_not_passed(tmp_path, capsys, value, message):
    def spoil(raw):
        _case(raw)["speedup"] = value

    code, out, err = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, spoil))
    assert code == 2 and message in err and "benchmark.json" in err and "PASS" not in out


def test_a_deleted_speedup_is_refused(tmp_path, capsys):
    code, _, err = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, lambda raw: _case(raw).pop("speedup")))
    assert code == 2 and "lacks field(s) speedup" in err


def test_a_run_killed_after_one_case_never_passes(tmp_path, capsys):
    from hellotorch.runfiles import append_journal

    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    bench = next(b for b in raw["benchmarks"] if b["extra_info"]["id"] == TARGET)
    info, stats = bench["extra_info"], bench["stats"]
    append_journal(tmp_path, {"id": TARGET, "extra_info": info, "median_s": stats["median"], "iqr_s": stats["iqr"]})
    code, out, _ = gate(capsys, FIXTURE_RUN, tmp_path)
    assert code == 1 and "FAIL" in out and "incomplete" in out and "only its journal exists" in out


def test_a_run_holding_a_fraction_of_the_baseline_fails_naming_what_is_missing(tmp_path, capsys):
    def keep_half(raw):
        compiled = [b for b in raw["benchmarks"] if b["extra_info"]["compiled"]]
        dropped = {b["extra_info"]["id"] for b in compiled[::2]}
        raw["benchmarks"] = [b for b in raw["benchmarks"] if b["extra_info"]["id"] not in dropped]

    code, out, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, keep_half))
    assert code == 1 and "| missing " in out and "absent" in out


def test_an_interrupted_or_unfinished_run_never_passes(tmp_path, capsys):
    def interrupted(raw):
        raw["hellotorch"]["interrupted"] = True

    def unfinished(raw):
        raw["hellotorch"]["cases_finished"] = raw["hellotorch"]["cases_planned"] - 3

    for name, edit in (("run-int", interrupted), ("run-unf", unfinished)):
        code, out, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, edit, name=name))
        assert code == 1 and "incomplete" in out and "never a pass" in out, out


def test_a_collapse_is_caught_however_large_the_spread_factor(tmp_path, capsys):
    def halve(raw):
        info = _case(raw)
        for key in ("speedup", "speedup_q1", "speedup_q3"):
            info[key] *= 0.5

    code, out, _ = gate(capsys, FIXTURE_RUN, edited_run(tmp_path, halve), "--spread-factor", "1000")
    assert code == 1 and "-50.0%" in out and "REGRESSED" in out


@pytest.mark.parametrize(
    "option, value",
    [("--spread-factor", "inf"), ("--spread-factor", "nan"), ("--spread-factor", "-1"), ("--threshold", "1.5")],
)
def test_options_outside_their_meaning_are_refused(capsys, option, value):
    code, _, err = gate(capsys, FIXTURE_RUN, FIXTURE_RUN, option, value)
    assert code == 2 and option in err and len(err.strip().splitlines()) == 1


def test_a_bad_output_path_is_refused_before_comparing(tmp_path, capsys):
    code, out, err = gate(capsys, FIXTURE_RUN, FIXTURE_RUN, "--markdown", str(tmp_path))
    assert code == 2 and "--markdown" in err and "is a folder" in err and out == ""
    code, _, err = gate(capsys, FIXTURE_RUN, FIXTURE_RUN, "--github-json", "/proc/nope/x.json")
    assert code == 2 and "--github-json" in err


def test_a_malformed_run_cannot_be_pinned_as_a_baseline(tmp_path, capsys):
    spoiled = edited_run(tmp_path, lambda raw: _case(raw).update(speedup=float("nan")))
    out = tmp_path / "pinned.json"
    assert main(["baseline", str(spoiled), "--output", str(out)]) == 2
    assert "field 'speedup' is NaN" in capsys.readouterr().err and not out.exists()


def test_a_baseline_measured_under_another_allocator_policy_is_named(tmp_path, capsys):
    # A baseline from before the steady allocator measured a step that page-faulted its buffers in again.
    steady = edited_run(
        tmp_path,
        lambda raw: raw["machine_info"]["hellotorch"].update(allocator="glibc, freed memory kept"),
        name="run-steady",
    )
    code, out, _ = gate(capsys, FIXTURE_RUN, steady)
    assert code == 0
    assert (
        "allocator policy differs: baseline C library default (not recorded), current glibc, freed memory kept" in out
    )
    _, same, _ = gate(capsys, steady, steady)
    assert "allocator policy differs" not in same
