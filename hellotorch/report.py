"""``hellotorch report RUN``: rebuild every table and plot of a run from its raw JSON.

The only module that writes report files: ``summary.csv`` (for machines),
``summary.md`` (for people and pull-request comments) and one PNG per plot of
:mod:`hellotorch.plots`. Each file is written to a temporary name and renamed,
so a crash never leaves a half-written one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hellotorch import plots
from hellotorch.results import cases_frame, load_run, read_curves, to_markdown

PLOTS: dict[str, Callable] = {
    "speedup_vs_batch.png": lambda frame, curves: plots.speedup_vs_batch(frame),
    "speedup_by_case.png": lambda frame, curves: plots.speedup_by_case(frame),
    "step_time.png": lambda frame, curves: plots.step_time(frame),
    "compile_time.png": lambda frame, curves: plots.compile_cost(frame),
    "loss_curves_train.png": lambda frame, curves: plots.loss_curves(curves[curves["task"] == "train"]),
    "loss_curves_finetune.png": lambda frame, curves: plots.loss_curves(curves[curves["task"] == "finetune"]),
    "peak_memory.png": lambda frame, curves: plots.peak_memory(frame),
}


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(temp_path)``, then rename the result onto ``path``."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def save_figure(fig: Figure, path: Path) -> None:
    write_atomic(path, lambda temp: fig.savefig(temp, dpi=110))
    plt.close(fig)


def build_report(run_path: str | Path, *, out_dir: str | Path | None = None) -> list[Path]:
    """Write the tables and plots of a run; return the files written."""
    run = load_run(run_path)
    out = Path(out_dir) if out_dir else run.folder
    out.mkdir(parents=True, exist_ok=True)
    frame = cases_frame(run)
    curves = read_curves(run)
    written = []
    csv_path = out / "summary.csv"
    write_atomic(csv_path, lambda temp: frame.to_csv(temp, index=False))
    md_path = out / "summary.md"
    markdown = to_markdown(frame, run)
    write_atomic(md_path, lambda temp: Path(temp).write_text(markdown))
    written += [csv_path, md_path]
    for name, make in PLOTS.items():
        fig, _ = make(frame, curves)
        save_figure(fig, out / name)
        written.append(out / name)
    return written
