"""hellotorch report and compare on saved runs: every file written, PNGs non-empty."""

import shutil

import pytest

from hellotorch.cli import main
from hellotorch.results.report import PLOTS, build_report

from .fixtures_util import FIXTURE_RUN, edited_run, on_other_device

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_writes_tables_and_every_plot_as_a_non_empty_png(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run)
    written = {path.name for path in build_report(run)}
    assert written == {"summary.csv", "summary.md", *PLOTS}
    for name in PLOTS:
        data = (run / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    assert (run / "summary.csv").read_text().startswith("id,")
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temp files left


def test_report_command_exits_2_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_compare_names_the_differences_and_writes_a_plot(tmp_path, capsys):
    def other_machine(raw):
        raw["machine_info"]["hellotorch"]["threads"] = 1
        raw["machine_info"]["hellotorch"]["torch"] = "2.99.0"

    other = edited_run(tmp_path, other_machine, name="run-one-thread")
    out = tmp_path / "cmp"
    assert main(["compare", str(FIXTURE_RUN), str(other), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "threads differs" in printed and "torch differs" in printed and "2.99.0" in printed
    assert (out / "compare.png").read_bytes().startswith(PNG_MAGIC)
    assert "time_vs_first" in (out / "compare.csv").read_text()


@pytest.mark.parametrize("runs", [1, 2])
def test_compare_refuses_one_run_or_runs_with_nothing_in_common(tmp_path, capsys, runs):
    paths = [str(FIXTURE_RUN)] + ([str(edited_run(tmp_path, on_other_device))] if runs == 2 else [])
    assert main(["compare", *paths, "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert ("at least two runs" if runs == 1 else "no case in common") in err


def test_a_plot_with_nothing_to_show_is_not_written_and_a_stale_one_goes(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run)
    (run / "loss_curves.csv").unlink()
    (run / "loss_curves_train.png").write_bytes(b"an older report's plot")
    written = {path.name for path in build_report(run)}
    assert "loss_curves_train.png" not in written and not (run / "loss_curves_train.png").exists()
    assert "speedup_vs_batch.png" in written
