"""``hellotorch calibrate``: run the same code N times and store each case's run-to-run noise for this machine.

Each run is a normal ``bench`` run (a fresh pytest process, its own run
folder, recorded in the history). ``--from-runs`` calibrates from finished
runs of the same code instead, without running anything: the base side's
runs of past A/Bs, say, which span days where N runs in a row span minutes,
and a machine drifts more over days. After the last one, each case's CV per
metric (:mod:`hellotorch.gate.noise`) is stored in the history for this machine
fingerprint and thread count, and ``--baseline`` pins the median of the
runs as the baseline the gate compares with. Exit 0 when calibrated, 1 when
a run had a failed case (nothing stored), 2 on bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse

from hellotorch.cli.options import add_case_selection, add_store_options, history_of, non_empty, positive_int
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
    add_store_options(calibrate)
    calibrate.add_argument(
        "--baseline", type=non_empty, default=None, metavar="PATH", help="also pin the runs' median as this baseline"
    )
    calibrate.set_defaults(handler=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from hellotorch.errors import BadInput
    from hellotorch.files import check_output_dir, check_output_file, write_text_atomic
    from hellotorch.gate.noise import MIN_RUNS
    from hellotorch.history.store import check_history
    from hellotorch.results.runs import load_run, pin_baseline
    from hellotorch.results.table import markdown
    from hellotorch.suite.calibration import SuiteRequest, calibrate_machine

    if args.from_runs is not None and args.runs is not None:
        raise BadInput("--runs and --from-runs: give one (--from-runs runs nothing)")
    count = len(args.from_runs) if args.from_runs is not None else args.runs or DEFAULT_RUNS
    if count < MIN_RUNS:
        option = "--from-runs" if args.from_runs is not None else "--runs"
        raise BadInput(f"{option}: calibration needs at least {MIN_RUNS} runs, got {count}")
    check_output_dir(args.results, option="--results")
    history_path = check_history(history_of(args))
    baseline_path = check_output_file(args.baseline, option="--baseline")
    request = SuiteRequest(
        profile=args.profile,
        device=args.device,
        results_root=args.results,
        cases=tuple(args.case),
        keyword=args.keyword,
        threads=args.threads,
    )
    result = calibrate_machine(
        history=history_path,
        finished=[load_run(path) for path in args.from_runs or ()],
        count=count,
        request=request,
        progress=lambda line: print(f"hellotorch calibrate: {line}", flush=True),
    )
    if result.stopped == "interrupted":
        print(f"hellotorch calibrate: interrupted; nothing stored ({result.stopped_run} kept)")
        return ExitCode.INTERRUPTED
    if result.stopped == "failed":
        for failure in result.failed:
            print(f"  FAILED {failure['id']}: {failure['reason']}")
        print("hellotorch calibrate: a case failed; a failing case has no noise to calibrate, nothing stored")
        return ExitCode.CHECK_FAILED
    noises, runs = result.noises, result.runs
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
        f"hellotorch calibrate: stored {len(noises)} case noise(s) for machine {result.machine} "
        f"(threads {result.threads}) in {history_path}"
    )
    if baseline_path is not None:
        write_text_atomic(baseline_path, json.dumps(pin_baseline(runs), indent=1))
        print(f"hellotorch calibrate: pinned the median of the {len(runs)} runs as {baseline_path}")
    return ExitCode.OK
