"""How steady is one reading of the host's speed, after other work, with each candidate workload?

The suite reads the host's speed (:mod:`hellotorch.measuring.host_speed`)
between other work: after a case's compile and warm-up, after its pairs.
This trial does the same in one process, on a quiet machine: ``--rounds``
times, for each workload in turn, it runs a case's steps for ``--busy``
seconds and then takes one reading (20 ms untimed, five 4 ms blocks, their
median), and prints each workload's readings: median, fastest-slowest,
spread and coefficient of variation. The host barely changes in a minute,
so a workload whose readings spread widely measures the work before it, not
the host. The workloads: the fixed torch workload of
:mod:`hellotorch.measuring.reference_workload` (PyTorch's threads) and the
suite's pure-Python loop.

    python bench/host_speed_trial.py [--case train-cpu-mlp-b64-adamw.forloop-float32-eager] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

from hellotorch.measuring.allocator import apply_allocator_policy
from hellotorch.measuring.host_speed import per_call_ms, python_loop
from hellotorch.measuring.reference_workload import reference_step
from hellotorch.profiles.named import build_profile
from hellotorch.suite.measure_case import build_setup
from hellotorch.training.devices import set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="train-cpu-mlp-b64-adamw.forloop-float32-eager")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--busy", type=float, default=1.0, help="seconds of the case's steps before each reading")
    args = parser.parse_args()
    apply_allocator_policy(steady=True)
    set_threads(None)
    (case,) = [case for case in build_profile("quick", devices=("cpu",)).cases if case.id == args.case]
    setup = build_setup(case)
    workloads = {"torch reference workload": reference_step("cpu"), "pure-Python loop": python_loop}
    readings: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(args.rounds):
        for name, workload in workloads.items():
            end = time.perf_counter() + args.busy
            while time.perf_counter() < end:
                setup.step(setup.batch)
            readings[name].append(per_call_ms(workload))
    print(f"{args.rounds} readings of each after {args.busy:g} s of {args.case}")
    print("| workload | median ms | fastest-slowest ms | spread | CV |")
    print("|:--|--:|:--|--:|--:|")
    for name, values in readings.items():
        median, cv = statistics.median(values), statistics.stdev(values) / statistics.mean(values)
        spread = max(values) / min(values) - 1
        print(f"| {name} | {median:.4f} | {min(values):.4f}-{max(values):.4f} | {spread:.1%} | {cv:.1%} |")


if __name__ == "__main__":
    main()
