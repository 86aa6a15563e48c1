"""A/B on one machine: two versions of the code (git refs) or two environments, in alternating fresh processes.

This is how a pull request is judged on a shared runner: base and head side
by side, minutes apart, not head against a baseline made on another day.

- **Sides.** A side is a Python interpreter and, for a git ref, a detached
  ``git worktree`` of the repository at that ref; its process runs that
  checkout's ``hellotorch bench`` (``python -m hellotorch``, with the
  checkout first on ``PYTHONPATH``), so a ref of hellotorch measures its own
  code and a ref of a user's project its own plug-in models and profiles.
  Without a ref a side runs the code as it is, which is how two PyTorch
  installs are compared (``--base-python``/``--head-python``).
- **Order.** Pairs alternate A B, B A, A B, ...: a slow drift of the machine
  (a neighbour's job starting, thermal state) then falls on both sides alike.
- **Estimate.** Per case and pair, the ratio head/base of the step time,
  read as pytest-benchmark's median over the process's rounds (or, with
  ``statistic="min"``, its fastest round: a load burst only ever adds
  time, so the fastest round is the least disturbed; with
  ``statistic="reference"``, the step in units of the fixed reference
  workload timed beside it in the same process, which cancels how fast the
  process as a whole ran: :mod:`hellotorch.measuring.reference_workload`). The ratio reported is
  the geometric mean over pairs with a Student-t confidence interval on the
  log ratios (``scipy.stats.t``): pairs are independent processes, and a
  ratio of times is symmetric in logs. A lone pair whose ratio lies far
  from the others' (a process that ran in a state of its own) is left out
  of both and counted (:func:`hellotorch.ab.stats.outlier_pairs`).
- **Verdict.** A case regressed when its slowdown is significant across
  all the cases compared and the estimate exceeds the threshold (it is
  large enough to matter). Significant: each case's one-sided t-test on
  its log ratios (``scipy.stats.ttest_1samp``) gives a p-value, and the
  p-values of all cases are adjusted together by Benjamini-Hochberg
  (``scipy.stats.false_discovery_control``); the adjusted one must lie
  under ``1 - confidence``. Without the adjustment each case is a test of
  its own at 5 %, and an A/A of the 31 cases of ``quick`` flagged one
  (docs/methodology.md). With one case, or a slowdown that moves many
  cases, the adjustment costs little; a lone small regression among many
  cases needs more pairs. The interval shown is each case's own, two-sided
  at ``2 * confidence - 1`` (90 %): its ends are the one-sided bounds.
- **More pairs.** After ``min_pairs`` pairs, more pairs are added, up to
  ``max_pairs``, while some case is undecided: its interval still holds
  both 1 and 1 + threshold, or its slowdown is significant on its own but
  not across the cases.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hellotorch.ab.sides import STATISTICS, AbOptions, Side, SideFailed, checked_out, run_side
from hellotorch.ab.stats import Estimate, across_cases, estimate
from hellotorch.progress import Progress
from hellotorch.results.runs import Run, load_run


def order(pairs: int) -> list[tuple[int, str]]:
    """(pair, side) in A B, B A, A B, ... order."""
    sequence = []
    for pair in range(pairs):
        names = ("base", "head") if pair % 2 == 0 else ("head", "base")
        sequence += [(pair, name) for name in names]
    return sequence


@dataclass
class AbSamples:
    """Per case, the step time (s) of each side in each pair, as each statistic reads it."""

    base: dict[str, list[float]] = field(default_factory=dict)
    head: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    #: the same, for the statistics not chosen: {statistic: {"base": {...}, "head": {...}}}.
    others: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    statistic: str = "median"
    #: the reference workload's versions each side's records were measured in (values of two are not comparable).
    reference_versions: dict[str, set[int]] = field(default_factory=dict)

    def add(self, name: str, run: Run) -> None:
        for record in run.records:
            if record.get("status") not in ("ok", "parity-failed"):
                continue
            if record.get("reference_version") is not None:
                self.reference_versions.setdefault(name, set()).add(int(record["reference_version"]))
            # A case measured on a busy machine holds its pair's place, as no value: the pair is left out.
            disturbed = record.get("host_state") == "disturbed"
            for statistic, key in STATISTICS.items():
                value = record.get(key)
                if value is None:
                    continue
                value = math.nan if disturbed else value
                into = (
                    getattr(self, name)
                    if statistic == self.statistic
                    else self.others.setdefault(statistic, {"base": {}, "head": {}})[name]
                )
                into.setdefault(record["id"], []).append(float(value))
        for failure in run.failed:
            self.failed.setdefault(failure["id"], f"{name}: {failure['reason']}")


#: A case every pair of which was measured on a busy machine: neither a pass nor a regression.
NOT_MEASURED = "NOT MEASURED"


def _fit_pairs(base: list[float], head: list[float]) -> tuple[list[float], list[float], int]:
    """The pairs both sides measured on a fit machine, and how many were left out as disturbed."""
    pairs = list(zip(base, head))
    fit = [(b, h) for b, h in pairs if not (math.isnan(b) or math.isnan(h))]
    return [b for b, _ in fit], [h for _, h in fit], len(pairs) - len(fit)


def verdict_of(found: Estimate, p_slower_adjusted: float, p_faster_adjusted: float, options: AbOptions) -> str:
    """REGRESSION, faster, undecided (more pairs would help) or same; see the module's docstring."""
    alpha = 1 - options.confidence
    if p_slower_adjusted < alpha and found.ratio > 1 + options.threshold:
        return "REGRESSION"
    if p_faster_adjusted < alpha and found.ratio < 1 - options.threshold:
        return "faster"
    holds_both = found.low <= 1 <= found.high and found.low <= 1 + options.threshold <= found.high
    significant_alone = found.p_slower < alpha and found.ratio > 1 + options.threshold
    return "undecided" if holds_both or significant_alone else "same"


def verdicts(samples: AbSamples, options: AbOptions) -> pd.DataFrame:
    """One row per case: pairs, base and head medians, ratio, interval, p-values (own and across cases), verdict."""
    failed_rows, measured = [], {}
    versions = samples.reference_versions
    mixed = options.statistic == "reference" and versions.get("base") != versions.get("head")
    # Times are shown in ms; the reference statistic is a ratio already.
    unit, scale = ("x_ref", 1.0) if options.statistic == "reference" else ("ms", 1e3)
    for case in sorted(set(samples.base) | set(samples.head) | set(samples.failed)):
        base, head, disturbed = _fit_pairs(samples.base.get(case, []), samples.head.get(case, []))
        pairs = len(base)
        if disturbed and pairs < 2 and case not in samples.failed:
            failed_rows.append(
                {"case": case, "pairs": pairs, "disturbed": disturbed, "verdict": NOT_MEASURED + " (machine busy)"}
            )
            continue
        if case in samples.failed or pairs < 2 or mixed:
            reason = samples.failed.get(case, "measured on one side only")
            if mixed and case not in samples.failed:
                reason = f"reference workload versions differ: base {sorted(versions.get('base', ()))}, head {sorted(versions.get('head', ()))}"
            failed_rows.append({"case": case, "pairs": pairs, "verdict": f"FAILED ({reason[:60]})"})
            continue
        measured[case] = (pairs, base, head, estimate(base, head, confidence=options.confidence), disturbed)
    # The false discovery rate is controlled over every case with a ratio, in each direction.
    slower_adjusted = across_cases([found.p_slower for *_, found, _ in measured.values()])
    faster_adjusted = across_cases([found.p_faster for *_, found, _ in measured.values()])
    rows = []
    for (case, (pairs, base, head, found, disturbed)), p_slower_adjusted, p_faster_adjusted in zip(
        measured.items(), slower_adjusted, faster_adjusted
    ):
        other = {}
        for statistic, sides in samples.others.items():
            b, h = sides["base"].get(case, []), sides["head"].get(case, [])
            if min(len(b), len(h)) >= 2:
                also = estimate(b, h, confidence=options.confidence)
                other.update(
                    {
                        f"ratio_{statistic}": also.ratio,
                        f"ci_low_{statistic}": also.low,
                        f"ci_high_{statistic}": also.high,
                    }
                )
        rows.append(
            {
                "case": case,
                "pairs": pairs,
                "disturbed": disturbed,
                "outliers": found.left_out,
                f"base_{unit}": scale * sorted(base)[len(base) // 2],
                f"head_{unit}": scale * sorted(head)[len(head) // 2],
                "ratio": found.ratio,
                "ci_low": found.low,
                "ci_high": found.high,
                "p_slower": found.p_slower,
                "p_slower_adjusted": p_slower_adjusted,
                "verdict": verdict_of(found, p_slower_adjusted, p_faster_adjusted, options),
                **other,
            }
        )
    if not rows + failed_rows:  # nothing measured on either side: a table with no rows, never a KeyError
        return pd.DataFrame(columns=["case", "pairs", "verdict"])
    return pd.DataFrame(rows + failed_rows).sort_values("case", kind="stable").reset_index(drop=True)


#: how many times a side that failed for the machine's reasons is run again before the A/B stops.
SIDE_RETRIES = 2
RETRY_PAUSE_S = 5.0


def finished_run(folder: Path) -> Run | None:
    """The run a side left in ``folder`` if it finished (its ``benchmark.json`` written), else None."""
    runs = sorted(run for run in folder.glob("run-*") if (run / "benchmark.json").is_file())
    return load_run(runs[-1]) if runs else None


def _run_side_retrying(side: Side, options: AbOptions, folder: Path, out: Path, *, pair: int, progress) -> Run:
    """The side's run, retried (bounded) when the machine failed it; a failure names the side, pair and log."""
    log = out / f"{side.name}-{pair + 1}.log"
    for attempt in range(SIDE_RETRIES + 1):
        shutil.rmtree(folder, ignore_errors=True)  # a failed attempt's partial run is not a sample
        folder.mkdir(parents=True, exist_ok=True)
        try:
            try:
                return run_side(side, options, folder, log)
            except OSError as error:  # the side could not even start (fork: Resource temporarily unavailable)
                message = f"the {side.name} side could not start: {error.strerror or error}"
                raise SideFailed(message, environmental=True) from None
        except SideFailed as error:
            if not error.environmental or attempt == SIDE_RETRIES:
                raise SideFailed(
                    f"pair {pair + 1}: {error}; the finished pairs are kept in {out}: run the same command with "
                    f"--resume {out} to go on",
                    environmental=error.environmental,
                ) from None
            progress(
                f"hellotorch ab: pair {pair + 1}, {side.name} failed ({error}); again, {attempt + 1}/{SIDE_RETRIES}"
            )
            time.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")


def run_ab(
    base: Side,
    head: Side,
    options: AbOptions,
    *,
    repo: Path,
    out: Path,
    on_run: Callable[[str, Run], None] = lambda name, run: None,
    progress: Callable[[str], None] = print,
    progress_style: str = "lines",
) -> tuple[pd.DataFrame, AbSamples]:
    """Run the pairs into ``out/<side>-<n>/`` and return the verdicts; ``on_run`` sees each side's run.

    ``progress_style`` (:func:`hellotorch.progress.style_for`) shows side run
    k of the planned ones and the time left, from the side runs done so far.
    """
    samples = AbSamples(statistic=options.statistic)
    planned = {f"{name}-{pair + 1}": 1.0 for pair, name in order(options.min_pairs)}
    sides_done = Progress(
        "hellotorch ab", planned, style=progress_style, write=progress, unit="side runs", planned=False
    )
    with checked_out(repo, [base, head]) as (base_ready, head_ready), contextlib.closing(sides_done):
        sides = {"base": base_ready, "head": head_ready}
        pairs = 0
        while pairs < options.max_pairs:
            sides_done.extend({f"{name}-{pair + 1}": 1.0 for pair, name in order(pairs + 1)[2 * pairs :]})
            for pair, name in order(pairs + 1)[2 * pairs :]:
                started = time.monotonic()
                folder = out / f"{name}-{pair + 1}"
                sides_done.start(folder.name)
                kept = finished_run(folder)
                if kept is not None:  # measured by an earlier attempt (--resume): kept, not measured again
                    samples.add(name, kept)
                    sides_done.say(f"hellotorch ab: pair {pair + 1}, {name}: kept from {folder}")
                    sides_done.finish(folder.name)
                    continue
                run = _run_side_retrying(sides[name], options, folder, out, pair=pair, progress=sides_done.say)
                samples.add(name, run)
                on_run(name, run)
                sides_done.say(f"hellotorch ab: pair {pair + 1}, {name}: {time.monotonic() - started:.0f} s")
                sides_done.finish(folder.name)
            pairs += 1
            if pairs >= options.min_pairs:
                table = verdicts(samples, options)
                # Undecided cases, and cases the machine's load left unmeasured, get another pair.
                waiting = (table["verdict"] == "undecided") | table["verdict"].str.startswith(NOT_MEASURED)
                if not waiting.any():
                    break
                if pairs < options.max_pairs:
                    sides_done.say(
                        f"hellotorch ab: {int((table['verdict'] == 'undecided').sum())} case(s) undecided; one more pair"
                    )
    return verdicts(samples, options), samples
