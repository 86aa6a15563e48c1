"""The statistics of paired ratios: quartiles, the median's distribution-free interval, the quiet subset.

Pure functions of lists of numbers (no torch, no clock), so that the paired
speedup (:mod:`hellotorch.measuring.paired`) and anything that re-reads its
pairs judge them by one definition.
"""

from __future__ import annotations

import math
import statistics

#: The share of pairs, least disturbed first, the adaptive speedup is read from ...
QUIET_FRACTION = 0.1
#: ... and never fewer pairs than this.
MIN_QUIET_PAIRS = 10


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def median_interval(values: list[float], *, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median: two order statistics (scipy's quantile test).

    It assumes nothing about the shape of the ratios' distribution, which on
    a shared machine has a long tail of disturbed blocks.
    """
    from scipy.stats import quantile_test

    if len(values) < 6:  # below 6 values no pair of order statistics reaches 95 %
        return min(values), max(values)
    interval = quantile_test(values, q=statistics.median(values), p=0.5).confidence_interval(confidence)
    low = interval.low if math.isfinite(interval.low) else min(values)
    high = interval.high if math.isfinite(interval.high) else max(values)
    return float(low), float(high)


def relative_half_width(values: list[float]) -> float:
    """Half the width of the median's 95 % interval, as a fraction of the median."""
    low, high = median_interval(values)
    return (high - low) / 2 / statistics.median(values)


def quiet_ratios(eager_times: list[float], compiled_times: list[float]) -> list[float]:
    """The ratios of the least disturbed pairs: ``QUIET_FRACTION`` of them, at least ``MIN_QUIET_PAIRS``."""
    eager_median, compiled_median = statistics.median(eager_times), statistics.median(compiled_times)
    disturbance = [e / eager_median + c / compiled_median for e, c in zip(eager_times, compiled_times)]
    keep = max(MIN_QUIET_PAIRS, round(QUIET_FRACTION * len(eager_times)))
    quietest = sorted(range(len(eager_times)), key=disturbance.__getitem__)[:keep]
    return [eager_times[i] / compiled_times[i] for i in quietest]
