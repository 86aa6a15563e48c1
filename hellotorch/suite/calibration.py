"""Calibrating a machine: N runs of the same code, each case's run-to-run noise stored in the history.

``hellotorch calibrate`` parses its options and calls :func:`calibrate_machine`
with the runs to make (launched as ``bench`` launches them) or the finished
runs to read; this module does the work and returns what it stored, so the
command line only prints. Every run made is recorded in the history as it
finishes, whether or not the calibration completes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hellotorch.gate.noise import CaseNoise, calibrate, store_noise
from hellotorch.history.store import history_session, record_run, run_facts
from hellotorch.progress import Progress
from hellotorch.results.runs import Run, load_run
from hellotorch.suite.launch import run_suite


@dataclass(frozen=True)
class SuiteRequest:
    """What each calibration run measures: ``run_suite``'s keywords, declared once."""

    profile: str
    device: str = "cpu"
    results_root: str = "results"
    cases: Sequence[str] = ()
    keyword: str | None = None
    threads: int | None = None


@dataclass
class Calibration:
    """What a calibration did: its runs, and either the noises it stored or why it stopped."""

    runs: list[Run] = field(default_factory=list)
    noises: list[CaseNoise] = field(default_factory=list)
    machine: str = ""
    threads: int | None = None
    #: set when it stopped early: "interrupted" (a run was interrupted) or "failed" (a case failed).
    stopped: str | None = None
    #: the failed cases (``{"id", "reason"}``) of the run that stopped it, and that run's folder.
    failed: list[dict[str, str]] = field(default_factory=list)
    stopped_run: Path | None = None


def calibrate_machine(
    *,
    history: Path,
    finished: Sequence[Run] = (),
    count: int = 0,
    request: SuiteRequest | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Calibration:
    """Calibrate from ``finished`` runs, or from ``count`` new runs of ``request``; store the noise in ``history``.

    Finished runs of other code, machines or unfinished runs are refused
    (``ValueError``) before anything is stored.
    """
    result = Calibration(runs=list(finished))
    if finished:
        calibrate(result.runs)  # refuses mixed code, machines or unfinished runs before anything is stored
        for run in result.runs:
            record_run(history, run)
    # Each run's own child shows its cases; these plain lines count the runs between them.
    runs_done = Progress(
        "calibration",
        {f"run {n}": 1.0 for n in range(1, count + 1)},
        write=progress,
        unit="runs",
        planned=False,
        style="off" if finished else "lines",
    )
    for index in range(0 if finished else count):
        runs_done.start(f"run {index + 1}")
        outcome = run_suite(**vars(request))
        runs_done.finish()
        if outcome.interrupted:
            result.stopped, result.stopped_run = "interrupted", outcome.run_dir
            return result
        run = load_run(outcome.run_dir)
        record_run(history, run)
        if outcome.failed:
            result.stopped, result.failed, result.stopped_run = "failed", outcome.failed, outcome.run_dir
            return result
        result.runs.append(run)
    result.noises = calibrate(result.runs)
    facts = run_facts(result.runs[0])
    result.machine, result.threads = facts.machine_fingerprint, facts.threads
    with history_session(history) as connection:
        store_noise(connection, fingerprint=facts.machine_fingerprint, threads=facts.threads, noises=result.noises)
    return result
