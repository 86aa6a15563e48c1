"""The statistics of an A/B: each case's ratio head/base over the pairs, its interval, outliers and p-values.

Per case and pair, head/base of the step time; over pairs, the geometric
mean with a Student-t interval on the log ratios (pairs are independent
processes, and a ratio of times is symmetric in logs). A lone pair far
from the others is left out (:func:`outlier_pairs`). Each case's one-sided
p-values come from the same t (:func:`one_sided_p_values`), and
:func:`across_cases` adjusts them together over every case compared
(Benjamini-Hochberg), so that many cases are not many chances of a false
alarm. :mod:`hellotorch.ab.run` turns them into verdicts.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from hellotorch.ab.sides import MIN_PAIRS


def ratio_interval(base: list[float], head: list[float], *, confidence: float) -> tuple[float, float, float]:
    """(geometric-mean ratio head/base, interval low, high) over the pairs.

    The interval is two-sided at ``2 * confidence - 1`` (90 % for 0.95): its
    ends are the one-sided bounds at ``confidence``. The question a verdict
    asks is one-sided (is head slower? is it faster?), and a two-sided
    interval at the same confidence would need, with 3 pairs, t = 4.30
    where one side needs 2.92.
    """
    from scipy import stats

    logs = [math.log(h / b) for b, h in zip(base, head)]
    mean = sum(logs) / len(logs)
    if len(logs) < 2:
        return math.exp(mean), 0.0, math.inf
    spread = stats.tstd(logs) / math.sqrt(len(logs)) if len(set(logs)) > 1 else 0.0
    half = stats.t.ppf(confidence, df=len(logs) - 1) * spread
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


#: A pair whose log ratio lies further from the pairs' median than this many robust sigmas (MAD) ...
OUTLIER_Z = 4.0
#: ... and further than this fraction is left out, up to a quarter of the pairs (rounded up).
OUTLIER_FLOOR = 0.05


def outlier_pairs(base: list[float], head: list[float]) -> list[int]:
    """The pairs whose ratio lies far apart from the others': a process that ran in a state of its own.

    A process can run one step slower for its whole life while the fast-state
    probe reads nothing: in the fifth regression trials one A/A process of 12
    ran the compiled step 13 % slower in reference units than the rest (and
    its own paired speedup 11 % lower), and that one pair widened the t
    interval over 6 pairs from [0.979, 1.021] to [0.943, 1.022] (the case
    stayed undecided either way: no verdict of those 36 trials changed).
    A lone pair like it can hide a real 5 % slowdown behind an interval
    that holds 1. A real change moves every pair's ratio, and the median with
    them, so it is never left out; a drift of the machine falls on both
    processes of a pair and leaves its ratio alone. Only a lone pair far
    from the rest, by ``OUTLIER_Z`` robust sigmas and ``OUTLIER_FLOOR``, is
    left out (``scipy.stats.median_abs_deviation``), and only from more than
    ``MIN_PAIRS`` pairs, so that at least that many are always kept: with 3,
    a pair far from two that agree leaves the case undecided, and a fourth
    pair is run. Two clusters are not outliers: their MAD is as wide as the
    gap between them.
    """
    from scipy.stats import median_abs_deviation

    if len(base) <= MIN_PAIRS:  # so at least MIN_PAIRS are always kept
        return []
    logs = [math.log(h / b) for b, h in zip(base, head)]
    center = statistics.median(logs)
    limit = max(OUTLIER_Z * float(median_abs_deviation(logs, scale="normal")), math.log1p(OUTLIER_FLOOR))
    far = sorted((i for i in range(len(logs)) if abs(logs[i] - center) > limit), key=lambda i: -abs(logs[i] - center))
    return sorted(far[: math.ceil(len(logs) / 4)])


@dataclass(frozen=True)
class Estimate:
    """One case's head/base ratio over the pairs kept, with its interval and one-sided p-values."""

    ratio: float
    low: float
    high: float
    left_out: int
    #: one-sided p-value of "head is slower" (log ratio > 0), and of "head is faster".
    p_slower: float
    p_faster: float


def one_sided_p_values(logs: list[float]) -> tuple[float, float]:
    """(p of head slower, p of head faster): one-sample t-tests of the log ratios against 0.

    The same t as :func:`ratio_interval`'s, so a p_slower under
    ``1 - confidence`` is an interval whose low end lies above 1. Pairs that
    all agree exactly (no spread) have no t: the sign decides.
    """
    from scipy import stats

    mean = sum(logs) / len(logs)
    if len(logs) < 2 or len(set(logs)) == 1:
        return (0.0, 1.0) if mean > 0 else (1.0, 0.0) if mean < 0 else (1.0, 1.0)
    slower = float(stats.ttest_1samp(logs, 0.0, alternative="greater").pvalue)
    return slower, 1.0 - slower


def estimate(base: list[float], head: list[float], *, confidence: float) -> Estimate:
    """:func:`ratio_interval` and :func:`one_sided_p_values` over the pairs that are not outliers."""
    pairs = min(len(base), len(head))
    left_out = set(outlier_pairs(base[:pairs], head[:pairs]))
    kept = [i for i in range(pairs) if i not in left_out]
    kept_base, kept_head = [base[i] for i in kept], [head[i] for i in kept]
    ratio, low, high = ratio_interval(kept_base, kept_head, confidence=confidence)
    p_slower, p_faster = one_sided_p_values([math.log(h / b) for b, h in zip(kept_base, kept_head)])
    return Estimate(ratio, low, high, len(left_out), p_slower, p_faster)


def across_cases(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: the false discovery rate over all cases compared, not per case."""
    from scipy.stats import false_discovery_control

    return [float(p) for p in false_discovery_control(p_values, method="bh")] if p_values else []
