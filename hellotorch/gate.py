"""The regression gate: did a case get worse against a pinned baseline?

It rests on the paired speedup (eager and compiled interleaved in one
process), which holds on a noisy runner where absolute times swing by 10x.
A case regresses when:

- its speedup fell by more than the allowed drop: the larger of the
  threshold and ``spread_factor`` times the runs' own measured spread (the
  relative half-IQR of the pairwise ratios, averaged over both runs), so two
  runs of unchanged code on one machine pass. The factor is 2 because the
  median ratio moved by up to 11 % between three quiet runs of unchanged
  code here (per-case CV up to 6 %), where the half-IQR was 5-7 %;
- its parity verdict went from pass to fail;
- it captured more graph breaks or recompiled more often;
- it ran in the baseline and fails now.

:func:`gate` returns the verdicts; :func:`to_markdown` renders them for a
pull-request comment; :func:`github_benchmark_json` writes the speedups in
github-action-benchmark's ``customBiggerIsBetter`` format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from hellotorch.markdown import markdown_table
from hellotorch.results import Run, RunError, cases_frame

DEFAULT_THRESHOLD = 0.10
DEFAULT_SPREAD_FACTOR = 2.0


@dataclass(frozen=True)
class Finding:
    """One comparison of one case; ``regressed`` says whether it fails the gate."""

    case: str
    check: str
    baseline: str
    current: str
    change: str
    allowed: str
    regressed: bool


@dataclass(frozen=True)
class GateResult:
    findings: list[Finding]
    common: int
    notes: list[str]

    @property
    def regressions(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressions


def _relative_half_iqr(row: pd.Series) -> float:
    spread = (row["speedup_q3"] - row["speedup_q1"]) / 2 / row["speedup"]
    return 0.0 if math.isnan(spread) else spread


def gate(
    baseline: Run,
    current: Run,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    spread_factor: float = DEFAULT_SPREAD_FACTOR,
) -> GateResult:
    """Compare every compiled case the two runs share."""
    if not 0 <= threshold < 1:
        raise RunError(f"threshold must be a fraction in [0, 1), got {threshold}")
    base = cases_frame(baseline).set_index("id")
    now = cases_frame(current).set_index("id")
    common = [case for case in base.index.intersection(now.index) if base.at[case, "mode"] != "eager"]
    if not common:
        raise RunError(f"baseline {baseline.label} and current {current.label} have no compiled case in common")
    notes = []
    if baseline.torch_version != current.torch_version:
        notes.append(f"PyTorch differs: baseline {baseline.torch_version}, current {current.torch_version}")
    findings = []
    for case in sorted(common):
        b, c = base.loc[case], now.loc[case]
        if b["status"] != "failed" and c["status"] == "failed":
            findings.append(Finding(case, "status", "ok", "failed", str(c.get("failure", ""))[:80], "-", True))
            continue
        if b["status"] == "failed" or c["status"] == "failed":
            continue
        allowed = max(threshold, spread_factor * (_relative_half_iqr(b) + _relative_half_iqr(c)) / 2)
        change = c["speedup"] / b["speedup"] - 1
        findings.append(
            Finding(
                case,
                "speedup",
                f"{b['speedup']:.3f}x",
                f"{c['speedup']:.3f}x",
                f"{change:+.1%}",
                f"-{allowed:.1%}",
                change < -allowed,
            )
        )
        if b.get("parity") == "pass" and c.get("parity") == "fail":
            findings.append(
                Finding(case, "parity", "pass", "fail", f"max diff {c['parity_max_abs_diff']:.1e}", "-", True)
            )
        for counter in ("graph_breaks", "recompiles"):
            before, after = b.get(counter), c.get(counter)
            if pd.notna(before) and pd.notna(after) and after > before:
                findings.append(
                    Finding(case, counter, f"{before:.0f}", f"{after:.0f}", f"+{after - before:.0f}", "0", True)
                )
    missing = sorted(set(base.index[base["mode"] != "eager"]) - set(now.index))
    if missing:
        notes.append(f"{len(missing)} baseline case(s) not in the current run: {', '.join(missing[:5])}")
    return GateResult(findings, len(common), notes)


def to_markdown(result: GateResult, baseline: Run, current: Run, *, show_all: bool = False) -> str:
    regressions = result.regressions
    head = (
        f"**hellotorch gate: {'PASS' if result.passed else 'FAIL'}**: {len(regressions)} regression(s) "
        f"in {result.common} compiled case(s); current `{current.label}` against baseline `{baseline.label}`"
    )
    lines = [head] + ([""] + [f"- {note}" for note in result.notes] if result.notes else [])
    rows = result.findings if show_all else regressions
    if rows:
        table = pd.DataFrame([vars(finding) for finding in rows])
        table["regressed"] = table["regressed"].map({True: "REGRESSED", False: "ok"})
        lines += ["", markdown_table(table)]
    return "\n".join(lines) + "\n"


def github_benchmark_json(run: Run) -> list[dict[str, str | float]]:
    """Paired speedups as github-action-benchmark ``customBiggerIsBetter`` entries."""
    frame = cases_frame(run)
    frame = frame[(frame["mode"] != "eager") & frame["speedup"].notna()]
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
