"""Each case's trend across stored runs, for people: the change points, a Markdown table and a row of plots per case.

The rows come from :func:`hellotorch.history.store.trend` and the steps from
:mod:`hellotorch.history.changepoints`; one line per machine, oldest run first:
paired speedup with its IQR band, compiled step time and compile time, the
change points marked.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hellotorch.history.changepoints import ChangePoint, to_frame
from hellotorch.results.plots import plt  # with the non-interactive backend chosen there
from hellotorch.results.table import markdown


def _fmt(value, digits: int = 2) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def trend_markdown(rows: pd.DataFrame, points: list[ChangePoint] = ()) -> str:
    """The change points, then a table per case: its runs in order, with the machine, commit and torch each ran on."""
    lines = ["# hellotorch history", ""]
    lines += ["## Change points", ""]
    if points:
        lines += [markdown(to_frame(list(points))), ""]
    else:
        lines += ["No persistent step in any case's series (ruptures, then Welch's t-test at p < 0.01).", ""]
    for case, group in rows.groupby("case_id", sort=True):
        view = pd.DataFrame(
            {
                "run": group["label"],
                "machine": group["machine"] + " (" + group["machine_fingerprint"] + ")",
                "commit": group["git_commit"].str[:12],
                "torch": group["torch"],
                "speedup (IQR)": [
                    f"{_fmt(s)}x ({_fmt(a)}-{_fmt(b)})" if s == s and s is not None else ""
                    for s, a, b in zip(group["speedup"], group["speedup_q1"], group["speedup_q3"])
                ],
                "step ms": group["median_ms"].map(_fmt),
                "compile s": group["compile_s"].map(lambda v: _fmt(v, 1)),
                "recompiles": group["recompiles"].map(lambda v: _fmt(v, 0)),
                "status": group["status"],
            }
        )
        if "step_per_reference" in group and group["step_per_reference"].notna().any():
            # Only where runs timed the reference workload (reference = true): the step in its units.
            view.insert(6, "step / reference", group["step_per_reference"].map(lambda v: _fmt(v, 4)))
        lines += [f"## {case}", "", markdown(view), ""]
    return "\n".join(lines)


#: metric -> (column of the case's row of panels, y label).
PANELS = {
    "speedup": (0, "paired speedup (IQR band)"),
    "median_ms": (1, "step, ms"),
    "compile_s": (2, "compile, s"),
}


def _machine_label(runs: pd.DataFrame, fingerprint: str) -> str:
    """The machine as a legend names it: two thread counts on one CPU are two lines, so both are said."""
    threads = runs["threads"].dropna()
    with_threads = f", {int(threads.iloc[0])} threads" if len(threads) else ""
    return f"{str(runs['machine'].iloc[0])[:30]}{with_threads} ({fingerprint})"


def trend_plot(rows: pd.DataFrame, points: list[ChangePoint] = (), *, most: int = 8) -> tuple[Figure, np.ndarray]:
    """A row per case (at most ``most``): speedup with its IQR band, step time, compile time; a line per machine.

    Change points are dashed lines at the first run after them: red when
    the case's newest step made it worse than its noise allows.
    """
    cases = sorted(rows["case_id"].unique())[:most]
    fig, axes = plt.subplots(len(cases), 3, figsize=(15, 2.8 * len(cases)), squeeze=False)
    for line, case in zip(axes, cases):
        group = rows[rows["case_id"] == case]
        # An eager case has no speedup or compile time of its own: its row shows the step time alone.
        compiled = group["compile_s"].astype(float).notna().any()
        for fingerprint, runs in group.groupby("machine_fingerprint"):
            x = np.arange(len(runs))
            name = _machine_label(runs, fingerprint)
            line[1].plot(x, runs["median_ms"].astype(float), marker="o", markersize=3, label=name)
            if compiled:
                line[0].plot(x, runs["speedup"].astype(float), marker="o", markersize=3, label=name)
                line[0].fill_between(x, runs["speedup_q1"].astype(float), runs["speedup_q3"].astype(float), alpha=0.2)
                line[2].plot(x, runs["compile_s"].astype(float), marker="o", markersize=3, label=name)
            position = {label: index for index, label in enumerate(runs["label"])}
            for point in points:
                if point.case_id == case and point.machine.endswith(f"({fingerprint})") and point.metric in PANELS:
                    column = PANELS[point.metric][0]
                    line[column].axvline(
                        position.get(point.first_run, point.index) - 0.5,
                        color="red" if point.regression else "grey",
                        linestyle="--",
                        linewidth=1,
                    )
                    line[column].annotate(
                        f"{point.size:+.1%}",
                        (position.get(point.first_run, point.index), 1),
                        xycoords=("data", "axes fraction"),
                        fontsize=6,
                        va="top",
                    )
        for ax, (_, label) in zip(line, PANELS.values()):
            ax.set_ylabel(label, fontsize=7)
            ax.set_xlabel("run (oldest first)", fontsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # runs are counted, not measured
        if compiled:
            line[0].axhline(1.0, color="grey", linewidth=0.8)
        else:
            for ax in (line[0], line[2]):
                ax.text(0.5, 0.5, "eager: no speedup or compile", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
        line[0].set_title(case, fontsize=7, loc="left")
        line[1].legend(fontsize=6)
    fig.tight_layout()
    return fig, axes
