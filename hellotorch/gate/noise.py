"""Each case's run-to-run noise on one machine: measured by ``hellotorch calibrate``, read by the gate and the change points.

One global allowance (10 %) is too loose for a quiet case and too tight for
a noisy one. Calibration runs the same code N times on this machine and
thread count and keeps, per case and metric, the coefficient of variation
(sample standard deviation over mean) across the runs. A later run is then
judged against that case's own noise:

    allowed change = min(MAX_ALLOWED, max(MIN_ALLOWED, t * cv * sqrt(1 + 1 / runs)))

That is a prediction bound for one new run. The square root is the spread
of a difference between one new run and a baseline that is the median of
``runs`` calibration runs (the median's variance is close enough to the
mean's for this). ``t`` is Student's quantile with ``runs - 1`` degrees of
freedom at the one-sided level of ``NOISE_Z = 3`` sigmas (0.135 % per case
and metric): a CV from a few runs is itself uncertain, and using 3 as if
it were known let 18 of 24 unchanged ``quick`` runs fail the gate with
3- and 6-run calibrations, where t let 4 (docs/methodology.md). With 5
runs t is 6.6, with 10 it is 4.1, with 30 it is 3.3: calibrate over more
runs (``calibrate --from-runs`` takes past ones) for a tighter gate.
``MAX_ALLOWED`` is the default rule's cap too: a case noisier than that
cannot vouch for itself, and a collapse must still fail. docs/methodology.md has the measured
false-alarm and detection rates.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from hellotorch.errors import BadInput
from hellotorch.results.runs import Run

#: Metrics calibrated per case: name -> True when bigger is better. ``step_per_reference`` is the step
#: time in units of the fixed reference workload timed beside it (profiles with ``reference = true``).
NOISE_METRICS: dict[str, bool] = {"speedup": True, "median_ms": False, "step_per_reference": False}
NOISE_Z = 3.0
#: No calibration excuses less than this: a CV of 0.1 % from five runs is luck, not precision.
MIN_ALLOWED = 0.01
#: No calibration excuses more than this (the gate's default rule has the same cap).
MAX_ALLOWED = 0.25
#: Fewer runs than this give no usable spread.
MIN_RUNS = 3


@dataclass(frozen=True)
class CaseNoise:
    """One case's calibrated run-to-run noise of one metric."""

    case_id: str
    metric: str
    runs: int
    center: float
    cv: float
    calibrated: str
    labels: str = ""

    def explained(self, z: float = NOISE_Z) -> float:
        """The change (a fraction) this case's noise explains, uncapped: a prediction bound at ``z`` sigmas' level."""
        return max(MIN_ALLOWED, student_quantile(z, self.runs - 1) * self.cv * math.sqrt(1 + 1 / self.runs))

    def allowed(self, z: float = NOISE_Z) -> float:
        """The largest change (a fraction) the gate lets pass: what the noise explains, at most ``MAX_ALLOWED``."""
        return min(MAX_ALLOWED, self.explained(z))

    def describe(self) -> str:
        text = f"calibrated: CV {self.cv:.2%} over {self.runs} runs ({self.calibrated[:10]})"
        if self.explained() > MAX_ALLOWED:
            text += f"; capped at {MAX_ALLOWED:.0%}, too noisy to vouch for itself"
        return text


def student_quantile(z: float, degrees_of_freedom: int) -> float:
    """Student's t at the one-sided level a normal ``z`` has: ``z`` itself once the spread is known well."""
    from scipy import stats

    return float(stats.t.isf(stats.norm.sf(z), df=max(1, degrees_of_freedom)))


NoiseTable = Mapping[tuple[str, str], CaseNoise]


def _metric_values(run: Run, metric: str) -> dict[str, float]:
    values = {}
    for record in run.records:
        if record.get("status") not in ("ok", "parity-failed"):
            continue
        if metric == "speedup" and not record.get("compiled"):
            continue  # an eager case's speedup is 1 by definition
        value = record["median_s"] * 1e3 if metric == "median_ms" else record.get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            values[record["id"]] = float(value)
    return values


def calibrate(runs: list[Run]) -> list[CaseNoise]:
    """Each case's CV per metric over ``runs`` (the same code, one machine); cases in fewer than 3 runs are left out."""
    if len(runs) < MIN_RUNS:
        raise BadInput(f"--runs: calibration needs at least {MIN_RUNS} runs, got {len(runs)}")
    from hellotorch.history.store import run_facts

    facts = [run_facts(run) for run in runs]
    seen: dict[str, str] = {}
    for fact in facts:
        if fact.run_key in seen:
            # The same run twice would count its own agreement as the machine's: the tightest allowance, unearned.
            raise BadInput(
                f"calibration run {fact.label} is given more than once (the same run id, or the same folder "
                f"and start); give each run once"
            )
        seen[fact.run_key] = fact.label
    fingerprints = {fact.machine_fingerprint for fact in facts}
    if len(fingerprints) > 1:
        raise BadInput(f"calibration runs come from {len(fingerprints)} machines; calibrate one machine at a time")
    # Noise is what the same code does twice: a run of other code, torch or threads would count its change as noise.
    for name in ("git_commit", "torch", "threads", "profile"):
        first = getattr(facts[0], name)
        other = next((fact for fact in facts if getattr(fact, name) != first), None)
        if other is not None:
            raise BadInput(
                f"calibration run {other.label} has {name} {getattr(other, name)!r}, run {facts[0].label} "
                f"{first!r}: calibrate runs of the same code, torch, threads and profile"
            )
    incomplete = next((fact for fact in facts if not fact.complete), None)
    if incomplete is not None:
        raise BadInput(f"calibration run {incomplete.label} did not finish; it cannot vouch for any case's noise")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    labels = ",".join(run.label for run in runs)
    noises = []
    for metric in NOISE_METRICS:
        per_run = [_metric_values(run, metric) for run in runs]
        for case_id in sorted(set().union(*per_run)):
            samples = [values[case_id] for values in per_run if case_id in values]
            if len(samples) < MIN_RUNS:
                continue
            center = statistics.median(samples)
            cv = statistics.stdev(samples) / statistics.fmean(samples)
            noises.append(CaseNoise(case_id, metric, len(samples), center, cv, stamp, labels))
    return noises


def store_noise(
    connection: sqlite3.Connection, *, fingerprint: str, threads: int | None, noises: list[CaseNoise]
) -> None:
    """Replace this machine's calibration of these cases, in one transaction."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(
            "INSERT OR REPLACE INTO noise VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (fingerprint, threads or 0, n.case_id, n.metric, n.runs, n.center, n.cv, n.calibrated, n.labels)
                for n in noises
            ],
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def load_noise(
    connection: sqlite3.Connection, *, fingerprint: str, threads: int | None
) -> dict[tuple[str, str], CaseNoise]:
    """This machine's (and thread count's) calibration, by (case id, metric); empty when never calibrated."""
    rows = connection.execute(
        "SELECT case_id, metric, runs, center, cv, calibrated, labels FROM noise "
        "WHERE machine_fingerprint = ? AND threads = ?",
        (fingerprint, threads or 0),
    ).fetchall()
    return {(row[0], row[1]): CaseNoise(*row) for row in rows}


def load_all_noise(connection: sqlite3.Connection) -> dict[tuple[str, str, str], CaseNoise]:
    """Every stored calibration, by (machine fingerprint, case id, metric), newest thread count's last."""
    rows = connection.execute(
        "SELECT machine_fingerprint, case_id, metric, runs, center, cv, calibrated, labels FROM noise ORDER BY threads"
    ).fetchall()
    return {(row[0], row[1], row[2]): CaseNoise(*row[1:]) for row in rows}


def noise_for_run(history_path, run: Run) -> dict[tuple[str, str], CaseNoise]:
    """The calibration that applies to ``run``: its machine fingerprint and thread count."""
    from hellotorch.history.store import history_session, run_facts

    facts = run_facts(run)
    with history_session(history_path) as connection:
        return load_noise(connection, fingerprint=facts.machine_fingerprint, threads=facts.threads)
