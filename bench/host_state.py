"""Watch the host's cross-core state move a case's paired speedup, window after window.

One process, one case of the ``quick`` profile (default: the MLP at batch 16
with AdamW, whole step compiled), measured again and again in short windows
with the profile's pair settings. Each window prints the
paired speedup, both arms' step times and the cost of one parallel region
(:func:`hellotorch.measuring.thread_state.parallel_region_us`, probed just before it), so a
state that lasts tens of seconds shows as a run of windows:

    python bench/host_state.py --windows 60            # PyTorch's threads
    python bench/host_state.py --windows 60 --threads 1

It is a benchmark: run it alone. What it showed on this project's machine is
in docs/trials.md ("Pinning the threads to cores"); to see the
threads bound, prefix ``OMP_PROC_BIND=true OMP_PLACES=cores``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=2.0, help="of pairs per window")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default PyTorch's)")
    parser.add_argument("--batch", type=int, default=16, choices=(16, 64, 256), help="of quick's MLP sweep")
    args = parser.parse_args()

    from hellotorch.measuring.paired import paired_speedup
    from hellotorch.measuring.thread_state import parallel_region_us
    from hellotorch.profiles.named import build_profile
    from hellotorch.suite.measure_case import WARMUP_STEPS, build_setup
    from hellotorch.training.devices import set_threads

    if args.threads:
        set_threads(args.threads)  # before anything compiles: Inductor specialises to it
    quick = build_profile("quick")
    case = next(
        c for c in quick.cases if c.model == "mlp" and c.batch_size == args.batch and c.compiled and c.scope == "step"
    )
    compiled, eager = build_setup(case), build_setup(case.eager_twin())
    for _ in range(WARMUP_STEPS):
        compiled.step(compiled.batch)
        eager.step(eager.batch)
    print("| window | s | speedup | eager ms | compiled ms | parallel region us |")
    print("|--:|--:|--:|--:|--:|--:|")
    started, speedups = time.monotonic(), []
    for window in range(args.windows):
        region = parallel_region_us()
        paired = paired_speedup(
            eager.step,
            eager.batch,
            compiled.step,
            compiled.batch,
            pairs=quick.pairs,
            target_ci=quick.measurement.speedup_ci,
            max_pairs=quick.measurement.max_pairs,
            max_seconds=args.seconds,
        )
        speedups.append(paired.median)
        print(
            f"| {window} | {time.monotonic() - started:.0f} | {paired.median:.3f} | {paired.eager_ms:.3f}"
            f" | {paired.compiled_ms:.3f} | {'-' if region is None else f'{region:.2f}'} |",
            flush=True,
        )
    if len(speedups) > 1:
        cv = statistics.stdev(speedups) / statistics.mean(speedups)
        print(f"\nspeedup over {len(speedups)} windows: {min(speedups):.3f}-{max(speedups):.3f}, CV {cv:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
