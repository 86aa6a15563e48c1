"""An independent check of the headline speedup: the same definition, measured another way, the same hour.

The suite's headline is the typical paired ratio: the median, over
interleaved eager/compiled measurements, of eager time / compiled time.
This check measures that quantity with PyTorch's own timer instead of the
suite's pairs: ``torch.utils.benchmark.Timer.blocked_autorange`` on the
eager step, then on the compiled step (then compiled, eager: the order
alternates), ``--alternations`` times, each ratio the two measurements'
medians; the check's value is the median of those ratios. It shares the
step with the suite (the model, batch and optimizer are built as the suite
builds them) and nothing of its timing or statistics. A step's speed
changes from one process to the next (the threads' placement, the
allocator's layout), so each method is measured in ``--processes`` fresh
processes, alternating the check and the suite (``hellotorch bench --case
ID``); it prints every reading, the two medians, their difference and
whether it is within ``--tolerance``:

    python bench/speedup_check.py [--profile bench/accuracy.toml] [--processes 3] [--tolerance 0.03] CASE_ID [CASE_ID ...]

Exit 0 when every case agrees, 1 when one does not (run it on a quiet machine).
"""

from __future__ import annotations

import argparse
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
from hellotorch.profiles.named import build_profile
from hellotorch.suite.measure_case import build_setup, warm_up
from hellotorch.training.devices import set_threads

HERE = Path(__file__).resolve().parent
SETTLE_S = 2.0


def suite_speedup(profile: str, case_id: str) -> dict:
    """The suite's record of one case, measured in a fresh process."""
    with tempfile.TemporaryDirectory() as results:
        command = [sys.executable, "-m", "hellotorch", "bench", "--profile", profile, "--case", case_id]
        command += ["--results", results, "--no-report", "--threads", str(torch.get_num_threads())]
        subprocess.run(command, check=False, capture_output=True)
        (run,) = Path(results).glob("run-*")
        (bench,) = json.loads((run / "benchmark.json").read_text())["benchmarks"]
    return bench["extra_info"]


def timer_speedup(eager, compiled, *, alternations: int, min_run_time: float) -> float:
    """Median over alternations of eager median / compiled median, each from ``blocked_autorange``."""

    def measure(setup) -> float:
        timer = torch_benchmark.Timer(
            stmt="step(batch)", globals={"step": setup.step, "batch": setup.batch}, num_threads=torch.get_num_threads()
        )
        return timer.blocked_autorange(min_run_time=min_run_time).median

    ratios = []
    for index in range(alternations):
        if index % 2 == 0:
            e, c = measure(eager), measure(compiled)
        else:
            c, e = measure(compiled), measure(eager)
        ratios.append(e / c)
    return statistics.median(ratios)


def check_in_process(profile: str, case_id: str, *, alternations: int, min_run_time: float) -> float:
    """The check's reading of one case, in this process: build, warm, then alternate the timer's measurements."""
    plan = build_profile(profile, only=[case_id])
    # The process's conditions are the suite's (its allocator policy, its threads); its timing is not.
    apply_allocator_policy(plan.measurement.steady_allocator)
    (case,) = plan.cases
    compiled = build_setup(case)
    warm_up(case, compiled)
    eager = build_setup(case.eager_twin())
    warm_up(case.eager_twin(), eager)
    return timer_speedup(eager, compiled, alternations=alternations, min_run_time=min_run_time)


def check_speedup(args: argparse.Namespace, case_id: str) -> float:
    """The check's reading of one case, measured in a fresh process (as the suite's is)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--in-process", case_id, "--profile", args.profile]
    command += ["--alternations", str(args.alternations), "--min-run-time", str(args.min_run_time)]
    command += ["--threads", str(torch.get_num_threads())]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("cases", nargs="+", metavar="CASE_ID")
    parser.add_argument("--profile", default=str(HERE / "accuracy.toml"))
    parser.add_argument("--processes", type=int, default=3, help="fresh processes of each method per case")
    parser.add_argument("--alternations", type=int, default=40)
    parser.add_argument("--min-run-time", type=float, default=0.1)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.in_process:
        (case_id,) = args.cases
        print(check_in_process(args.profile, case_id, alternations=args.alternations, min_run_time=args.min_run_time))
        return 0
    cases = build_profile(args.profile, only=args.cases).cases
    print("| case | suite (typical), per process | check, per process | suite | check | suite / check | verdict |")
    print("|:--|:--|:--|--:|--:|--:|:--|")
    failed = 0
    for case in cases:
        suite, check, disturbed = [], [], False
        for index in range(args.processes):
            # The order alternates, so a drift over the case's minutes favours neither method.
            for method in ("check", "suite") if index % 2 == 0 else ("suite", "check"):
                time.sleep(SETTLE_S)
                if method == "check":
                    check.append(check_speedup(args, case.id))
                else:
                    record = suite_speedup(args.profile, case.id)
                    disturbed |= record.get("host_state") == "disturbed"
                    suite.append(record["speedup"])
        off = statistics.median(suite) / statistics.median(check) - 1
        ok = abs(off) <= args.tolerance and not disturbed
        failed += not ok
        print(
            f"| {case.id} | {', '.join(f'{v:.3f}' for v in suite)} | {', '.join(f'{v:.3f}' for v in check)} | "
            f"{statistics.median(suite):.3f} | {statistics.median(check):.3f} | {off:+.1%} | "
            f"{'agrees' if ok else 'DISAGREES'}{' (suite: disturbed)' if disturbed else ''} |",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
