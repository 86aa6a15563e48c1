"""The ``--html`` pages of ``compare``, ``history``, ``ab`` and ``gate``: each one offline page, the verdict first.

Each takes what its command already computed (the same tables its Markdown
shows) and lays it out with :class:`hellotorch.results.html.Page`; the run
report has its own module (:mod:`hellotorch.results.html_report`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hellotorch.results.html import Page, bullet_list, escape, figure_svg, table_html


def _notes(lines: list[str]) -> str:
    return bullet_list([escape(line.lstrip("- ").replace("**", "")) for line in lines if line.strip()])


def fleet_page(text: str, table: pd.DataFrame, figure) -> Page:
    """``compare --machines --html`` and ``history --machines --html``: the fleet."""
    lines = text.splitlines()
    page = Page(lines[0].lstrip("# "), "each case per machine, a geomean per machine")
    head = [line for line in lines[1:] if line.startswith("- ")]
    page.add("verdict", "What differs", _notes(head))
    page.add("plot", "Speedup and step time per machine", figure_svg(figure))
    page.add("table", "Every case", table_html(table))
    return page


def history_page(rows: pd.DataFrame, changes: pd.DataFrame, figure) -> Page:
    """``history --html``: the change points first, then the trend plot and the stored rows."""
    page = Page("hellotorch history", f"{rows['case_id'].nunique()} cases over {rows['label'].nunique()} runs")
    if changes is not None and len(changes):
        page.add("changes", "Change points", table_html(changes))
    else:
        page.add("changes", "Change points", "<p>no change point: every series is steady within its noise</p>")
    page.add("plot", "Trend", figure_svg(figure))
    columns = [c for c in ("started", "label", "machine", "torch", "case_id", "speedup", "median_ms") if c in rows]
    page.add("rows", "Stored rows", table_html(rows[columns]))
    return page


def _ratio_figure(table: pd.DataFrame, threshold: float):
    from hellotorch.results.plots import _empty, plt

    measured = table.dropna(subset=["ratio"]) if "ratio" in table else table.iloc[0:0]
    if measured.empty:
        return _empty("A/B", "no case was measured on both sides")[0]
    y = np.arange(len(measured))
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(measured) + 1.6))
    low = measured["ratio"] - measured["ci_low"]
    high = measured["ci_high"] - measured["ratio"]
    colors = [
        "tab:red" if v == "REGRESSION" else "tab:green" if v == "faster" else "tab:gray" for v in measured["verdict"]
    ]
    ax.errorbar(measured["ratio"], y, xerr=[low, high], fmt="none", ecolor="black", capsize=3)
    ax.scatter(measured["ratio"], y, c=colors, zorder=3)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1, label="no change")
    ax.axvline(1 + threshold, color="tab:red", linestyle=":", linewidth=1, label=f"limit +{threshold:.0%}")
    ax.set_yticks(y, measured["case"], fontsize=8)
    ax.set_xlabel("head / base step time (x), with its interval")
    ax.set_title("A/B: head against base, per case")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ab_page(table: pd.DataFrame, markdown_text: str, threshold: float) -> Page:
    """``ab`` writes ab.html beside ab.md: the verdict line, how it was judged, the ratios with intervals."""
    lines = markdown_text.splitlines()
    page = Page(lines[0].replace("*", ""), "base and head in alternating fresh processes")
    page.add("verdict", "Verdict", _notes([line for line in lines[1:] if line.startswith("- ")]))
    page.add("plot", "head / base per case", figure_svg(_ratio_figure(table, threshold)))
    page.add("table", "Every case", table_html(table))
    return page


def gate_page(result: Any, baseline: Any, current: Any) -> Page:
    """``gate --html``: pass or fail first, the regressions, then every comparison and the speedups side by side."""
    from hellotorch.results.compare import compare_table
    from hellotorch.results.plots import compare_runs

    verdict = "PASS" if result.passed else "FAIL"
    page = Page(
        f"hellotorch gate: {verdict}",
        f"current {current.label} against baseline {baseline.label}: "
        f"{len(result.regressions)} regression(s) in {result.common} gated case(s)",
    )
    notes = [f"{result.blocked}: a run that did not finish is never a pass"] if result.blocked else []
    page.add("verdict", "Verdict", _notes([f"{verdict}", *notes, *result.notes]))
    findings = pd.DataFrame([vars(finding) for finding in result.findings])
    if len(findings):
        findings = findings.sort_values("regressed", ascending=False, kind="stable")
        findings["regressed"] = findings["regressed"].map({True: "REGRESSED", False: "ok"})
        page.add("findings", "Every comparison (regressions first)", table_html(findings))
    try:
        table, labels = compare_table([baseline, current])
        page.add("plot", "Speedup, baseline against current", figure_svg(compare_runs(table, labels)[0]))
    except ValueError:
        pass  # no case in common: the findings already say so
    return page
