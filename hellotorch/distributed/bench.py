"""Measure one distributed case: launch it under torchrun, hand its rounds to pytest-benchmark, check parity.

The ranks time their own steps (:mod:`hellotorch.distributed.worker`); the step is as
slow as its slowest rank, so each round's time is the maximum over the ranks.
pytest-benchmark still owns the statistics, the JSON and the comparison: the
suite gives each distributed case a :class:`SlowestRankTimer` as its
``timer``, loads the rounds into it, and lets ``benchmark.pedantic`` read them
round by round as it would read a clock.

On CPU, gloo's ranks share the machine's cores and its reduce-scatter is
emulated: the numbers are for correctness, parity and compile behaviour, not
for a cluster's speed (the record's ``note`` says so). CUDA with NCCL is the
lane for speed.
"""

from __future__ import annotations

from typing import Any

from hellotorch import record
from hellotorch.distributed.torchrun import Launch, LaunchFailed, launch_case
from hellotorch.parity.distributed import compare_with_one_process
from hellotorch.parity.losses import ParityReport
from hellotorch.profiles.cases import BenchCase, Profile
from hellotorch.settings import Measurement

CPU_LANE_NOTE = (
    "gloo on CPU: the ranks share this machine's cores and reduce-scatter is emulated; "
    "these timings check correctness and compile behaviour, not a cluster's speed"
)
#: default seconds a distributed case may take before its ranks are stopped.
DEFAULT_TIMEOUT_S = 600.0


class SlowestRankTimer:
    """A pytest-benchmark ``timer`` that replays rounds timed on the ranks.

    ``benchmark.pedantic`` reads the timer before and after each round; this
    one advances by the next loaded round time at each "after" reading.
    """

    __name__ = "slowest_rank_round"  # how pytest-benchmark names the timer in its JSON

    def __init__(self) -> None:
        self.load([])

    def load(self, rounds: list[float]) -> None:
        self._rounds, self._next, self._now, self._in_round = list(rounds), 0, 0.0, False

    def __call__(self) -> float:
        if self._in_round:
            self._now += self._rounds[self._next]
            self._next += 1
        self._in_round = not self._in_round
        return self._now


def _per_rank(values: list[Any], fmt: str = "{}") -> str:
    return " ".join(fmt.format(value) for value in values)


def _nothing() -> None:
    """The round pytest-benchmark "runs": the work happened on the ranks."""


def measure_distributed_case(
    case: BenchCase, *, profile: Profile, benchmark: Any, timer: SlowestRankTimer, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ParityReport:
    """Measure ``case`` into ``benchmark.extra_info``; return its parity report against one process.

    A case that does not finish raises :class:`LaunchFailed` with the reason.
    """
    extra = benchmark.extra_info
    report = launch_case(Launch(case, profile.measurement, timeout_s=timeout_s))
    rounds = report["round_seconds"]
    if not rounds:
        raise LaunchFailed("the ranks reported no timed rounds")
    timer.load(rounds)
    benchmark.pedantic(_nothing, rounds=len(rounds), iterations=1)
    median = benchmark.stats.stats.median
    ranks = report["ranks"]
    compile_s = [rank["compile_s"] for rank in ranks]
    extra.update(
        record.fields(
            threads=report["threads"],
            final_loss=report["losses"][-1],
            samples_per_s=case.batch_size / median,
            unique_graphs=max(rank["unique_graphs"] for rank in ranks),
            graph_breaks=max(rank["graph_breaks"] for rank in ranks),
            recompiles=max(rank["recompiles"] for rank in ranks),
            rank_graph_breaks=_per_rank([rank["graph_breaks"] for rank in ranks]),
            rank_recompiles=_per_rank([rank["recompiles"] for rank in ranks]),
            peak_memory_bytes=max(rank["peak_memory_bytes"] for rank in ranks),
            peak_memory_method=f"{report['memory_method']}, largest rank",
            rank_peak_memory_bytes=_per_rank([rank["peak_memory_bytes"] for rank in ranks]),
        )
    )
    if case.device == "cpu":
        extra.update(record.fields(note=CPU_LANE_NOTE))
    if case.compiled:
        extra.update(
            record.fields(
                compile_s=max(compile_s),  # training starts when the slowest rank has compiled
                compile_s_spread=max(compile_s) - min(compile_s),
                rank_compile_s=_per_rank(compile_s, "{:.2f}"),
                compile_cache=report["compile_cache"],
            )
        )
        extra.update(record.fields(**report["paired"]))
    else:
        extra.update(record.fields(speedup=1.0))
    parity = compare_with_one_process(case, report["losses"])
    return parity


def distributed_curve(case: BenchCase, *, steps: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Train ``case`` for ``steps`` steps on its ranks: the global loss per step and each rank's first call.

    ``hellotorch train --nproc`` and ``hellotorch parity --nproc`` run this.
    """
    measurement = Measurement(parity_steps=steps)  # the curve alone: nothing else is measured
    return launch_case(Launch(case, measurement, curve_only=True, timeout_s=timeout_s))
