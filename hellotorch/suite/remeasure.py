"""Re-measuring a run's cases in a fresh run: what ``hellotorch gate --confirm`` hands the gate.

The gate (:mod:`hellotorch.gate.check`) reads runs and needs no torch; only
when asked to confirm a suspect does the command line give it this
measuring-half callable, which launches the suite.
"""

from __future__ import annotations

from hellotorch.gate.check import Remeasure
from hellotorch.results.runs import Run, RunError, load_run
from hellotorch.suite.launch import run_suite


def remeasure_with_suite(current: Run) -> Remeasure:
    """Re-run cases of ``current``'s profile, devices and threads into ``<current>/confirm/``."""
    profile = current.meta.get("profile")
    if not profile:
        raise RunError(f"{current.label} does not say which profile it ran; cannot re-measure")
    devices = current.meta.get("devices") or ["cpu"]
    threads = current.machine.get("threads")

    def remeasure(cases: list[str]) -> Run:
        outcome = run_suite(
            profile=profile,
            device="all" if len(devices) > 1 else devices[0],
            results_root=current.folder / "confirm",
            cases=cases,
            threads=threads if isinstance(threads, int) else None,
        )
        return load_run(outcome.run_dir)

    return remeasure
