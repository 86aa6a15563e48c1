"""Each case's trend across stored runs, for people: a Markdown table per case and a plot per case.

The rows come from :func:`hellotorch.history.trend`; one line per machine,
oldest run first: paired speedup with its IQR, compiled step time and
compile time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hellotorch.plots import _grid
from hellotorch.table import markdown


def _fmt(value, digits: int = 2) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def trend_markdown(rows: pd.DataFrame) -> str:
    """A table per case: its runs in order, with the machine, commit and torch each ran on."""
    lines = ["# hellotorch history", ""]
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
        lines += [f"## {case}", "", markdown(view), ""]
    return "\n".join(lines)


def trend_plot(rows: pd.DataFrame, *, most: int = 12) -> tuple[Figure, np.ndarray]:
    """Per case (at most ``most``): paired speedup with its IQR band over the runs, one line per machine."""
    cases = sorted(rows["case_id"].unique())[:most]
    fig, axes = _grid(len(cases), columns=min(3, len(cases)), size=(5.5, 3.4))
    for ax, case in zip(axes.flat, cases):
        group = rows[rows["case_id"] == case]
        for _, runs in group.groupby("machine_fingerprint"):
            x = np.arange(len(runs))
            ax.plot(x, runs["speedup"], marker="o", label=str(runs["machine"].iloc[0])[:30])
            ax.fill_between(x, runs["speedup_q1"].astype(float), runs["speedup_q3"].astype(float), alpha=0.2)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_title(case, fontsize=7)
        ax.set_xlabel("run (oldest first)")
        ax.set_ylabel("paired speedup")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(cases) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig, axes
