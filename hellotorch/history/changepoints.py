"""Persistent steps in each case's history: ruptures finds them, scipy tests them, the calibrated noise sizes them.

A series is one case's metric on one machine (fingerprint and threads),
oldest run first. The search runs on the logarithm, so a step is a ratio
and a 5 % slowdown looks the same on a 1 ms and a 100 ms step:

1. ``ruptures.Pelt`` with the ``l2`` cost places the candidate steps, with a
   BIC-style penalty ``PENALTY_FACTOR * sigma**2 * log(n)``; sigma is the
   larger of the case's calibrated CV (:mod:`hellotorch.gate.noise`) and a robust
   estimate from the series itself (the median absolute difference of
   neighbouring runs), which a single step barely moves. A calibration is
   a few runs in a row; a history spans days, and a machine drifts more
   over days than over minutes: with the calibration's 1.7 % alone, a
   history of the regression trials placed 5-7 % "steps" in unchanged code
   (docs/methodology.md);
2. each candidate must then pass Welch's t-test (``scipy.stats.ttest_ind``)
   between the runs before and after it at ``ALPHA``, and move the median by
   at least ``MIN_STEP``: a step the noise explains is not reported.

A step needs ``MIN_SEGMENT`` runs on each side: a single odd run is an
outlier, not a change. ruptures and scipy are imported only here, when a
history is read, so the benchmark itself needs neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hellotorch.gate.noise import NOISE_METRICS, CaseNoise

#: Measured on simulated 12-run series with 1 % noise (docs/methodology.md): 6 reports a change on 0.5 %
#: of flat series and finds 94 % of 5 % steps; 2 (plain BIC) reported one on 6 % of flat series.
PENALTY_FACTOR = 6.0
ALPHA = 0.01
MIN_STEP = 0.01
MIN_SEGMENT = 3
#: The smallest sigma used: identical values would make every wiggle a step.
SIGMA_FLOOR = 0.002


@dataclass(frozen=True)
class ChangePoint:
    """A persistent step in one case's metric on one machine."""

    case_id: str
    metric: str
    machine: str
    #: position in the series of the first run after the step.
    index: int
    #: median after / median before - 1.
    size: float
    before: float
    after: float
    p_value: float
    first_run: str
    first_commit: str
    #: the change this case's noise explains, a fraction, and where that came from.
    allowed: float
    noise: str

    @property
    def worse(self) -> bool:
        """True when the step goes the bad way for the metric (a slower step, a smaller speedup)."""
        return self.size < 0 if NOISE_METRICS[self.metric] else self.size > 0

    @property
    def regression(self) -> bool:
        return self.worse and abs(self.size) > self.allowed


def robust_sigma(log_values: np.ndarray) -> float:
    """Noise of a series from its neighbouring differences: a step moves one difference, not their median."""
    if len(log_values) < 3:
        return SIGMA_FLOOR
    differences = np.abs(np.diff(log_values))
    # The median absolute difference of two normal draws is 0.954 sigma.
    return max(SIGMA_FLOOR, float(np.median(differences)) / 0.954)


def placement_sigma(log_values: np.ndarray, calibrated_cv: float | None) -> float:
    """The noise the step search assumes: the calibration's, unless the series itself shows more."""
    own = robust_sigma(log_values)
    return own if calibrated_cv is None else max(calibrated_cv, own)


def find_steps(values: np.ndarray, *, sigma: float) -> list[tuple[int, int, int, float]]:
    """(segment start, first index after the step, segment end, Welch p-value) of each step that passes the test."""
    import ruptures
    from scipy.stats import ttest_ind

    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2 * MIN_SEGMENT:
        return []
    logs = np.log(values)
    penalty = PENALTY_FACTOR * max(sigma, SIGMA_FLOOR) ** 2 * math.log(n)
    ends = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(logs.reshape(-1, 1)).predict(pen=penalty)
    bounds = [0, *ends]
    steps = []
    for start, cut, stop in zip(bounds, bounds[1:], bounds[2:]):
        before, after = logs[start:cut], logs[cut:stop]
        moved = math.exp(np.median(after) - np.median(before)) - 1
        if abs(moved) < MIN_STEP:
            continue
        p_value = float(ttest_ind(before, after, equal_var=False).pvalue)
        if p_value < ALPHA or (math.isnan(p_value) and moved != 0):  # nan: no spread on either side
            steps.append((start, cut, stop, 0.0 if math.isnan(p_value) else p_value))
    return steps


def change_points(rows: pd.DataFrame, noise: dict[tuple[str, str, str], CaseNoise]) -> list[ChangePoint]:
    """Every tested step of every case, metric and machine in ``rows`` (:func:`hellotorch.history.store.trend`).

    ``noise`` maps (machine fingerprint, case id, metric) to its calibration;
    a series without one is judged on its own estimated spread, and says so.
    """
    found = []
    usable = rows[rows["status"].isin(["ok", "parity-failed"])]
    for (case_id, fingerprint), series in usable.groupby(["case_id", "machine_fingerprint"], sort=True):
        series = series.sort_values("started")
        for metric in NOISE_METRICS:
            picked = series[pd.to_numeric(series[metric], errors="coerce") > 0]
            values = picked[metric].to_numpy(dtype=float)
            if len(values) < 2 * MIN_SEGMENT:
                continue
            calibration = noise.get((fingerprint, case_id, metric))
            sigma = placement_sigma(np.log(values), calibration.cv if calibration is not None else None)
            if calibration is not None:
                allowed, source = calibration.allowed(), calibration.describe()
                if sigma > calibration.cv:
                    source += f"; steps placed at the series' own CV {sigma:.2%}"
            else:
                allowed = max(MIN_STEP, 3 * sigma)
                source = f"uncalibrated: CV {sigma:.2%} estimated from the series"
            for start, index, stop, p_value in find_steps(values, sigma=sigma):
                before = float(np.median(values[start:index]))
                after = float(np.median(values[index:stop]))
                first = picked.iloc[index]
                found.append(
                    ChangePoint(
                        case_id=case_id,
                        metric=metric,
                        machine=f"{first['machine']} ({fingerprint})",
                        index=index,
                        size=after / before - 1,
                        before=before,
                        after=after,
                        p_value=p_value,
                        first_run=str(first["label"]),
                        first_commit=str(first["git_commit"])[:12],
                        allowed=allowed,
                        noise=source,
                    )
                )
    return found


def newest_per_series(points: list[ChangePoint]) -> list[ChangePoint]:
    """The most recent step of each (case, metric, machine): the one that says where the case stands now."""
    newest: dict[tuple[str, str, str], ChangePoint] = {}
    for point in points:
        key = (point.case_id, point.metric, point.machine)
        if key not in newest or point.index > newest[key].index:
            newest[key] = point
    return list(newest.values())


def to_frame(points: list[ChangePoint]) -> pd.DataFrame:
    """The change points as a table for people."""
    return pd.DataFrame(
        [
            {
                "case": p.case_id,
                "metric": p.metric,
                "step": f"{p.size:+.1%}",
                "before": f"{p.before:.3f}",
                "after": f"{p.after:.3f}",
                "p": f"{p.p_value:.1e}",
                "first run after": p.first_run,
                "commit": p.first_commit,
                "allowed": f"{p.allowed:.1%}",
                "noise": p.noise,
                "verdict": "REGRESSION" if p.regression else ("worse, within noise" if p.worse else "better"),
            }
            for p in points
        ]
    )
