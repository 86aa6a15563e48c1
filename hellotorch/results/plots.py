"""Plots of a results table, as pure functions: DataFrame in, ``(fig, axes)`` out.

Nothing here writes a file; :mod:`hellotorch.results.report` saves what these return.
Every plot has a title, axis labels with units and a legend, and draws the
no-speedup line where speedups are shown.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # no display on CI runners or benchmark machines

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from hellotorch.labels import case_title  # noqa: E402

OK = "status in ('ok', 'parity-failed')"


def _plain_log_x(ax) -> None:
    """A log x axis labelled 0.2, 1, 5 rather than overlapping 2x10^-1 minor labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _compiled_rows(frame: pd.DataFrame, needed: str) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Compiled cases that ran and have ``needed``, with their labels and bar positions."""
    data = frame.query(OK).query("mode != 'eager'").dropna(subset=[needed])
    return data, [case_title(row) for _, row in data.iterrows()], np.arange(len(data))


#: set on a figure that only says there is nothing to show: the report writes no file for it.
EMPTY = "hellotorch_nothing_to_show"


def is_empty(fig: Figure) -> bool:
    return bool(getattr(fig, EMPTY, False))


def _empty(title: str, message: str) -> tuple[Figure, np.ndarray]:
    fig, ax = plt.subplots(figsize=(6, 3))
    setattr(fig, EMPTY, True)
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig, np.array([ax])


def _grid(count: int, *, columns: int = 3, size: tuple[float, float] = (5.0, 3.6)) -> tuple[Figure, np.ndarray]:
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_axis_off()
    return fig, axes


def speedup_vs_batch(frame: pd.DataFrame) -> tuple[Figure, np.ndarray]:
    """Paired speedup against batch size: a panel per model and device, a line per optimizer."""
    data = frame.query(OK).query("mode != 'eager' and scope == 'step' and task == 'train' and backend == 'inductor'")
    data = data[data["speedup"].notna()]
    title = "torch.compile speedup over eager (whole step, training)"
    if data.empty:
        return _empty(title, "no compiled training case in this run")
    panels = list(data.groupby(["device", "model"]))
    fig, axes = _grid(len(panels))
    for ax, ((device, model), group) in zip(axes.flat, panels):
        series = list(group.groupby(["optimizer", "mode", "dtype"]))
        sweeps = [item for item in series if item[1]["batch_size"].nunique() > 1]
        # Single-batch-size points (the optimizer sweep) belong to speedup_by_case;
        # here they would pile up on one x and hide the lines.
        for (optimizer, mode, dtype), line in sweeps or series:
            line = line.sort_values("batch_size")
            err = [line["speedup"] - line["speedup_q1"], line["speedup_q3"] - line["speedup"]]
            label = optimizer if (mode, dtype) == ("default", "float32") else f"{optimizer} {mode} {dtype}"
            ax.errorbar(line["batch_size"], line["speedup"], yerr=err, marker="o", capsize=3, label=label)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="no speedup")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{model} on {device}")
        ax.set_xlabel("batch size (samples)")
        ax.set_ylabel("speedup (eager time / compiled time, x)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}; bars: IQR of interleaved pairs")
    fig.tight_layout()
    return fig, axes


def speedup_by_case(frame: pd.DataFrame) -> tuple[Figure, np.ndarray]:
    """Paired speedup of every compiled case with its IQR, grouped per model: the optimizer and mode sweeps."""
    data, labels, y = _compiled_rows(frame.sort_values("id"), "speedup")
    title = "torch.compile speedup per case"
    if data.empty:
        return _empty(title, "no compiled case in this run")
    err = [data["speedup"] - data["speedup_q1"], data["speedup_q3"] - data["speedup"]]
    colors = ["tab:green" if value >= 1 else "tab:red" for value in data["speedup"]]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(data) + 1.8))
    ax.barh(y, data["speedup"], xerr=err, color=colors, capsize=2)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1, label="no speedup")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("speedup (eager time / compiled time, x); bars: IQR of interleaved pairs")
    ax.set_title(title)
    ax.legend(
        handles=[
            plt.Rectangle((0, 0), 1, 1, color="tab:green"),
            plt.Rectangle((0, 0), 1, 1, color="tab:red"),
            ax.get_lines()[0],
        ],
        labels=["compiled faster", "compiled slower", "no speedup"],
        fontsize=8,
    )
    fig.tight_layout()
    return fig, np.array([ax])


def step_time(frame: pd.DataFrame) -> tuple[Figure, np.ndarray]:
    """Eager against compiled step time per compiled case (the interleaved pairs' medians)."""
    data, labels, y = _compiled_rows(frame, "paired_eager_ms")
    title = "Step time, eager vs compiled"
    if data.empty:
        return _empty(title, "no compiled case in this run")
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(data) + 1.5))
    ax.barh(y - 0.2, data["paired_eager_ms"], height=0.4, label="eager")
    ax.barh(y + 0.2, data["paired_compiled_ms"], height=0.4, label="compiled")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("step time (ms)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig, np.array([ax])


def compile_cost(frame: pd.DataFrame) -> tuple[Figure, np.ndarray]:
    """Compile time (warm in-process, cold where measured) and break-even steps."""
    data, labels, y = _compiled_rows(frame, "compile_s")
    title = "What compiling costs"
    if data.empty:
        return _empty(title, "no compiled case in this run")
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 0.45 * len(data) + 1.8), sharey=True)
    left.barh(y - 0.2, data["compile_s"], height=0.4, label="this run (cache as found)")
    left.barh(y + 0.2, data["cold_compile_s"].fillna(0), height=0.4, label="cold: empty cache, fresh process")
    left.set_yticks(y, labels, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("compile time (s)")
    left.set_title("compile time")
    left.legend(fontsize=8)
    finite = data["break_even_steps"].replace(np.inf, np.nan)
    cap = float(finite.max()) * 2 if finite.notna().any() else 10.0
    values = data["break_even_steps"].replace(np.inf, cap)
    bars = right.barh(y, values, color=["tab:gray" if math.isinf(v) else "tab:green" for v in data["break_even_steps"]])
    for bar, value in zip(bars, data["break_even_steps"]):
        text = "never (compiled is slower)" if math.isinf(value) else f"{value:,.0f}"
        right.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {text}", va="center", fontsize=8)
    _plain_log_x(right)
    right.set_xlim(right=cap * 20)  # room for the labels
    right.set_xlabel("break-even (training steps, log scale)")
    right.set_title("steps until compile pays for itself")
    fig.suptitle(title)
    fig.tight_layout()
    return fig, np.array([left, right])


def loss_curves(curves: pd.DataFrame) -> tuple[Figure, np.ndarray]:
    """Eager and compiled loss curves overlaid, a panel per compiled case (training and fine-tuning)."""
    title = "Loss parity: eager and compiled loss curves"
    if curves.empty:
        return _empty(title, "no loss curves in this run")
    panels = list(curves.groupby("case", sort=True))
    fig, axes = _grid(len(panels), columns=3, size=(5.0, 3.4))
    for ax, (case, group) in zip(axes.flat, panels):
        eager_line = ax.plot(group["step"], group["eager_loss"], label="eager loss", linewidth=2.5, alpha=0.6)
        compiled_line = ax.plot(group["step"], group["compiled_loss"], label="compiled loss", linestyle="--")
        ax.set_yscale("log")  # the tail of a falling loss is where drift shows
        diff = (group["compiled_loss"] - group["eager_loss"]).abs()
        # The curves overlap when parity holds; the gap itself goes on its own axis.
        gap_ax = ax.twinx()
        # Steps with no difference at all have no place on a log axis: leave them out.
        gap_line = gap_ax.plot(
            group["step"], diff.where(diff > 0), color="tab:red", linewidth=0.8, alpha=0.7, label="|compiled - eager|"
        )
        gap_ax.set_yscale("log")
        gap_ax.set_ylabel("|loss difference|", fontsize=8, color="tab:red")
        task = group["task"].iloc[0]
        ax.set_title(f"[{task}] {case.split('-', 2)[2]}\nmax |diff| {diff.max():.1e}", fontsize=8)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (log scale)")
        lines = eager_line + compiled_line + gap_line
        ax.legend(lines, [line.get_label() for line in lines], fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def peak_memory(frame: pd.DataFrame) -> tuple[Figure, np.ndarray]:
    """Peak memory of a warm step, eager and compiled cases side by side."""
    data = frame.query(OK).dropna(subset=["peak_memory_mb"]).sort_values("id")
    title = "Peak memory of a warm step"
    if data.empty:
        return _empty(title, "no memory measurement in this run")
    labels = [case_title(row) for _, row in data.iterrows()]
    colors = ["tab:orange" if mode != "eager" else "tab:blue" for mode in data["mode"]]
    y = np.arange(len(data))
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(data) + 1.5))
    ax.barh(y, data["peak_memory_mb"], color=colors)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()  # read top to bottom, in case order
    _plain_log_x(ax)  # the tutorial models use bytes, the MLPs megabytes
    ax.set_xlabel("peak memory (MiB, log scale)")
    method = data["peak_memory_method"].dropna().iloc[0] if data["peak_memory_method"].notna().any() else "?"
    ax.set_title(f"{title} ({method})")
    ax.legend(
        handles=[plt.Rectangle((0, 0), 1, 1, color="tab:blue"), plt.Rectangle((0, 0), 1, 1, color="tab:orange")],
        labels=["eager", "compiled"],
    )
    fig.tight_layout()
    return fig, np.array([ax])


def compare_runs(table: pd.DataFrame, labels: list[str]) -> tuple[Figure, np.ndarray]:
    """Paired speedup per case, one bar per run (from :func:`hellotorch.results.compare.compare_table`)."""
    title = "Speedup per case, run against run"
    if table.empty:
        return _empty(title, "no compiled case in common")
    y = np.arange(len(table))
    height = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(table) * max(1, len(labels) / 2) + 1.8))
    for index, label in enumerate(labels):
        ax.barh(y + (index - (len(labels) - 1) / 2) * height, table[f"speedup[{label}]"], height=height, label=label)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1, label="no speedup")
    ax.set_yticks(y, table["case"], fontsize=8)
    ax.set_xlabel("speedup (eager time / compiled time, x)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, np.array([ax])


def compile_phases(phases: pd.DataFrame, titles: dict[str, str], labels: dict[str, str]) -> tuple[Figure, np.ndarray]:
    """Stacked bars: where each compile's time goes, per case, variant and cache state (medians)."""
    if phases.empty:
        return _empty("Compile phases", "no case measured its cache states")
    cases = list(dict.fromkeys(phases["id"]))
    fig, axes = _grid(len(cases), columns=min(3, len(cases)), size=(5.5, 3.8))
    for ax, case in zip(axes.flat, cases):
        rows = phases[phases["id"] == case]
        names = [f"{v}\n{s}" for v, s in zip(rows["variant"].astype(str), rows["state"].astype(str))]
        bottom = np.zeros(len(rows))
        for phase, label in labels.items():
            values = rows[f"phase_{phase}_s"].to_numpy(dtype=float)
            ax.bar(names, values, bottom=bottom, label=label)
            bottom += values
        ax.set_title(titles.get(case, case), fontsize=8)
        ax.set_ylabel("seconds")
        ax.tick_params(axis="x", labelsize=7)
    axes.flat[0].legend(fontsize=7)
    for ax in list(axes.flat)[len(cases) :]:
        ax.set_visible(False)
    fig.suptitle("Compile phases (median of fresh processes)")
    fig.tight_layout()
    return fig, axes
