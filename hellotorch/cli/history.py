"""``hellotorch history``: every run kept in one SQLite database, and each case's trend across runs.

``hellotorch history ingest RUN...`` stores run folders (a run stored twice is
stored once); ``hellotorch history [--case ...] [--machine ...] [--torch ...]
[--since DATE]`` prints each case's trend, one line per run, grouped by
machine, and writes ``history.md`` and ``history.png`` with ``--output``.
Change points (:mod:`hellotorch.history.changepoints`) are listed and marked;
``--regressions`` exits 1 when a case's newest change point made it worse
than its calibrated noise allows. ``hellotorch bench`` records every
finished run itself. A file that is not a hellotorch history is refused
(exit 2), never overwritten.
"""

from __future__ import annotations

import argparse
import datetime as dt

from hellotorch.cli.options import add_store_options, history_of, non_empty
from hellotorch.errors import ExitCode


def iso_date(text: str) -> str:
    """A ``--since`` that is a date (``2026-12-01``) or a date and time; anything else is refused, not matched."""
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date such as 2026-12-01") from None
    return text


def setup_arguments(commands: argparse._SubParsersAction) -> None:

    history = commands.add_parser("history", help="the trend of each case across runs (and `history ingest RUN...`)")
    history.add_argument("words", nargs="*", metavar="ingest RUN", help="`ingest` and run folders to store")
    add_store_options(history)
    history.add_argument("--case", type=non_empty, default=None, help="cases whose id contains this")
    history.add_argument(
        "--machine", type=non_empty, default=None, help="machines whose name contains this (or fingerprint)"
    )
    history.add_argument(
        "--torch", dest="torch_version", type=non_empty, default=None, help="torch versions starting so"
    )
    history.add_argument("--since", type=iso_date, default=None, help="runs started on or after this ISO date")
    history.add_argument("--output", type=non_empty, default=None, help="folder for history.md and history.png")
    history.add_argument(
        "--machines",
        action="store_true",
        help="the fleet view: each machine's newest run side by side (fleet.md/.csv/.png with --output)",
    )
    history.add_argument("--profile", type=non_empty, default=None, help="with --machines: runs of this profile")
    history.add_argument("--html", action="store_true", help="with --output: also write history.html (or fleet.html)")
    history.add_argument(
        "--regressions",
        action="store_true",
        help="exit 1 when a case's newest change point made it worse than its calibrated noise allows",
    )
    history.set_defaults(handler=run_history)


def run_history(args: argparse.Namespace) -> int:
    if args.words and args.words[0] == "ingest":
        return _ingest(args, args.words[1:])
    if args.words:
        raise ValueError(f"history: unknown action {args.words[0]!r}; the action is ingest (or none, to show)")
    return _show(args)


def _ingest(args: argparse.Namespace, paths: list[str]) -> int:
    from hellotorch.history.store import history_session, ingest
    from hellotorch.results.runs import load_run

    if not paths:
        raise ValueError("history ingest: name at least one run folder")
    runs = [load_run(path) for path in paths]  # every run validated before the database is touched
    with history_session(history_of(args)) as connection:
        for run in runs:
            stored = ingest(connection, run)
            print(f"{'stored' if stored else 'already stored'}: {run.label} ({len(run.records)} cases)")
    return ExitCode.OK


def _machines(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_dir
    from hellotorch.history.fleet import fleet_rows
    from hellotorch.history.store import history_session
    from hellotorch.results.fleet import fleet_report, write_fleet

    if args.regressions:
        raise ValueError("--machines and --regressions: choose one (the regressions are per machine already)")
    out = check_output_dir(args.output, option="--output")
    with history_session(history_of(args)) as connection:
        rows, facts = fleet_rows(
            connection,
            profile=args.profile,
            case=args.case,
            machine=args.machine,
            torch_version=args.torch_version,
            since=args.since,
        )
    source = f"the newest run of each machine in {history_of(args)}"
    if out is None:
        print(fleet_report(rows, facts, source=source)[0])
        return ExitCode.OK
    text, written = write_fleet(rows, facts, out, source=source, html=args.html)
    print(text)
    print(f"hellotorch history: wrote {', '.join(path.name for path in written)} in {out}")
    return ExitCode.OK


def _show(args: argparse.Namespace) -> int:

    from hellotorch.files import check_output_dir, write_text_atomic
    from hellotorch.gate.noise import load_all_noise
    from hellotorch.history.changepoints import change_points, newest_per_series, to_frame
    from hellotorch.history.report import trend_markdown, trend_plot
    from hellotorch.history.store import history_session, trend
    from hellotorch.results.report import save_figure
    from hellotorch.results.table import markdown

    if not history_of(args).is_file():
        raise ValueError(f"--history {history_of(args)}: no such file (`hellotorch bench` records every run there)")
    if args.html and not args.output:
        raise ValueError("--html: give --output, the folder the page goes in")
    if args.machines:
        return _machines(args)
    if args.profile:
        raise ValueError("--profile: only with --machines")
    out = check_output_dir(args.output, option="--output")
    with history_session(history_of(args)) as connection:
        rows = trend(
            connection, case=args.case, machine=args.machine, torch_version=args.torch_version, since=args.since
        )
        noise = load_all_noise(connection)
        points = change_points(rows, noise) if not rows.empty else None
    if rows.empty:
        asked = _filters(args)
        if args.regressions:
            # A gate that finds nothing to judge must not pass: the filter is wrong, or the history empty.
            raise ValueError(f"{asked or 'the history'} matches no stored case in {history_of(args)}")
        print(f"hellotorch history: no stored case matches {asked or ''} in {history_of(args)}".replace("  ", " "))
        return ExitCode.OK
    text = trend_markdown(rows, points)
    print(text)
    if out is not None:
        write_text_atomic(out / "history.md", text)
        fig, _ = trend_plot(rows, points)
        save_figure(fig, out / "history.png")
        if args.html:
            from hellotorch.results.html_pages import history_page

            changes = to_frame(points) if points else None
            history_page(rows, changes, trend_plot(rows, points)[0]).write(out / "history.html")
        print(f"hellotorch history: wrote history.md and history.png{' and history.html' * args.html} in {out}")
    if not args.regressions:
        return ExitCode.OK
    regressions = [point for point in newest_per_series(points) if point.regression]
    if regressions:
        print(
            f"hellotorch history: REGRESSION: {len(regressions)} case metric(s) stepped worse than their noise allows"
        )
        print(markdown(to_frame(regressions)))
        return ExitCode.CHECK_FAILED
    print("hellotorch history: no regression: no case's newest change point is worse than its noise allows")
    return ExitCode.OK


def _filters(args: argparse.Namespace) -> str:
    """The filters given, as they were typed: what a "no match" line names."""
    given = {"--case": args.case, "--machine": args.machine, "--torch": args.torch_version, "--since": args.since}
    return " ".join(f"{option} {value}" for option, value in given.items() if value)
