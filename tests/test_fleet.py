"""The fleet view: compare --machines and history --machines, and a hardware-comparison merge grouped by machine."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hellotorch.results.fleet import fleet_report, rows_from_runs
from hellotorch.results.runs import load_run

from .fixtures_util import FIXTURE_RUN, edited_run, run_cli
from .test_shards import _shards


def _threads(count: int, speedup_scale: float = 1.0, disturbed: str | None = None):
    def edit(raw: dict) -> None:
        raw["machine_info"]["hellotorch"]["threads"] = count
        raw["hellotorch"]["run_id"] = f"threads-{count}"
        for bench in raw["benchmarks"]:
            info = bench["extra_info"]
            for key in ("speedup", "speedup_q1", "speedup_q3", "speedup_ci_low", "speedup_ci_high", "speedup_quiet"):
                if isinstance(info.get(key), float):
                    info[key] *= speedup_scale
            if info.get("id") == disturbed:
                info["host_state"] = "disturbed"
                info["host_evidence"] = "5 runnable tasks on 2 cores"

    return edit


def _compiled_case() -> str:
    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    return next(b["extra_info"]["id"] for b in raw["benchmarks"] if b["extra_info"]["mode"] != "eager")


def test_two_machines_side_by_side_with_a_geomean_each_and_what_differs(tmp_path):
    one = edited_run(tmp_path, _threads(1, 0.5), name="run-t1")
    two = edited_run(tmp_path, _threads(2), name="run-t2")
    rows, facts = rows_from_runs([load_run(one), load_run(two)])
    text, table = fleet_report(rows, facts, source="test")
    labels = list(facts)
    assert len(labels) == 2 and "1 threads" in labels[0] and "2 threads" in labels[1]
    compiled = table[table["mode"] != "eager"]
    ratio = compiled[f"speedup[{labels[0]}]"] / compiled[f"speedup[{labels[1]}]"]
    assert ratio.round(6).eq(0.5).all()
    assert "threads: " in text and "cpu: " not in text  # only the facts that differ are named
    assert "Geomean speedup over the" in text


def test_a_disturbed_case_has_no_number_in_the_fleet_and_is_named(tmp_path):
    case = _compiled_case()
    one = edited_run(tmp_path, _threads(1, disturbed=case), name="run-t1")
    two = edited_run(tmp_path, _threads(2), name="run-t2")
    rows, facts = rows_from_runs([load_run(one), load_run(two)])
    text, table = fleet_report(rows, facts, source="test")
    label = next(label for label in facts if "1 threads" in label)
    assert pd.isna(table.set_index("case").loc[case, f"speedup[{label}]"])
    letter = "AB"[list(facts).index(label)]  # the wide table's short name of that machine
    assert f"{case} on {letter}" in text


def test_one_machine_is_not_a_fleet(tmp_path):
    code, _, err = run_cli(["compare", "--machines", str(FIXTURE_RUN), "--output", str(tmp_path)])
    assert code == 2 and "a fleet needs two machines or more" in err and len(err.strip().splitlines()) == 1


def test_compare_machines_writes_the_table_and_the_plot(tmp_path):
    one = edited_run(tmp_path, _threads(1), name="run-t1")
    two = edited_run(tmp_path, _threads(2), name="run-t2")
    out = tmp_path / "fleet"
    code, text, err = run_cli(["compare", "--machines", str(one), str(two), "--output", str(out)])
    assert code == 0, err
    assert {path.name for path in out.iterdir()} == {"fleet.md", "fleet.csv", "fleet.png"}
    assert "hellotorch fleet: 2 machines" in text


def _machines_differ(index: int, raw: dict) -> None:
    raw["machine_info"]["hellotorch"]["cpu"] = f"CPU model {index + 1}"


def test_a_hardware_comparison_merge_groups_its_report_and_its_fleet_by_machine(tmp_path):
    shards = _shards(tmp_path, count=2, edit=_machines_differ)
    out = tmp_path / "merged"
    code, _, err = run_cli(["merge", *map(str, shards), "--output", str(out)])
    assert code == 2 and "--machines-differ" in err  # machines differ only when the user says so
    code, _, err = run_cli(["merge", *map(str, shards), "--output", str(out), "--machines-differ"])
    assert code == 0, err
    summary = (out / "summary.md").read_text()
    assert "- machines: CPU model 1" in summary
    assert "## CPU model 1, " in summary and "## CPU model 2, " in summary
    rows, facts = rows_from_runs([load_run(out)])
    assert sorted(label.split(",")[0] for label in facts) == ["CPU model 1", "CPU model 2"]
    assert len(rows) == len(load_run(FIXTURE_RUN).records)  # every case once, under its own machine


def test_history_machines_shows_each_machines_newest_run(tmp_path):
    history = tmp_path / "history.sqlite"
    one = edited_run(tmp_path, _threads(1, 0.5), name="run-t1")
    two = edited_run(tmp_path, _threads(2), name="run-t2")
    code, _, err = run_cli(["history", "ingest", str(one), str(two), "--history", str(history)])
    assert code == 0, err
    out = tmp_path / "out"
    code, text, err = run_cli(["history", "--machines", "--history", str(history), "--output", str(out)])
    assert code == 0, err
    assert "hellotorch fleet: 2 machines" in text and (out / "fleet.png").is_file()
    code, _, err = run_cli(["history", "--machines", "--history", str(history), "--profile", "nope"])
    assert code == 2 and "a fleet needs two machines or more" in err


@pytest.mark.parametrize("argv", [["--profile", "quick"], ["--machines", "--regressions"]])
def test_history_options_that_belong_together(tmp_path, argv):
    history = tmp_path / "history.sqlite"
    run_cli(["history", "ingest", str(FIXTURE_RUN), "--history", str(history)])
    code, _, err = run_cli(["history", "--history", str(history), *argv])
    assert code == 2 and len(err.strip().splitlines()) == 1
