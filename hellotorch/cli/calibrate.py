"""``hellotorch calibrate``: run the same code N times and store each case's run-to-run noise for this machine.

Each run is a normal ``bench`` run (a fresh pytest process, its own run
folder, recorded in the history). ``--from-runs`` calibrates from finished
runs of the same code instead, without running anything: the base side's
runs of past A/Bs, say, which span days where N runs in a row span minutes,
and a machine drifts more over days. After the last one, each case's CV per
metric (:mod:`hellotorch.noise`) is stored in the history for this machine
fingerprint and thread count, and ``--baseline`` pins the median of the
runs as the baseline the gate compares with. Exit 0 when calibrated, 1 when
a run had a failed case (nothing stored), 2 on bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hellotorch.cli.options import add_case_selection, non_empty, positive_int
from hellotorch.errors import ExitCode

DEFAULT_RUNS = 5


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="run a profile N times; store each case's run-to-run noise for this machine"
    )
    add_case_selection(calibrate)
    calibrate.add_argument(
        "--runs", type=positive_int, default=None, help=f"runs of the same code (default {DEFAULT_RUNS})"
    )
    calibrate.add_argument(
        "--from-runs",
        nargs="+",
        default=None,
        metavar="RUN",
        help="calibrate from these finished run folders of the same code (e.g. past A/B base runs) instead of running",
    )
    calibrate.add_argument("--results", type=non_empty, default="results", help="where run folders go")
    calibrate.add_argument(
        "--history", type=non_empty, default=None, help="history database (default <results>/history.sqlite)"
    )
    calibrate.add_argument(
        "--baseline", type=non_empty, default=None, metavar="PATH", help="also pin the runs' median as this baseline"
    )
    calibrate.set_defaults(handler=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from hellotorch.errors import BadInput
    from hellotorch.files import check_output_dir, check_output_file, write_text_atomic
    from hellotorch.history import check_history, open_history, record_run, run_facts
    from hellotorch.noise import MIN_RUNS, calibrate, store_noise
    from hellotorch.results import load_run, pin_baseline
    from hellotorch.suite import run_suite
    from hellotorch.table import markdown

    if args.from_runs is not None and args.runs is not None:
        raise BadInput("--runs and --from-runs: give one (--from-runs runs nothing)")
    count = len(args.from_runs) if args.from_runs is not None else args.runs or DEFAULT_RUNS
    if count < MIN_RUNS:
        option = "--from-runs" if args.from_runs is not None else "--runs"
        raise BadInput(f"{option}: calibration needs at least {MIN_RUNS} runs, got {count}")
    check_output_dir(args.results, option="--results")
    history_path = check_history(args.history or Path(args.results) / "history.sqlite")
    baseline_path = check_output_file(args.baseline, option="--baseline")
    runs = [load_run(path) for path in args.from_runs or ()]
    if runs:
        calibrate(runs)  # refuses mixed code, machines or unfinished runs before anything is stored
        for run in runs:
            record_run(history_path, run)
    for index in range(count if not runs else 0):
        print(f"hellotorch calibrate: run {index + 1}/{count}", flush=True)
        outcome = run_suite(
            profile=args.profile,
            device=args.device,
            results_root=args.results,
            cases=args.case,
            keyword=args.keyword,
            threads=args.threads,
        )
        if outcome.interrupted:
            print(f"hellotorch calibrate: interrupted; nothing stored ({outcome.run_dir} kept)")
            return ExitCode.INTERRUPTED
        run = load_run(outcome.run_dir)
        record_run(history_path, run)
        if outcome.failed:
            for failure in outcome.failed:
                print(f"  FAILED {failure['id']}: {failure['reason']}")
            print("hellotorch calibrate: a case failed; a failing case has no noise to calibrate, nothing stored")
            return ExitCode.CHECK_FAILED
        runs.append(run)
    noises = calibrate(runs)
    facts = run_facts(runs[0])
    connection = open_history(history_path)
    try:
        store_noise(connection, fingerprint=facts.machine_fingerprint, threads=facts.threads, noises=noises)
    finally:
        connection.close()
    rows = [
        {
            "case": n.case_id,
            "metric": n.metric,
            "median": f"{n.center:.4g}",
            "CV": f"{n.cv:.2%}",
            "gate allows": f"{n.allowed():.1%}",
        }
        for n in noises
    ]
    print(markdown(pd.DataFrame(rows)))
    print(
        f"hellotorch calibrate: stored {len(noises)} case noise(s) for machine {facts.machine_fingerprint} "
        f"(threads {facts.threads}) in {history_path}"
    )
    if baseline_path is not None:
        write_text_atomic(baseline_path, json.dumps(pin_baseline(runs), indent=1))
        print(f"hellotorch calibrate: pinned the median of the {len(runs)} runs as {baseline_path}")
    return ExitCode.OK
