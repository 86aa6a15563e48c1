"""``hellotorch bench``: run a profile of the pytest-benchmark suite into a new run folder.

The suite itself lives in ``bench/``; this command names the run folder,
starts pytest there, lets an interrupted run finish writing, lists what
failed and builds the report.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from hellotorch.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"


def _bench_command(args: argparse.Namespace, run_dir: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCH_DIR),
        "-p",
        "no:cacheprovider",
        "-v",
        "-rfEs",
        f"--hellotorch-profile={args.profile}",
        f"--hellotorch-device={args.device}",
        f"--hellotorch-run-dir={run_dir}",
        f"--benchmark-json={run_dir / 'benchmark.json.partial'}",
        "--benchmark-columns=median,iqr,rounds",
        "--benchmark-sort=name",
    ]
    if args.threads:
        command.append(f"--hellotorch-threads={args.threads}")
    if args.keyword:
        command += ["-k", args.keyword]
    command += [f"--hellotorch-case={case}" for case in args.case]
    return command


def cmd_bench(args: argparse.Namespace) -> int:
    from hellotorch.cases import build_profile
    from hellotorch.runfiles import BENCHMARK_JSON, new_run_dir, read_journal

    if args.device not in ("cpu", "cuda", "all"):
        raise ValueError(f"unknown device {args.device!r}; choose one of: cpu, cuda, all")
    devices = ("cpu", "cuda") if args.device == "all" else (args.device,)
    profile = build_profile(args.profile, devices=devices, only=args.case)
    if not BENCH_DIR.is_dir():
        raise ValueError(f"benchmark suite not found at {BENCH_DIR}; run from a hellotorch checkout")
    run_dir = new_run_dir(Path(args.results), device=args.device, profile=args.profile)
    print(
        f"hellotorch bench: profile {profile.name} ({len(profile.cases)} cases) on {args.device} -> {run_dir}",
        flush=True,
    )
    child = subprocess.Popen(_bench_command(args, run_dir), cwd=REPO_ROOT)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reaches pytest too (same process group): give it time to write
        # what it has; forward the signal only if it did not get one.
        try:
            code = child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
            code = child.wait()
    finished = read_journal(run_dir)
    failed = [r for r in finished if r["extra_info"].get("status") not in ("ok", None)]
    raw = run_dir / BENCHMARK_JSON
    if not finished and code in (0, 5):  # 5: pytest collected nothing (-k matched no case)
        print(f"hellotorch bench: no case ran in {run_dir} (skipped or deselected; reasons above)")
        return EXIT_OK if code == 0 else EXIT_BAD_INPUT
    print(
        f"hellotorch bench: {len(finished)}/{len(profile.cases)} cases finished, {len(failed)} failed; "
        f"{'wrote ' + str(raw) if raw.is_file() else 'no complete benchmark.json (see cases.jsonl)'}"
    )
    for record in failed:
        info = record["extra_info"]
        print(f"  FAILED {record['id']}: {info.get('failure') or info.get('parity_reason') or info.get('status')}")
    if raw.is_file() and not args.no_report:
        from hellotorch.cli_results import cmd_report

        cmd_report(argparse.Namespace(run=str(run_dir)))
    return EXIT_OK if code == 0 else EXIT_FAILED
