"""``hellotorch report``, ``compare``, ``baseline`` and ``latest``: what happens to runs after they ran.

Every run is loaded and validated first (a malformed one is exit 2, naming
the file and the field) and every output path is checked before anything is
written.
"""

from __future__ import annotations

import argparse

from hellotorch.cli.options import non_empty
from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="rebuild a run's tables and plots from its raw JSON")
    report.add_argument("run", type=non_empty, help="run folder (or its benchmark.json)")
    report.add_argument("--output", type=non_empty, default=None, help="folder for the report (default: the run's)")
    report.add_argument("--no-plots", action="store_true", help="write summary.csv and summary.md only")
    report.add_argument(
        "--html", action="store_true", help="also write report.html: one offline page, plots inline, verdict first"
    )
    report.set_defaults(handler=run_report)

    compare = commands.add_parser("compare", help="put runs (machines, PyTorch versions) side by side")
    compare.add_argument("runs", nargs="+", type=non_empty, metavar="RUN", help="two or more run folders or JSON files")
    compare.add_argument("--output", type=non_empty, default=None, help="folder for compare.md/.csv/.png")
    compare.add_argument(
        "--machines",
        action="store_true",
        help="the fleet view: each case per machine, a geomean per machine (fleet.md/.csv/.png); "
        "one hardware-comparison merge is enough",
    )
    compare.add_argument(
        "--html", action="store_true", help="also write compare.html (or fleet.html): one offline page"
    )
    compare.set_defaults(handler=run_compare)

    merge = commands.add_parser("merge", help="join the run folders of a sharded plan (bench --shard I/N) into one run")
    merge.add_argument("runs", nargs="+", type=non_empty, metavar="RUN", help="every shard's run folder")
    merge.add_argument("--output", type=non_empty, required=True, help="the merged run's folder (created)")
    merge.add_argument("--machines-differ", action="store_true", help="the shards ran on different machines on purpose")
    merge.add_argument("--no-report", action="store_true", help="skip the tables and plots")
    merge.set_defaults(handler=run_merge)

    baseline = commands.add_parser("baseline", help="pin a run (or the median of several) as a baseline JSON")
    baseline.add_argument("runs", nargs="+", type=non_empty, metavar="RUN", help="finished run folder(s) or JSON")
    baseline.add_argument("--output", type=non_empty, required=True, help="where to write the baseline JSON")
    baseline.set_defaults(handler=run_baseline)

    latest = commands.add_parser("latest", help="print the newest complete run folder (what make report/gate use)")
    latest.add_argument(
        "--results", type=non_empty, default="results", help="where run folders are (default ./results)"
    )
    latest.set_defaults(handler=run_latest)


def run_report(args: argparse.Namespace) -> int:
    from hellotorch.results.report import build_report

    written = build_report(args.run, out_dir=args.output, with_plots=not args.no_plots)
    if args.html:
        from hellotorch.results.html_report import write_run_html
        from hellotorch.results.runs import load_run

        written.append(write_run_html(load_run(args.run), written[0].parent))
    print(f"hellotorch report: wrote {len(written)} files in {written[0].parent}")
    for path in written:
        print(f"  {path.name}")
    return ExitCode.OK


def run_merge(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hellotorch.errors import BadInput
    from hellotorch.files import check_output_dir, write_text_atomic
    from hellotorch.results.merge import merged_json, shard_files
    from hellotorch.results.report import build_report
    from hellotorch.results.runs import load_run
    from hellotorch.runfiles import BENCHMARK_JSON

    out = check_output_dir(args.output, option="--output")
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"--output {out}: not empty; the merged run gets a folder of its own")
    runs = [load_run(path) for path in args.runs]
    merged = merged_json(runs, machines_may_differ=args.machines_differ)  # every check before any file
    out.mkdir(parents=True, exist_ok=True)
    for name, text in shard_files(runs).items():
        write_text_atomic(Path(out, name), text)
    write_text_atomic(out / BENCHMARK_JSON, json.dumps(merged, indent=1))
    matrix = merged["hellotorch"]["matrix"]
    print(
        f"hellotorch merge: {len(runs)} shards of matrix {matrix['matrix_id']}, "
        f"{len(merged['benchmarks'])} cases, in {out}"
    )
    if not args.no_report:
        written = build_report(out)
        print(f"hellotorch report: wrote {len(written)} files in {out}")
    return ExitCode.OK


def run_compare(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_dir
    from hellotorch.results.compare import write_comparison
    from hellotorch.results.runs import load_run

    check_output_dir(args.output, option="--output")
    if args.machines:
        from hellotorch.results.fleet import rows_from_runs, write_fleet

        runs = [load_run(path) for path in args.runs]
        rows, facts = rows_from_runs(runs)
        source = f"{len(runs)} run{'s' if len(runs) > 1 else ''}: {', '.join(run.label for run in runs)}"
        text, written = write_fleet(rows, facts, args.output or runs[0].folder, source=source, html=args.html)
        print(text)
        print(f"hellotorch compare: wrote {', '.join(path.name for path in written)} in {written[0].parent}")
        return ExitCode.OK
    if len(args.runs) < 2:
        raise ValueError("compare needs at least two runs (or --machines with one hardware-comparison merge)")
    text, written = write_comparison([load_run(path) for path in args.runs], out_dir=args.output, html=args.html)
    print(text)
    print(f"hellotorch compare: wrote {', '.join(path.name for path in written)} in {written[0].parent}")
    return ExitCode.OK


def run_baseline(args: argparse.Namespace) -> int:
    import json

    from hellotorch.files import check_output_file, write_text_atomic
    from hellotorch.results.runs import load_run, pin_baseline

    output = check_output_file(args.output, option="--output")
    runs = [load_run(path) for path in args.runs]
    pinned = pin_baseline(runs)
    write_text_atomic(output, json.dumps(pinned, indent=1))
    labels = ", ".join(run.label for run in runs)
    print(f"hellotorch baseline: pinned {labels} ({len(pinned['benchmarks'])} cases) as {output}")
    return ExitCode.OK


def run_latest(args: argparse.Namespace) -> int:
    from hellotorch.results.runs import newest_complete_run

    print(newest_complete_run(args.results))
    return ExitCode.OK
