"""How the gate's verdicts are shown: Markdown for a pull-request comment, JSON for github-action-benchmark.

:mod:`hellotorch.gate.check` decides; this module only renders what it decided.
"""

from __future__ import annotations

import pandas as pd

from hellotorch.gate.check import Finding, GateResult
from hellotorch.results.comment import ATTENTION, CHANGED, UNCHANGED, CommentRow, comment_body
from hellotorch.results.runs import Run
from hellotorch.results.table import cases_frame, compiled_measured, markdown


def to_markdown(result: GateResult, baseline: Run, current: Run, *, show_all: bool = False) -> str:
    regressions = result.regressions
    verdict = "PASS" if result.passed else "FAIL"
    head = (
        f"**hellotorch gate: {verdict}**: {len(regressions)} regression(s) in {result.common} gated case(s); "
        f"current `{current.label}` against baseline `{baseline.label}`"
    )
    lines = [head]
    notes = [f"**{result.blocked}**: a run that did not finish is never a pass"] if result.blocked else []
    notes += result.notes
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    rows = result.findings if show_all else regressions
    if rows:
        table = pd.DataFrame([vars(finding) for finding in rows])
        table["regressed"] = table["regressed"].map({True: "REGRESSED", False: "ok"})
        lines += ["", markdown(table)]
    return "\n".join(lines) + "\n"


def _comment_row(finding: Finding) -> CommentRow:
    try:
        moved = abs(float(finding.change.rstrip("%"))) >= 1.0
    except ValueError:
        moved = finding.change not in ("+0", "0", "")
    if finding.regressed or finding.check == "disturbed":
        rank = ATTENTION
    else:
        rank = CHANGED if moved else UNCHANGED
    verdict = "REGRESSED" if finding.regressed else "not judged" if finding.check == "disturbed" else "ok"
    case = finding.case if finding.check == "speedup" else f"{finding.case} ({finding.check})"
    return CommentRow(case, finding.baseline, finding.current, finding.change, finding.allowed, verdict, rank)


def comment(result: GateResult, baseline: Run, current: Run, *, whole: str = "") -> str:
    """The pull-request comment: the verdict line, then every comparison, the ones that matter first."""
    headline = to_markdown(result, baseline, current).splitlines()[0]
    notes = [f"**{result.blocked}**: a run that did not finish is never a pass"] if result.blocked else []
    return comment_body(headline, [_comment_row(f) for f in result.findings], notes=notes + result.notes, whole=whole)


def github_benchmark_json(run: Run) -> list[dict[str, str | float]]:
    """Paired speedups as github-action-benchmark ``customBiggerIsBetter`` entries."""
    frame = compiled_measured(cases_frame(run))
    return [
        {
            "name": row["id"],
            "unit": "x (eager/compiled)",
            "value": round(float(row["speedup"]), 4),
            "range": f"IQR {row['speedup_q1']:.3f}-{row['speedup_q3']:.3f}",
            "extra": f"compiled {row['median_ms']:.3f} ms/step; torch {run.torch_version}",
        }
        for _, row in frame.iterrows()
    ]
