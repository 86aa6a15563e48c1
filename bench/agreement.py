"""Cross-check the suite's clock: does its median step time agree with other clocks?

For the named cases of a finished run, this rebuilds each step exactly as the
suite does (:func:`hellotorch.benchrun.build_setup` and ``warm_up``), then
times it with a bare ``time.perf_counter`` loop and with
``torch.utils.benchmark.Timer(...).blocked_autorange()``, and prints all
three medians side by side. Run it on a quiet machine right after the run:

    python bench/agreement.py RUN_FOLDER CASE_ID [CASE_ID ...]
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.utils.benchmark as torch_benchmark

from hellotorch.benchrun import build_setup, warm_up
from hellotorch.cases import BenchCase
from hellotorch.devices import set_threads
from hellotorch.results import load_run
from hellotorch.timing import synchronized_clock

LOOP_BLOCKS = 50


def perf_counter_median_ms(setup, *, block_seconds: float = 0.01) -> float:
    """Median over blocks of consecutive steps, like pytest-benchmark's rounds."""
    single = statistics.median(_time_one(setup) for _ in range(5))
    steps = max(1, round(block_seconds / single))
    blocks = []
    for _ in range(LOOP_BLOCKS):
        start = synchronized_clock()
        for _ in range(steps):
            setup.step(setup.batch)
        blocks.append((synchronized_clock() - start) / steps)
    return statistics.median(blocks) * 1e3


def _time_one(setup) -> float:
    start = time.perf_counter()
    setup.step(setup.batch)
    return time.perf_counter() - start


def timer_median_ms(setup) -> float:
    timer = torch_benchmark.Timer(
        stmt="step(batch)", globals={"step": setup.step, "batch": setup.batch}, num_threads=torch.get_num_threads()
    )
    return timer.blocked_autorange(min_run_time=1.0).median * 1e3


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    run = load_run(argv[0])
    set_threads(int(run.machine.get("threads", torch.get_num_threads())))
    records = {record["id"]: record for record in run.records}
    print(f"{'case':<62} {'suite ms':>9} {'loop ms':>9} {'Timer ms':>9} {'loop/suite':>10} {'Timer/suite':>11}")
    for case_id in argv[1:]:
        record = records[case_id]
        fields = {key: record[key] for key in BenchCase.__dataclass_fields__}
        setup = build_setup(BenchCase(**fields))
        warm_up(BenchCase(**fields), setup)
        suite = record["median_s"] * 1e3
        loop, timer = perf_counter_median_ms(setup), timer_median_ms(setup)
        print(f"{case_id:<62} {suite:>9.4f} {loop:>9.4f} {timer:>9.4f} {loop / suite:>10.3f} {timer / suite:>11.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
