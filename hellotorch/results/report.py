"""``hellotorch report RUN``: rebuild every table and plot of a run from its raw JSON.

The one place report files are produced: ``summary.csv`` (for machines),
``summary.md`` (for people and pull-request comments) and one PNG per plot of
:mod:`hellotorch.results.plots`, each written through
:func:`hellotorch.files.write_atomic` (never half-written, readable by others).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hellotorch.files import check_output_dir, write_atomic, write_text_atomic
from hellotorch.labels import case_title
from hellotorch.results import plots
from hellotorch.results.compile_tables import PHASE_LABELS, cache_state_frame, markdown_sections, phase_frame
from hellotorch.results.runs import Run, load_run, read_curves
from hellotorch.results.table import cases_frame, to_markdown
from hellotorch.runfiles import read_compile_costs

PLOTS: dict[str, Callable] = {
    "speedup_vs_batch.png": lambda frame, curves: plots.speedup_vs_batch(frame),
    "speedup_by_case.png": lambda frame, curves: plots.speedup_by_case(frame),
    "step_time.png": lambda frame, curves: plots.step_time(frame),
    "compile_time.png": lambda frame, curves: plots.compile_cost(frame),
    "loss_curves_train.png": lambda frame, curves: plots.loss_curves(curves[curves["task"] == "train"]),
    "loss_curves_finetune.png": lambda frame, curves: plots.loss_curves(curves[curves["task"] == "finetune"]),
    "peak_memory.png": lambda frame, curves: plots.peak_memory(frame),
}


def save_figure(fig: Figure, path: Path) -> Path:
    # bbox "tight": long case labels and titles are kept whole, not clipped at the figure's edge.
    try:
        return write_atomic(path, lambda temp: fig.savefig(temp, dpi=110, format="png", bbox_inches="tight"))
    finally:
        plt.close(fig)


def write_report(run: Run, *, out_dir: str | Path | None = None, with_plots: bool = True) -> list[Path]:
    """Write the tables (and plots) of a loaded run; return the files written."""
    out = check_output_dir(out_dir or run.folder, option="--output")
    frame = cases_frame(run)
    curves = read_curves(run)
    costs = read_compile_costs(run.folder)
    summary = to_markdown(frame, run) + "\n".join(markdown_sections(frame, costs)) + "\n"
    written = [
        write_atomic(out / "summary.csv", lambda temp: frame.to_csv(temp, index=False)),
        write_text_atomic(out / "summary.md", summary),
    ]
    if costs:
        table = cache_state_frame(costs, frame).merge(phase_frame(costs), on=["id", "variant", "state"])
        written.append(write_atomic(out / "compile_costs.csv", lambda temp: table.to_csv(temp, index=False)))
    if with_plots:
        for name, make in PLOTS.items():
            fig, _ = make(frame, curves)
            if plots.is_empty(fig):
                # Nothing to show (a train-only run's fine-tuning curves): no placeholder file, and no stale one.
                plt.close(fig)
                (out / name).unlink(missing_ok=True)
                continue
            written.append(save_figure(fig, out / name))
        if costs:
            titles = {row["id"]: case_title(row, omit=("device",)) for _, row in frame.iterrows()}
            fig, _ = plots.compile_phases(phase_frame(costs), titles, PHASE_LABELS)
            written.append(save_figure(fig, out / "compile_phases.png"))
    return written


def build_report(run_path: str | Path, *, out_dir: str | Path | None = None, with_plots: bool = True) -> list[Path]:
    """Load, validate and report the run at ``run_path``."""
    return write_report(load_run(run_path), out_dir=out_dir, with_plots=with_plots)
