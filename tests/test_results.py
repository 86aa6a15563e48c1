"""The results schema on a saved run: columns, arithmetic, failures, bad files."""

import json
import math
import shutil

import numpy as np
import pytest

from hellotorch.results.runs import RunError, load_run
from hellotorch.results.table import COLUMNS, cases_frame, geomean_speedups, to_markdown
from hellotorch.runfiles import append_journal

from .fixtures_util import FIXTURE_RUN, edited_run


@pytest.fixture(scope="module")
def frame():
    return cases_frame(load_run(FIXTURE_RUN))


def test_one_row_per_case_with_every_column(frame):
    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    assert len(frame) == len(raw["benchmarks"])
    assert frame["id"].is_unique
    for column in COLUMNS:
        assert column in frame.columns, column
    assert (frame["median_ms"] > 0).all() and (frame["samples_per_s"] > 0).all()


def test_units_are_converted_once(frame):
    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    first = raw["benchmarks"][0]
    row = frame.set_index("id").loc[first["extra_info"]["id"]]
    assert row["median_ms"] == pytest.approx(first["stats"]["median"] * 1e3)
    assert row["peak_memory_mb"] == pytest.approx(first["extra_info"]["peak_memory_bytes"] / 2**20)


def test_break_even_is_compile_time_over_time_saved_or_never(frame):
    compiled = frame[frame["mode"] != "eager"]
    assert len(compiled) > 0
    for _, row in compiled.iterrows():
        saved = (row["paired_eager_ms"] - row["paired_eager_ms"] / row["speedup"]) / 1e3
        if saved > 0:
            assert row["break_even_steps"] == math.ceil(row["compile_s"] / saved)  # whole steps
        else:
            assert math.isinf(row["break_even_steps"])


def test_speedup_vs_best_eager_uses_the_fastest_eager_implementation(frame):
    compiled = frame[(frame["mode"] != "eager")].iloc[0]
    same_step = frame[
        (frame["mode"] == "eager")
        & (frame["model"] == compiled["model"])
        & (frame["batch_size"] == compiled["batch_size"])
        & (frame["optimizer"] == compiled["optimizer"])
        & (frame["task"] == compiled["task"])
    ]
    best = same_step.loc[same_step["median_ms"].idxmin()]
    assert compiled["best_eager"] == best["implementation"]
    assert compiled["speedup_vs_best_eager"] == pytest.approx(best["median_ms"] / compiled["median_ms"])


def test_geomean_counts_slowdowns_without_clipping(tmp_path):
    def halve_one_double_other(raw):
        compiled = [b for b in raw["benchmarks"] if b["extra_info"]["compiled"]]
        mlp_adamw = [
            b for b in compiled if b["extra_info"]["model"] == "mlp" and b["extra_info"]["optimizer"] == "adamw"
        ]
        for bench, speedup in zip(mlp_adamw, [0.5, 2.0] + [1.0] * (len(mlp_adamw) - 2)):
            bench["extra_info"].update(speedup=speedup, speedup_q1=speedup, speedup_q3=speedup)

    geo = geomean_speedups(cases_frame(load_run(edited_run(tmp_path, halve_one_double_other))))
    row = geo[(geo["model"] == "mlp") & (geo["optimizer"] == "adamw")].iloc[0]
    # 0.5 and 2.0 and ones: exactly 1.0; clipping the slowdown to 1.0 would give more.
    assert row["geomean_speedup"] == pytest.approx(1.0)
    compiled = cases_frame(load_run(FIXTURE_RUN))
    compiled = compiled[compiled["mode"] != "eager"]
    assert geomean_speedups(compiled)["cases"].sum() == len(compiled)
    assert np.isclose(geomean_speedups(compiled.iloc[:1])["geomean_speedup"].iloc[0], compiled["speedup"].iloc[0])


def test_failed_cases_become_rows_with_their_reason(tmp_path):
    def add_failure(raw):
        raw["hellotorch"]["failed"] = [
            {"id": "train-cpu-mlp-b9-sgd.forloop-float32-default.step", "reason": "out of memory: boom"}
        ]

    frame = cases_frame(load_run(edited_run(tmp_path, add_failure)))
    failed = frame[frame["status"] == "failed"]
    assert list(failed["failure"]) == ["out of memory: boom"]
    markdown = to_markdown(frame, load_run(edited_run(tmp_path / "again", add_failure)))
    assert "## Failed cases" in markdown and "out of memory: boom" in markdown


def test_markdown_names_machine_geomeans_and_groups():
    run = load_run(FIXTURE_RUN)
    markdown = to_markdown(cases_frame(run), run)
    assert run.machine["torch"] in markdown
    assert "Geometric-mean speedup" in markdown
    assert "## train · cpu · mlp" in markdown and "## finetune · cpu · mlp" in markdown


def test_bad_runs_are_refused_with_the_reason(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "missing.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"benchmarks": [')
    with pytest.raises(RunError, match="not valid JSON"):
        load_run(corrupt)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(RunError, match="not a pytest-benchmark JSON"):
        load_run(other)
    with pytest.raises(RunError, match="not a run folder"):
        load_run(tmp_path)


def test_a_run_killed_before_its_json_is_read_from_its_journal(tmp_path):
    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    for bench in raw["benchmarks"][:3]:
        append_journal(
            tmp_path,
            {
                "id": bench["extra_info"]["id"],
                "extra_info": bench["extra_info"],
                "median_s": bench["stats"]["median"],
                "iqr_s": bench["stats"]["iqr"],
            },
        )
    with (tmp_path / "cases.jsonl").open("a") as handle:
        handle.write('{"id": "torn')  # the kill came mid-line
    run = load_run(tmp_path)
    assert run.meta["from_journal"] and len(cases_frame(run)) == 3
    shutil.rmtree(tmp_path)


def test_markdown_tables_come_from_pandas_and_render_nan_empty():
    import pandas as pd

    from hellotorch.results.table import markdown

    table = markdown(pd.DataFrame({"case": ["a", "c"], "speedup": [1.23456, float("nan")]}), floatfmt=".2f")
    header, rule, first, second = table.splitlines()
    assert header.startswith("| case") and rule.startswith("|:--") and rule.endswith(":|")
    assert "1.23" in first and second.split("|")[2].strip() in ("", "nan")


def test_the_usage_page_documents_every_table_column_with_its_meaning():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "docs" / "usage.md").read_text()
    for column, meaning in COLUMNS.items():
        assert f"| `{column}` | {meaning.replace('|', chr(92) + '|')} |" in readme, column


def test_a_journal_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "cases.jsonl").write_bytes(b'{"id": "x"}\n\xff\xfe\n')
    with pytest.raises(RunError, match=r"cases.jsonl is not UTF-8 text \(byte 12\)"):
        load_run(tmp_path)


def test_a_journal_line_in_the_middle_that_is_not_json_is_named(tmp_path):
    (tmp_path / "cases.jsonl").write_text('{"id": "x"}\n{broken\n{"id": "y"}\n')
    with pytest.raises(RunError, match="cases.jsonl line 2 is not JSON"):
        load_run(tmp_path)


def test_latest_picks_the_newest_complete_run_never_an_interrupted_or_empty_one(tmp_path, capsys):
    from hellotorch.cli import main

    from .fixtures_util import edited_run

    older = edited_run(tmp_path, lambda raw: None, name="run-20260101-000000-vm-cpu-quick")
    edited_run(
        tmp_path, lambda raw: raw["hellotorch"].update(interrupted=True), name="run-20260102-000000-vm-cpu-quick"
    )
    (tmp_path / "run-20260103-000000-vm-cpu-quick").mkdir()  # a bench that left nothing
    assert main(["latest", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(older)
    assert main(["latest", "--results", str(tmp_path / "none")]) == 2
    assert "no complete run folder" in capsys.readouterr().err
