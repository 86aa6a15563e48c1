"""A case measured on a busy machine is never a result: tables, geomeans, the gate and bench say so."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hellotorch.results.runs import load_run
from hellotorch.results.table import cases_frame, geomean_speedups, speedup_text, to_markdown

from .fixtures_util import FIXTURE_RUN, edited_run, run_cli

TARGET = "train-cpu-mlp-b64-adamw.forloop-float32-default.step"
EVIDENCE = "in 90 of 120 pairs others used 0.95 of 2 cores, 5 runnable tasks on 2 cores"


def _disturb(case_id=TARGET):
    def edit(raw):
        info = next(b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["id"] == case_id)
        info.update(host_state="disturbed", host_evidence=EVIDENCE, speedup=6.71, speedup_q1=6.0, speedup_q3=7.0)

    return edit


def test_a_disturbed_cases_numbers_leave_the_table_and_the_geomean(tmp_path):
    run = load_run(edited_run(tmp_path, _disturb()))
    frame = cases_frame(run).set_index("id")
    assert frame.loc[TARGET, "host_state"] == "disturbed"
    assert frame[["speedup", "median_ms", "speedup_q1"]].loc[TARGET].isna().all()
    clean = cases_frame(load_run(FIXTURE_RUN))
    assert geomean_speedups(cases_frame(run))["cases"].sum() == geomean_speedups(clean)["cases"].sum() - 1
    summary = to_markdown(cases_frame(run), run)
    assert "1 case(s) disturbed" in summary and EVIDENCE in summary
    assert "6.71" not in summary  # the number the load made is not printed as a result


def test_the_headline_says_undecided_when_its_interval_spans_one_and_disturbed_when_it_was():
    row = {"speedup": 1.02, "speedup_ci_low": 0.97, "speedup_ci_high": 1.06, "mode": "default"}
    assert speedup_text(row) == "1.02x [0.97-1.06], undecided"
    assert speedup_text({**row, "speedup_ci_low": 1.01}) == "1.02x [1.01-1.06]"
    assert (
        speedup_text({**row, "host_state": "disturbed", "host_evidence": "5 runnable; more"})
        == "disturbed (5 runnable)"
    )


@pytest.mark.parametrize("side", ["current", "baseline"])
def test_the_gate_judges_no_disturbed_case_and_fails_closed(tmp_path, side):
    disturbed = edited_run(tmp_path, _disturb())
    baseline, current = (FIXTURE_RUN, disturbed) if side == "current" else (disturbed, FIXTURE_RUN)
    code, out, err = run_cli(["gate", "--baseline", str(baseline), "--current", str(current), "--no-calibration"])
    assert code == 1, out + err
    assert "measured on a busy machine and cannot be judged" in out + err
    assert "REGRESSED" not in "\n".join(line for line in out.splitlines() if TARGET in line)


SPINNER = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


@pytest.mark.slow
def test_a_planted_spinner_is_flagged_or_the_case_stays_within_bounds(tmp_path):
    # One compiled case; a pure-Python spinner on the machine the whole time, and a short wait budget.
    profile = tmp_path / "one.toml"
    profile.write_text(
        'models = ["hello"]\noptimizers = ["sgd"]\nmodes = ["default"]\ncache_states = false\n'
        "pairs = 10\nmax_time = 0.1\nparity_steps = 5\nhost_wait_seconds = 1\nspeedup_ci = 0.05\n"
    )
    spinners = [subprocess.Popen([sys.executable, "-c", SPINNER.format(seconds=240)]) for _ in range(2)]
    try:
        time.sleep(0.5)
        done = subprocess.run(
            [sys.executable, "-m", "hellotorch", "bench", "--profile", str(profile), "--results", str(tmp_path / "r")],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for spinner in spinners:
            spinner.kill()
    (run_dir,) = (tmp_path / "r").glob("run-*")
    (record,) = [b["extra_info"] for b in json.loads((run_dir / "benchmark.json").read_text())["benchmarks"]]
    assert record["host_state"] == "disturbed", record
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "DISTURBED" in done.stdout and "others used" in record["host_evidence"]
    assert "disturbed" in (run_dir / "summary.md").read_text()


def test_the_contract_names_the_disturbed_exit_code():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "disturbed" in next(line for line in readme.splitlines() if line.startswith("| 2 |"))
