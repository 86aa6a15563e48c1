"""Cross-check the suite's clock: does its median step time agree with other clocks?

Absolute step times move between processes and minutes on a shared machine,
so the three clocks are compared close together, in alternation: the suite
itself (``hellotorch bench --case ID`` in a subprocess, its pytest-benchmark
median), then a bare ``time.perf_counter`` loop and
``torch.utils.benchmark.Timer(...).blocked_autorange()`` on the same step
built the same way (:func:`hellotorch.suite.measure_case.build_setup`, ``warm_up``) in
this process; repeated ``--rounds`` times, the order rotating each round,
with a pause after each subprocess. It prints each clock's median over
the rounds and the ratios to the suite's:

    python bench/agreement.py [--profile quick] [--rounds 3] CASE_ID [CASE_ID ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.utils.benchmark as torch_benchmark

from hellotorch.measuring.allocator import apply_allocator_policy
from hellotorch.measuring.clock import synchronized_clock
from hellotorch.profiles.named import build_profile
from hellotorch.suite.measure_case import build_setup, warm_up
from hellotorch.training.devices import set_threads

LOOP_BLOCKS = 50
# The machine stays busy for a moment after the suite's subprocess exits;
# measured right then, an overhead-bound step read 45 % slow here.
SETTLE_SECONDS = 2.0


def suite_median_ms(profile: str, case_id: str) -> float:
    """The suite's own measurement of one case, in a fresh subprocess."""
    with tempfile.TemporaryDirectory() as results:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hellotorch",
                "bench",
                "--profile",
                profile,
                "--case",
                case_id,
                "--results",
                results,
                "--no-report",
                "--threads",
                str(torch.get_num_threads()),
            ],
            check=True,
            capture_output=True,
        )
        (run,) = Path(results).iterdir()
        raw = json.loads((run / "benchmark.json").read_text())
    return raw["benchmarks"][0]["stats"]["median"] * 1e3


def perf_counter_median_ms(setup, *, block_seconds: float = 0.01) -> float:
    """Median over blocks of consecutive steps, each block about ``block_seconds`` long."""
    start = synchronized_clock()
    for _ in range(5):
        setup.step(setup.batch)
    steps = max(1, round(block_seconds / ((synchronized_clock() - start) / 5)))
    blocks = []
    for _ in range(LOOP_BLOCKS):
        start = synchronized_clock()
        for _ in range(steps):
            setup.step(setup.batch)
        blocks.append((synchronized_clock() - start) / steps)
    return statistics.median(blocks) * 1e3


def timer_median_ms(setup) -> float:
    timer = torch_benchmark.Timer(
        stmt="step(batch)", globals={"step": setup.step, "batch": setup.batch}, num_threads=torch.get_num_threads()
    )
    return timer.blocked_autorange(min_run_time=1.0).median * 1e3


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("cases", nargs="+", metavar="CASE_ID")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    plan = build_profile(args.profile, only=args.cases)
    apply_allocator_policy(plan.measurement.steady_allocator)  # the suite's process conditions, not its clock
    cases = plan.cases
    print(f"{'case':<56} {'suite ms':>9} {'loop ms':>9} {'Timer ms':>9} {'loop/suite':>10} {'Timer/suite':>11}")
    for case in cases:
        setup = build_setup(case)
        warm_up(case, setup)
        clocks = {
            "suite": functools.partial(suite_median_ms, args.profile, case.id),
            "loop": functools.partial(perf_counter_median_ms, setup),
            "timer": functools.partial(timer_median_ms, setup),
        }
        samples: dict[str, list[float]] = {name: [] for name in clocks}
        order = list(clocks)
        for _ in range(args.rounds):
            for name in order:
                samples[name].append(clocks[name]())
                if name == "suite":
                    time.sleep(SETTLE_SECONDS)
            order = order[1:] + order[:1]  # rotate: no clock always runs right after another
        s, lo, t = (statistics.median(samples[name]) for name in clocks)
        print(f"{case.id:<56} {s:>9.4f} {lo:>9.4f} {t:>9.4f} {lo / s:>10.3f} {t / s:>11.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
