"""Calibrated noise: each case's CV from repeated runs, stored per machine, and the gate judging by it (and saying so)."""

import math

import pytest

from hellotorch.errors import BadInput
from hellotorch.gate.check import GateOptions, gate
from hellotorch.gate.noise import MAX_ALLOWED, MIN_ALLOWED, CaseNoise, calibrate, load_noise, noise_for_run, store_noise
from hellotorch.history.store import open_history, run_facts
from hellotorch.results.runs import load_run

from .fixtures_util import FIXTURE_RUN, edited_run, run_cli

COMPILED = "train-cpu-mlp-b64-adamw.forloop-float32-default.step"
EAGER = "train-cpu-mlp-b64-adamw.forloop-float32-eager"


def _scaled(tmp_path, name: str, *, speedup: float = 1.0, step: float = 1.0, when: str | None = None, reference=None):
    """The fixture run with the compiled MLP case's speedup and every step time scaled.

    ``reference``, when given, is every case's step time in reference-workload units.
    """

    def edit(raw):
        if when:
            raw["datetime"] = when
        for bench in raw["benchmarks"]:
            bench["stats"]["median"] *= step
            info = bench["extra_info"]
            if reference is not None:
                info["step_per_reference"] = reference
            if info["id"] == COMPILED:
                for key in ("speedup", "speedup_q1", "speedup_q3"):
                    info[key] *= speedup

    return load_run(edited_run(tmp_path, edit, name=name))


def test_calibration_is_each_cases_cv_over_the_runs(tmp_path):
    runs = [
        _scaled(tmp_path, f"run-{i}", speedup=s, step=t)
        for i, (s, t) in enumerate([(1, 1), (1.02, 0.98), (0.98, 1.02)])
    ]
    noises = {(n.case_id, n.metric): n for n in calibrate(runs)}
    assert noises[(COMPILED, "speedup")].cv == pytest.approx(0.02, rel=1e-6)
    assert noises[(EAGER, "median_ms")].cv == pytest.approx(0.02, rel=1e-6)
    assert (EAGER, "speedup") not in noises  # an eager speedup is 1 by definition
    assert noises[(COMPILED, "speedup")].runs == 3


def test_the_allowance_grows_with_the_noise_and_has_a_floor():
    quiet = CaseNoise("c", "speedup", 5, 1.0, 0.0001, "2026-11-29")
    noisy = CaseNoise("c", "speedup", 5, 1.0, 0.02, "2026-11-29")
    assert quiet.allowed() == MIN_ALLOWED
    # Student's t with 4 degrees of freedom at 3 sigmas' one-sided level (0.135 %): 6.6, not 3.
    assert noisy.allowed() == pytest.approx(6.620 * 0.02 * math.sqrt(1.2), rel=1e-3)


def test_the_allowance_is_a_prediction_bound_that_tightens_with_more_calibration_runs():
    # A CV from few runs is uncertain: t, not z. With many runs t comes down to z.
    allowed = {runs: CaseNoise("c", "speedup", runs, 1.0, 0.01, "2026-12-03").allowed() for runs in (3, 5, 10, 100)}
    assert allowed[3] > allowed[5] > allowed[10] > allowed[100]
    assert allowed[100] == pytest.approx(3 * 0.01 * math.sqrt(1.01), rel=0.05)


def test_a_very_noisy_case_cannot_excuse_a_collapse_and_the_finding_says_why(tmp_path):
    wild = CaseNoise(COMPILED, "speedup", 5, 1.37, 0.20, "2026-11-29")  # explains a 66 % move
    assert wild.allowed() == MAX_ALLOWED
    assert "capped at 25%" in wild.describe()
    baseline, current = load_run(FIXTURE_RUN), _scaled(tmp_path, "run-collapsed", speedup=0.6)
    result = gate(baseline, current, options=GateOptions(noise={(COMPILED, "speedup"): wild}))
    finding = next(f for f in result.findings if f.case == COMPILED and f.check == "speedup")
    assert finding.regressed and "too noisy to vouch for itself" in finding.noise


def test_calibration_needs_three_runs(tmp_path):
    with pytest.raises(BadInput, match="at least 3 runs"):
        calibrate([load_run(FIXTURE_RUN)] * 2)


def test_noise_is_stored_per_machine_and_found_again(tmp_path):
    runs = [_scaled(tmp_path, f"run-{i}", speedup=1 + i / 100) for i in range(3)]
    facts = run_facts(runs[0])
    connection = open_history(tmp_path / "h.sqlite")
    store_noise(connection, fingerprint=facts.machine_fingerprint, threads=facts.threads, noises=calibrate(runs))
    assert load_noise(connection, fingerprint="another-machine", threads=facts.threads) == {}
    connection.close()
    found = noise_for_run(tmp_path / "h.sqlite", runs[0])
    assert found[(COMPILED, "speedup")].cv == pytest.approx(0.01 / 1.01, rel=1e-6)  # sd 0.01 x, mean 1.01 x


def _noise(cv_speedup: float, cv_step: float | None = None) -> dict:
    table = {(COMPILED, "speedup"): CaseNoise(COMPILED, "speedup", 5, 1.37, cv_speedup, "2026-11-29")}
    if cv_step is not None:
        for case in (COMPILED, EAGER):
            table[(case, "median_ms")] = CaseNoise(case, "median_ms", 5, 2.0, cv_step, "2026-11-29")
    return table


def test_the_gate_judges_a_case_by_its_own_noise_and_says_so(tmp_path):
    baseline, current = load_run(FIXTURE_RUN), _scaled(tmp_path, "run-slower", speedup=0.96)
    quiet = gate(baseline, current, options=GateOptions(noise=_noise(0.005)))
    finding = next(f for f in quiet.findings if f.case == COMPILED and f.check == "speedup")
    assert finding.regressed and finding.noise.startswith("calibrated: CV 0.50%")
    noisy = gate(baseline, current, options=GateOptions(noise=_noise(0.03)))
    assert not next(f for f in noisy.findings if f.case == COMPILED and f.check == "speedup").regressed
    default = gate(baseline, current)  # a 4 % drop is inside the default 10 % floor
    assert not default.regressions
    assert any("no calibration" in note for note in default.notes)
    other = next(f for f in quiet.findings if f.check == "speedup" and f.case != COMPILED)
    assert other.noise.startswith("default")


def test_a_calibrated_step_time_is_gated_for_eager_cases_too(tmp_path):
    baseline, current = load_run(FIXTURE_RUN), _scaled(tmp_path, "run-slower", step=1.05)
    result = gate(baseline, current, options=GateOptions(noise=_noise(0.005, cv_step=0.005)))
    slowed = {f.case for f in result.regressions if f.check == "step time"}
    assert slowed == {COMPILED, EAGER}
    assert gate(baseline, current, options=GateOptions(noise=_noise(0.005))).passed  # no step-time calibration


def test_the_step_time_is_gated_in_reference_units_where_both_runs_and_the_calibration_have_them(tmp_path):
    runs = [_scaled(tmp_path, f"cal-{i}", step=1 + i / 200, reference=0.5 * (1 + i / 400)) for i in range(5)]
    noise = {(n.case_id, n.metric): n for n in calibrate(runs)}
    assert noise[(EAGER, "step_per_reference")].cv < noise[(EAGER, "median_ms")].cv
    baseline = _scaled(tmp_path, "base", reference=0.5)
    # The whole machine ran 10 % slower this hour: milliseconds rose, the step over the reference did not.
    slow_host = _scaled(tmp_path, "slow-host", step=1.10, reference=0.5)
    result = gate(baseline, slow_host, options=GateOptions(noise=noise))
    eager = next(f for f in result.findings if f.case == EAGER and f.check == "step time")
    assert not eager.regressed and eager.baseline.endswith("x reference")
    slow_code = _scaled(tmp_path, "slow-code", step=1.10, reference=0.5 * 1.05)
    assert {f.case for f in gate(baseline, slow_code, options=GateOptions(noise=noise)).regressions} >= {EAGER}
    # A baseline without the reference workload: the step time is compared in milliseconds, and the slow host fails.
    in_ms = gate(load_run(FIXTURE_RUN), slow_host, options=GateOptions(noise=noise))
    eager = next(f for f in in_ms.findings if f.case == EAGER and f.check == "step time")
    assert eager.regressed and eager.baseline.endswith(" ms")


def test_a_pinned_baseline_holds_the_median_step_in_reference_units(tmp_path):
    from hellotorch.results.runs import pin_baseline

    runs = [_scaled(tmp_path, f"pin-{i}", reference=value) for i, value in enumerate((0.9, 0.5, 0.52))]
    pinned = pin_baseline(runs)
    info = next(b["extra_info"] for b in pinned["benchmarks"] if b["extra_info"]["id"] == EAGER)
    assert info["step_per_reference"] == 0.52  # the median, not the first run's 0.9


def test_calibrate_refuses_bad_input_before_running(tmp_path):
    code, _, err = run_cli(["calibrate", "--runs", "2", "--results", str(tmp_path)])
    assert code == 2 and "--runs" in err
    (tmp_path / "h.sqlite").write_bytes(b"garbage" * 200)
    code, _, err = run_cli(["calibrate", "--history", str(tmp_path / "h.sqlite"), "--results", str(tmp_path)])
    assert code == 2 and "--history" in err
    assert not list(tmp_path.glob("run-*"))


def test_the_gate_command_reads_the_calibration_from_the_history(tmp_path):
    runs = [_scaled(tmp_path, f"run-{i}", speedup=1 + i / 1000) for i in range(3)]
    facts = run_facts(runs[0])
    connection = open_history(tmp_path / "h.sqlite")
    store_noise(connection, fingerprint=facts.machine_fingerprint, threads=facts.threads, noises=calibrate(runs))
    connection.close()
    slower = edited_run(tmp_path, lambda raw: _slow_speedup(raw, 0.96), name="run-slower")
    argv = ["gate", "--baseline", str(FIXTURE_RUN), "--current", str(slower), "--all"]
    code, out, _ = run_cli([*argv, "--history", str(tmp_path / "h.sqlite")])
    assert code == 1 and "calibrated: CV" in out
    code, out, _ = run_cli([*argv, "--history", str(tmp_path / "h.sqlite"), "--no-calibration"])
    assert code == 0 and "no calibration" in out


def _slow_speedup(raw, factor):
    for bench in raw["benchmarks"]:
        if bench["extra_info"]["id"] == COMPILED:
            for key in ("speedup", "speedup_q1", "speedup_q3"):
                bench["extra_info"][key] *= factor


def test_calibrate_from_finished_runs_stores_their_noise_without_running_anything(tmp_path):
    runs = [
        edited_run(tmp_path, lambda raw, i=i: raw.update(datetime=f"2026-01-0{i + 1}T00:00:00"), name=f"run-{i}")
        for i in range(3)
    ]
    results = tmp_path / "results"
    code, out, err = run_cli(["calibrate", "--from-runs", *map(str, runs), "--results", str(results)])
    assert code == 0, err
    assert "stored" in out and not list(results.glob("run-*"))  # nothing was run
    connection = open_history(results / "history.sqlite")
    try:
        facts = run_facts(load_run(runs[0]))
        stored = load_noise(connection, fingerprint=facts.machine_fingerprint, threads=facts.threads)
        assert (COMPILED, "speedup") in stored and stored[(COMPILED, "speedup")].runs == 3
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
    finally:
        connection.close()


def test_calibrate_refuses_runs_of_other_code_or_both_run_options(tmp_path):
    same = [edited_run(tmp_path, lambda raw: None, name=f"run-{i}") for i in range(2)]

    def other_commit(raw):
        raw["machine_info"]["hellotorch"]["git_commit"] = "0123456789ab"

    other = edited_run(tmp_path, other_commit, name="run-other")
    code, _, err = run_cli(["calibrate", "--from-runs", *map(str, same), str(other), "--results", str(tmp_path / "r")])
    assert code == 2 and "calibration run other has git_commit" in err
    assert not (tmp_path / "r" / "history.sqlite").exists()  # refused before anything was stored
    code, _, err = run_cli(["calibrate", "--runs", "3", "--from-runs", *map(str, same), "--results", str(tmp_path)])
    assert code == 2 and "--runs and --from-runs" in err
    code, _, err = run_cli(["calibrate", "--from-runs", *map(str, same), "--results", str(tmp_path)])
    assert code == 2 and "--from-runs" in err and "at least 3" in err
