"""The statistics of paired ratios, and what a paired measurement reports (:class:`PairedSpeedup`).

Pure functions of lists of numbers (no torch, no clock), so that the paired
speedup (:mod:`hellotorch.measuring.paired`) and anything that re-reads its
pairs judge them by one definition.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from hellotorch import record
from hellotorch.measuring.host_load import LoadTally

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


@dataclass(frozen=True)
class PairedSpeedup:
    """eager time / compiled time, over interleaved blocks of steps."""

    median: float
    q1: float
    q3: float
    pairs: int
    steps_per_block: int
    eager_ms: float
    compiled_ms: float
    #: the 95 % confidence interval of the median ratio.
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    #: the median ratio over every pair, contended and slow-state ones too.
    all_pairs_median: float = float("nan")
    #: pairs left out because a probe around them read the threads' slow state.
    slow_state_pairs: int = 0
    #: "fast": read from fast-state pairs; "slow": too few of those, read from all; "unprobed": no monitor.
    thread_state: str = "unprobed"
    #: the uncontended reading: median ratio of the quietest tenth of the pairs the headline is read from.
    quiet_median: float = float("nan")
    #: pairs left out because other processes took CPU during them.
    contended_pairs: int = 0
    #: the machine's load over the pairs (None: not probed).
    host: LoadTally | None = None
    #: True when too few pairs were measured on a fit machine: the numbers are not a result.
    disturbed: bool = False

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_fields(self) -> dict[str, float | int | str]:
        """This measurement as the declared record fields (:mod:`hellotorch.record`)."""
        fields = record.fields(
            speedup=self.median,
            speedup_q1=self.q1,
            speedup_q3=self.q3,
            speedup_pairs=self.pairs,
            speedup_steps_per_block=self.steps_per_block,
            paired_eager_ms=self.eager_ms,
            paired_compiled_ms=self.compiled_ms,
            speedup_ci_low=self.ci_low,
            speedup_ci_high=self.ci_high,
            speedup_all_pairs=self.all_pairs_median,
            speedup_slow_state_pairs=self.slow_state_pairs,
            thread_state=self.thread_state,
            host_contended_pairs=self.contended_pairs,
        )
        if math.isfinite(self.quiet_median):
            fields.update(record.fields(speedup_quiet=self.quiet_median))
        return fields
