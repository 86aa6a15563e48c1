"""The regression gate: did a case get worse against a pinned baseline? It fails closed.

It rests on the paired speedup (eager and compiled interleaved in one
process), which holds on a noisy runner where absolute times swing by 10x.
A compiled case regresses when:

- its speedup fell by more than the allowed drop. With a calibration of
  this machine (``hellotorch calibrate``, :mod:`hellotorch.gate.noise`) that is
  the case's own calibrated noise; without one, the larger of the threshold
  and ``spread_factor`` times the runs' own measured spread (the relative
  half-IQR of the pairwise ratios, averaged over both runs), so two runs of
  unchanged code on one machine pass (docs/methodology.md gives the
  measurements behind the default factor of 2). Each finding says which;
- its step time rose by more than its calibrated noise allows (any case,
  eager too; only with a calibration, since uncalibrated absolute times
  drift by tens of percent between runs on a shared machine). Where both
  runs timed the reference workload and the calibration has it, the step
  time is compared in reference units (``step_per_reference``), which
  cancel the machine's speed of the hour; otherwise in milliseconds;
- its parity verdict went from pass to fail;
- it captured more graph breaks or recompiled more often;
- it ran in the baseline and fails now;
- it is in the baseline and missing from the current run.

And the whole run fails when the current run is incomplete (killed,
interrupted, fewer cases finished than planned): a crashed bench is never a
pass. Malformed runs never get here: :func:`hellotorch.results.runs.load_run`
refuses them (exit 2).

:func:`gate` returns the verdicts; :func:`confirm` re-measures speedup
suspects in a fresh run and keeps only those that reproduce.
:mod:`hellotorch.gate.report` renders them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from hellotorch.errors import BadInput
from hellotorch.gate.noise import MAX_ALLOWED, NoiseTable
from hellotorch.results.runs import Run, RunError
from hellotorch.results.table import cases_frame
from hellotorch.settings import DEFAULT_ALLOCATOR_POLICY

DEFAULT_THRESHOLD = 0.10
DEFAULT_SPREAD_FACTOR = 2.0
#: A spread-derived allowance never excuses a drop larger than this: a case
#: that noisy cannot vouch for itself, and the gate must still catch a collapse.
#: The calibrated rule has the same cap.
MAX_ALLOWED_DROP = MAX_ALLOWED
#: The step-time metrics the gate compares, preferred first, with the unit it shows them in.
STEP_TIME_METRICS = {"step_per_reference": "x reference", "median_ms": "ms"}


@dataclass(frozen=True)
class GateOptions:
    """How much a speedup may drop; validated when built."""

    #: allowed drop of the speedup, a fraction in [0, 1).
    threshold: float = DEFAULT_THRESHOLD
    #: allowed drop in units of the runs' relative half-IQR, finite and >= 0.
    spread_factor: float = DEFAULT_SPREAD_FACTOR
    #: this machine's calibrated noise by (case id, metric); where present it replaces the two above.
    noise: NoiseTable = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and 0 <= self.threshold < 1):
            raise BadInput(f"--threshold must be a fraction in [0, 1), got {self.threshold}")
        if not (math.isfinite(self.spread_factor) and self.spread_factor >= 0):
            raise BadInput(f"--spread-factor must be a finite number >= 0, got {self.spread_factor}")


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
    #: what the allowance came from: the case's calibration or the default rule.
    noise: str = "-"


@dataclass(frozen=True)
class GateResult:
    findings: list[Finding]
    common: int
    notes: list[str]
    #: why the current run cannot pass at all (incomplete), or None.
    blocked: str | None = None

    @property
    def regressions(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.regressed]

    @property
    def passed(self) -> bool:
        return self.blocked is None and not self.regressions

    @property
    def speedup_suspects(self) -> list[str]:
        return sorted({f.case for f in self.regressions if f.check in ("speedup", "step time")})


def _relative_half_iqr(row: pd.Series) -> float:
    return float((row["speedup_q3"] - row["speedup_q1"]) / 2 / row["speedup"])


def _compiled_ids(frame: pd.DataFrame) -> set[str]:
    return set(frame.loc[frame["mode"].notna() & (frame["mode"] != "eager"), "id"])


def _default_rule(b: pd.Series, c: pd.Series, options: GateOptions) -> tuple[float, str]:
    spread = options.spread_factor * (_relative_half_iqr(b) + _relative_half_iqr(c)) / 2
    allowed = max(options.threshold, min(MAX_ALLOWED_DROP, spread))
    return allowed, f"default: {options.threshold:.0%} floor or {options.spread_factor:g}x the runs' spread"


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0  # False for NaN and for a missing (None) value


def _step_time_finding(case: str, b: pd.Series, c: pd.Series, options: GateOptions) -> list[Finding]:
    # The first step-time metric calibrated and measured in both runs; none of them: no step-time check.
    usable = (m for m in STEP_TIME_METRICS if (case, m) in options.noise and _positive(b[m]) and _positive(c[m]))
    metric = next(usable, None)
    if metric is None:
        return []
    noise, unit = options.noise[case, metric], STEP_TIME_METRICS[metric]
    allowed, change = noise.allowed(), c[metric] / b[metric] - 1
    shown = (f"{b[metric]:.4g} {unit}", f"{c[metric]:.4g} {unit}", f"{change:+.1%}", f"+{allowed:.1%}")
    return [Finding(case, "step time", *shown, change > allowed, noise.describe())]


def _compare_case(case: str, b: pd.Series, c: pd.Series, options: GateOptions) -> list[Finding]:
    if c["status"] == "failed":
        return [Finding(case, "status", "ok", "failed", str(c["failure"])[:80], "-", True)]
    if "disturbed" in (b["host_state"], c["host_state"]):
        # Neither a pass nor a regression: the gate is blocked instead (gate()).
        return [Finding(case, "disturbed", str(b["host_state"]), str(c["host_state"]), "not judged", "-", False)]
    findings = _step_time_finding(case, b, c, options)
    if b["mode"] == "eager":
        return findings
    noise = options.noise.get((case, "speedup"))
    allowed, source = (noise.allowed(), noise.describe()) if noise else _default_rule(b, c, options)
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
            source,
        )
    )
    if b["parity"] == "pass" and c["parity"] in ("fail", "nondeterministic"):
        detail = f"max diff {c['parity_max_abs_diff']:.1e}"
        findings.append(Finding(case, "parity", "pass", str(c["parity"]), detail, "-", True))
    for counter in ("graph_breaks", "recompiles"):
        before, after = b[counter], c[counter]
        if pd.notna(before) and pd.notna(after) and after > before:
            findings.append(
                Finding(case, counter, f"{before:.0f}", f"{after:.0f}", f"+{after - before:.0f}", "0", True)
            )
    return findings


def gate(baseline: Run, current: Run, *, options: GateOptions = GateOptions()) -> GateResult:
    """Compare every compiled case of the baseline with the current run."""
    base = cases_frame(baseline).set_index("id")
    now = cases_frame(current).set_index("id")
    compiled = _compiled_ids(base.reset_index()) - {f["id"] for f in baseline.failed}
    if not compiled:
        raise RunError(f"baseline {baseline.label} has no measured compiled case to gate against")
    # Eager cases are gated only on a calibrated step time; the speedup is the compiled cases' measure.
    calibrated_eager = {case for case, metric in options.noise if metric in STEP_TIME_METRICS} & set(base.index)
    expected = sorted(compiled | (calibrated_eager - {f["id"] for f in baseline.failed}))
    notes = []
    if options.noise:
        notes.append(
            f"calibrated noise of this machine for {len({case for case, _ in options.noise} & set(expected))} "
            f"of {len(expected)} case(s); the rest use the default rule"
        )
    else:
        notes.append(
            "no calibration of this machine: default rule (run `hellotorch calibrate` to gate on each case's noise)"
        )
    if baseline.torch_version != current.torch_version:
        notes.append(f"PyTorch differs: baseline {baseline.torch_version}, current {current.torch_version}")
    policies = [
        run.machine.get("allocator", f"{DEFAULT_ALLOCATOR_POLICY} (not recorded)") for run in (baseline, current)
    ]
    if policies[0] != policies[1]:
        notes.append(
            f"allocator policy differs: baseline {policies[0]}, current {policies[1]}: the two measure different "
            "steps (a step that page-faults its buffers in again, or not); pin a baseline measured as the current run"
        )
    blocked = current.incomplete_reason
    if blocked is None and not set(expected) & set(now.index):
        raise RunError(
            f"baseline {baseline.label} and current {current.label} have no compiled case in common: "
            "is the baseline from another profile?"
        )
    findings: list[Finding] = []
    common = 0
    for case in expected:
        if case not in now.index:
            findings.append(Finding(case, "missing", "ok", "absent", "not in the current run", "-", True))
            continue
        common += 1
        findings += _compare_case(case, base.loc[case], now.loc[case], options)
    if blocked is not None:
        blocked = f"current run {current.label} is incomplete: {blocked}"
    disturbed = [
        f"{label} {case}"
        for label, frame in (("baseline", base), ("current", now))
        for case in expected
        if case in frame.index and frame.loc[case, "host_state"] == "disturbed"
    ]
    if blocked is None and disturbed:
        blocked = (
            f"{len(disturbed)} case(s) were measured on a busy machine and cannot be judged ({disturbed[0]}"
            f"{', ...' if len(disturbed) > 1 else ''}): re-run them when the machine is fit (`hellotorch env --check`)"
        )
    return GateResult(findings, common, notes, blocked)


Remeasure = Callable[[list[str]], Run]


def confirm(result: GateResult, baseline: Run, *, remeasure: Remeasure, options: GateOptions) -> GateResult:
    """Re-measure the speedup suspects; keep only the regressions that reproduce.

    A neighbour's burst of load can shift one case's paired ratio for the
    few seconds it is measured; a real regression shows up again.
    ``remeasure(case_ids)`` runs those cases afresh and returns that run.
    """
    suspects = result.speedup_suspects
    if not suspects or result.blocked:
        return result
    rerun = remeasure(suspects)
    again = gate(baseline, rerun, options=options)
    reproduced = {f.case for f in again.regressions if f.check in ("speedup", "step time", "status", "missing")}
    findings = []
    for finding in result.findings:
        if finding.check in ("speedup", "step time") and finding.case in suspects:
            kept = finding.case in reproduced
            suffix = " (confirmed)" if kept else " (not reproduced)"
            finding = dataclasses.replace(finding, change=finding.change + suffix, regressed=kept)
        findings.append(finding)
    notes = [*result.notes, f"re-measured {len(suspects)} case(s) in {rerun.folder}: {len(reproduced)} reproduced"]
    return dataclasses.replace(result, findings=findings, notes=notes)
