"""``hellotorch bench``: run a profile into a new run folder, then report it.

Exit 0 when every case ran and passed parity, 1 when a case failed, 2 when
the request is bad or nothing can run (no run folder is left then) or when a
case was disturbed (the machine stayed busy; the run is kept, marked), 130 when
interrupted (the finished cases are kept, the one in progress is recorded as
interrupted).
"""

from __future__ import annotations

import argparse
import sys

from hellotorch.cli.options import (
    add_case_selection,
    add_store_options,
    history_of,
    non_empty,
    positive_float,
    positive_int,
)
from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="run a benchmark profile into a new run folder, then report it")
    add_case_selection(bench)
    bench.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        type=non_empty,
        metavar="NAME",
        help="instead of a profile: this model (or package.module:factory) eager and compiled (repeatable)",
    )
    bench.add_argument(
        "--nproc", type=positive_int, default=None, help="ranks of the profile's distributed cases (torchrun)"
    )
    bench.add_argument(
        "--dist-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop a distributed case's ranks after this long and record it failed (default 600)",
    )
    bench.add_argument("--no-report", action="store_true", help="skip the tables and plots")
    bench.add_argument("--long", action="store_true", help="run a plan estimated at more than 6 hours")
    bench.add_argument(
        "--shard",
        type=non_empty,
        default=None,
        metavar="I/N",
        help="run slice I of N of the plan (a CI matrix, an Indexed Job, SLURM); `hellotorch merge` joins them",
    )
    bench.add_argument(
        "--matrix-id",
        type=non_empty,
        default=None,
        help="the id every shard of one plan shares (default: from the profile, its cases and the commit)",
    )
    add_store_options(bench)
    bench.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_dir
    from hellotorch.history.store import HistoryError, check_history, record_run
    from hellotorch.results.machines import host_speed_line
    from hellotorch.results.report import build_report
    from hellotorch.results.runs import load_run
    from hellotorch.suite.launch import (
        PYTEST_INTERRUPTED,
        PYTEST_LOG,
        PYTEST_NO_TESTS,
        PYTEST_OK,
        PYTEST_STATUSES,
        PYTEST_TESTS_FAILED,
        run_suite,
    )
    from hellotorch.suite.shards import Shard

    if args.matrix_id and not args.shard:
        raise ValueError("--matrix-id names the matrix of a --shard I/N; give --shard too")
    # A bad history file is refused before anything runs; a missing one is created at the end.
    check_output_dir(args.results, option="--results")
    history_path = check_history(history_of(args))
    outcome = run_suite(
        profile=args.profile,
        device=args.device,
        results_root=args.results,
        cases=args.case,
        keyword=args.keyword,
        threads=args.threads,
        models=args.models,
        nproc=args.nproc,
        dist_timeout_s=args.dist_timeout,
        long_ok=args.long,
        shard=Shard.parse(args.shard, matrix_id=args.matrix_id or "") if args.shard else None,
        on_plan=lambda plan, seconds: print(
            f"hellotorch bench: {len(plan.cases)} cases of profile {plan.name}, at most about {seconds / 60:.0f} min"
        ),
    )
    written = f"wrote {outcome.json_path}" if outcome.json_path else "no complete benchmark.json (see cases.jsonl)"
    print(
        f"hellotorch bench: {len(outcome.finished)}/{outcome.planned} cases finished, "
        f"{len(outcome.failed)} failed; {written}"
    )
    for failure in outcome.failed:
        print(f"  FAILED {failure['id']}: {failure['reason']}")
    # A host that slowed during the run (a tenant outside this machine) is said here, not only in summary.md.
    host_speed = host_speed_line(r.get("extra_info", {}).get("host_speed_ms", float("nan")) for r in outcome.finished)
    if host_speed:
        print(f"hellotorch bench: {host_speed}")
    if (outcome.run_dir / PYTEST_LOG).is_file():
        print(f"hellotorch bench: pytest's own lines are in {outcome.run_dir / PYTEST_LOG}")
    if outcome.interrupted:
        print(f"hellotorch bench: interrupted; finished cases are kept in {outcome.run_dir}")
        return ExitCode.INTERRUPTED
    if outcome.pytest_status not in (PYTEST_OK, PYTEST_TESTS_FAILED, PYTEST_INTERRUPTED, PYTEST_NO_TESTS):
        if outcome.pytest_status in PYTEST_STATUSES:
            print(f"hellotorch bench: pytest ended with status {outcome.pytest_status} (an internal error, above)")
            return ExitCode.INTERNAL_ERROR
        # Not a status pytest gives: code the child ran (a plug-in's os._exit, a crash in a native library) ended it.
        finished = {record["id"] for record in outcome.finished}
        running = next((case.id for case in outcome.profile.cases if case.id not in finished), "an unknown case")
        print(
            f"hellotorch bench: error: the measuring process ended with status {outcome.pytest_status} while "
            f"measuring {running} (the model's code, or a library it ran, ended it); "
            f"the {len(finished)} finished cases are kept in {outcome.run_dir}",
            file=sys.stderr,
        )
        return ExitCode.BAD_INPUT
    if outcome.json_path and not args.no_report:
        files = build_report(outcome.run_dir)
        print(f"hellotorch report: wrote {len(files)} files in {outcome.run_dir}")
    if outcome.json_path:
        try:
            record_run(history_path, load_run(outcome.run_dir))
            print(f"hellotorch history: recorded in {history_path}")
        except HistoryError as error:
            # The cases are measured and kept: only their copy in the history is missing, and can be made later.
            print(f"hellotorch bench: error: {error}", file=sys.stderr)
            print(
                f"hellotorch bench: the run is kept in {outcome.run_dir}; store it later with "
                f"`hellotorch history ingest {outcome.run_dir} --history {history_path}`",
                file=sys.stderr,
            )
            return ExitCode.BAD_INPUT
    for disturbed in outcome.disturbed:
        print(f"  DISTURBED {disturbed['id']}: {disturbed['evidence']}")
    failed = outcome.failed or outcome.pytest_status == PYTEST_TESTS_FAILED
    if failed:
        return ExitCode.CHECK_FAILED
    if outcome.disturbed:
        # The machine, not the code: an environment the contract calls exit 2. The run is kept, marked.
        print(
            f"hellotorch bench: {len(outcome.disturbed)} case(s) disturbed: other processes took CPU while they were "
            "measured, so their numbers are not results. For a clean run, stop the other work "
            "(`hellotorch env --check` names it) and run again, or give a busy machine longer to clear "
            "(host_wait_seconds in a profile file). Work that cannot stop leaves a core free with --threads 1."
        )
        return ExitCode.BAD_INPUT
    return ExitCode.OK
