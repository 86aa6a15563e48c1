"""A profile as N shards through submitit: SLURM jobs on a cluster, or one after another on this machine.

    python examples/engines/slurm_submitit.py --profile quick --shards 3 --results results/fleet
    python examples/engines/slurm_submitit.py --profile full --shards 8 --results /shared/hellotorch \\
        --cluster slurm --partition cpu --cpus-per-task 16 --timeout-min 120

Each shard is ``hellotorch bench --shard I/N --matrix-id ID`` in a job of
its own, its run folder under ``<results>/<matrix-id>/shard-I/``. When every
job has ended, this script merges their run folders (``hellotorch merge``)
into ``<results>/<matrix-id>/merged``, which ``report``, ``compare``,
``gate`` and ``history ingest`` read like any run.

``--cluster local`` (the default) runs the same job code through submitit's
local executor, one shard at a time: two benchmarks at once on one machine
ruin both. On SLURM the shards are one job array and run side by side, each
on its own node.

Each shard writes its history to a node-local temporary file, never to the
shared folder: SQLite's locking does not work over a network file system.
Folders travel; the host that merges ingests the merged run into its own
history (``hellotorch history ingest <results>/<matrix-id>/merged``).

Exit status: the merge's when it fails (2: a shard is missing, doubled or
foreign, named in its line), else the first shard's that was not 0 (1: a
case failed, 2: a case was disturbed or the input was bad, 130:
interrupted), else 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def bench_shard(index: int, count: int, matrix_id: str, profile: str, results: str, extra: list[str]) -> int:
    """One job: shard ``index + 1`` of ``count``, run by hellotorch's own command line in this process."""
    from hellotorch.cli import main

    shard_dir = Path(results, matrix_id, f"shard-{index + 1}")
    history = Path(tempfile.gettempdir(), f"hellotorch-{matrix_id}-shard{index + 1}.sqlite")
    argv = ["bench", "--profile", profile, "--shard", f"{index + 1}/{count}", "--matrix-id", matrix_id]
    return main([*argv, "--results", str(shard_dir), "--history", str(history), "--no-report", *extra])


def executor_for(args: argparse.Namespace):
    import submitit

    executor = submitit.AutoExecutor(folder=Path(args.results, args.matrix_id, "submitit"), cluster=args.cluster)
    parameters = {"timeout_min": args.timeout_min, "name": f"hellotorch-{args.matrix_id}"}
    if args.cpus_per_task:
        parameters["cpus_per_task"] = args.cpus_per_task
    if args.gpus_per_node is not None:
        parameters["gpus_per_node"] = args.gpus_per_node
    if args.partition:
        parameters["slurm_partition"] = args.partition
    if args.cluster == "slurm":
        parameters["slurm_array_parallelism"] = args.shards
    executor.update_parameters(**parameters)
    return executor


def run_shards(args: argparse.Namespace, extra: list[str]) -> list[int]:
    """Every shard's exit status, in shard order."""
    executor = executor_for(args)
    common = (args.shards, args.matrix_id, args.profile, args.results, extra)
    if args.cluster == "slurm":
        indices = list(range(args.shards))
        jobs = executor.map_array(bench_shard, indices, *[[value] * args.shards for value in common])
        print(f"submitted job array {jobs[0].job_id.split('_')[0]} ({args.shards} shards)", flush=True)
        return [job.result() for job in jobs]
    codes = []
    for index in range(args.shards):  # one at a time: benchmarks side by side on one machine ruin each other
        started = time.monotonic()
        job = executor.submit(bench_shard, index, *common)
        codes.append(job.result())
        print(
            f"shard {index + 1}/{args.shards}: exit {codes[-1]} after {time.monotonic() - started:.0f} s "
            f"(job {job.job_id}, log {job.paths.stdout})",
            flush=True,
        )
    return codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--results", default="results/shards")
    parser.add_argument("--matrix-id", default=None, help="default: <profile>-<date and time>")
    parser.add_argument("--cluster", choices=["local", "slurm"], default="local")
    parser.add_argument("--partition", default=None)
    parser.add_argument("--cpus-per-task", type=int, default=None)
    parser.add_argument("--gpus-per-node", type=int, default=None)
    parser.add_argument("--timeout-min", type=int, default=120)
    args, extra = parser.parse_known_args(argv)  # anything else goes to every `hellotorch bench`
    if args.shards < 1:
        parser.error("--shards: at least 1")
    args.matrix_id = args.matrix_id or f"{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.monotonic()
    codes = run_shards(args, extra)
    print(f"{args.shards} shards ended in {time.monotonic() - started:.0f} s: exit statuses {codes}", flush=True)

    from hellotorch.cli import main as hellotorch

    matrix = Path(args.results, args.matrix_id)
    folders = sorted(str(run) for run in matrix.glob("shard-*/run-*") if (run / "benchmark.json").is_file())
    if not folders:
        print(f"error: no shard left a finished run under {matrix} (job logs: {matrix / 'submitit'})", file=sys.stderr)
        return 2
    merged = hellotorch(["merge", *folders, "--output", str(matrix / "merged")])
    if merged != 0:
        return merged
    print(f"merged run: {matrix / 'merged'}; store it with `hellotorch history ingest {matrix / 'merged'}`")
    return next((code for code in codes if code != 0), 0)


if __name__ == "__main__":
    sys.exit(main())
