"""``ab.md``: an A/B's verdicts as a reader sees them, the verdict first, the interval stated once."""

from __future__ import annotations

import pandas as pd

from hellotorch.ab.run import NOT_MEASURED
from hellotorch.ab.sides import AbOptions, Side


def nothing_decided(table: pd.DataFrame) -> bool:
    """No case was found the same, faster or slower: every one is undecided or not measured."""
    verdicts = table["verdict"].astype(str)
    return len(table) > 0 and bool((verdicts.eq("undecided") | verdicts.str.startswith(NOT_MEASURED)).all())


def comment(table: pd.DataFrame, base: Side, head: Side, options: AbOptions, wall_s: float, *, whole: str = "") -> str:
    """The pull-request comment: head/base per case, the limit, the verdict; regressions first."""
    from hellotorch.results.comment import ATTENTION, CHANGED, UNCHANGED, CommentRow, comment_body

    rows = []
    for row in table.to_dict("records"):
        verdict = str(row["verdict"])
        ratio = row.get("ratio", float("nan"))
        known = ratio == ratio
        unit = "x_ref" if "base_x_ref" in row else "ms"
        base_value, head_value = row.get(f"base_{unit}", float("nan")), row.get(f"head_{unit}", float("nan"))
        attention = verdict in ("REGRESSION", "undecided") or verdict.startswith(("FAILED", NOT_MEASURED))
        rank = ATTENTION if attention else CHANGED if verdict == "faster" else UNCHANGED
        rows.append(
            CommentRow(
                row["case"],
                f"{base_value:.3f} {unit}" if base_value == base_value else "-",
                f"{head_value:.3f} {unit}" if head_value == head_value else "-",
                f"{ratio - 1:+.1%}" if known else "-",
                f"+{options.threshold:.0%}",
                verdict,
                rank,
            )
        )
    headline = to_markdown(table, base, head, options, wall_s).splitlines()[0]
    notes = [f"base: {base.describe}", f"head: {head.describe}", f"profile {options.profile}"]
    return comment_body(headline, rows, notes=notes, whole=whole)


def to_markdown(table: pd.DataFrame, base: Side, head: Side, options: AbOptions, wall_s: float) -> str:
    from hellotorch.results.table import markdown

    regressions = int((table["verdict"] == "REGRESSION").sum())
    failed = int(table["verdict"].str.startswith("FAILED").sum())
    undecided = int((table["verdict"] == "undecided").sum())
    # Fails closed: an A/B that compared no case has shown nothing (every case skipped, say), and one that
    # decided no case has not shown "no regression" either.
    verdict = "FAIL" if regressions or failed or not len(table) else "UNDECIDED" if nothing_decided(table) else "PASS"
    view = table.copy()
    for column in ("base_ms", "head_ms", "base_x_ref", "head_x_ref"):
        if column in view:
            view[column] = view[column].map(lambda v: "" if v != v else f"{v:.3f}")
    if "outliers" in view:
        view["outliers"] = view["outliers"].map(lambda v: "" if v != v else f"{int(v)}")
    if "ratio" in view:
        view["head/base"] = [
            "" if r != r else f"{r:.3f} [{lo:.3f}, {hi:.3f}]"
            for r, lo, hi in zip(view["ratio"], view["ci_low"], view["ci_high"])
        ]
        view = view.drop(columns=[c for c in view.columns if c.startswith(("ratio", "ci_"))])
    if "p_slower" in view:
        view["p slower: own / across cases"] = [
            "" if p != p else f"{p:.3f} / {q:.3f}" for p, q in zip(view["p_slower"], view["p_slower_adjusted"])
        ]
        view = view.drop(columns=["p_slower", "p_slower_adjusted"])
    lines = [
        f"**hellotorch ab: {verdict}**: {regressions} regression(s), {failed} failed, in {len(table)} case(s)"
        + ("; no case was measured on either side" if not len(table) else "")
        + (
            f"; {undecided} undecided after {int(table['pairs'].max())} pair(s) (more pairs would tell: --max-pairs)"
            if undecided
            else ""
        ),
        "",
        f"- base: {base.describe}",
        f"- head: {head.describe}",
        f"- profile {options.profile}"
        + (f", -k {options.keyword!r}" if options.keyword else "")
        + f", {options.threads or 'default'} thread(s)"
        + f"; pairs alternate A B, B A; {int(table['pairs'].max()) if len(table) else 0} pair(s) of fresh processes"
        + f" in {wall_s:.0f} s",
        f"- a case regresses when head is slower at p < {1 - options.confidence:.2g} across the {len(table)} case(s)"
        f" (one-sided t-test of the log ratios, Benjamini-Hochberg adjusted) and the ratio exceeds"
        f" 1 + {options.threshold:.0%}; each case's interval holds its one-sided {options.confidence:.0%} bounds"
        f" (so, read two-sided, {2 * options.confidence - 1:.0%});"
        f" a lone pair far from the others is left out (outliers) (step time: "
        + (
            "in units of the fixed reference workload timed beside it, per process)"
            if options.statistic == "reference"
            else f"pytest-benchmark's {options.statistic} per process)"
        ),
        "- `base_*`/`head_*` are each side's median over its processes, for scale; `head/base` is the geometric"
        " mean of the per-pair ratios (a pair's two processes ran minutes apart, so the machine's drift between"
        " pairs cancels): where the two disagree, the ratio is the comparison",
        "",
        markdown(view),
    ]
    return "\n".join(lines) + "\n"
