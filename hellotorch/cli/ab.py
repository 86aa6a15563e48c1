"""``hellotorch ab``: base against head on this machine, in alternating fresh processes; exit 1 on a regression.

``--base REF --head REF`` compares two commits of the repository (``--repo``,
default the working folder); ``--base-python PY --head-python PY`` two
environments (two PyTorch installs) on the code as it is; the two combine.
Writes ``ab.md`` and ``ab.csv`` and keeps each side's run folder in
``--output``; every side's run is recorded in the history. Exit 0 when no
case regressed, 1 when one did or failed, no case was compared, or no case
was decided (UNDECIDED: not a pass), 2 on
bad input (a ref that names no commit, an interpreter without torch, a
side that refuses the request), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from hellotorch.cli.options import (
    add_case_selection,
    add_store_options,
    fraction,
    history_of,
    non_empty,
    positive_int,
)
from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    from hellotorch.ab.sides import DEFAULT_CONFIDENCE, DEFAULT_THRESHOLD, MIN_PAIRS

    ab = commands.add_parser("ab", help="base against head in alternating fresh processes; exit 1 on a regression")
    ab.add_argument("--base", type=non_empty, default=None, metavar="REF", help="git ref of the base side")
    ab.add_argument("--head", type=non_empty, default=None, metavar="REF", help="git ref of the head side")
    ab.add_argument("--base-python", type=non_empty, default=None, metavar="PY", help="interpreter of the base side")
    ab.add_argument("--head-python", type=non_empty, default=None, metavar="PY", help="interpreter of the head side")
    ab.add_argument("--repo", type=non_empty, default=".", help="the git repository the refs belong to (default .)")
    add_case_selection(ab, device_help="cpu or cuda")
    ab.add_argument(
        "--pairs", type=positive_int, default=MIN_PAIRS, help=f"pairs of processes, at least (default {MIN_PAIRS})"
    )
    ab.add_argument(
        "--max-pairs", type=positive_int, default=None, help="add pairs while a case is undecided, up to this many"
    )
    ab.add_argument(
        "--threshold",
        type=fraction,
        default=DEFAULT_THRESHOLD,
        help=f"slowdown that counts, a fraction (default {DEFAULT_THRESHOLD})",
    )
    ab.add_argument(
        "--confidence",
        type=fraction,
        default=DEFAULT_CONFIDENCE,
        help=f"one-sided confidence of each bound of a case's interval (default {DEFAULT_CONFIDENCE})",
    )
    ab.add_argument(
        "--statistic",
        default="auto",
        help="per-process step time compared: median (of pytest-benchmark's rounds), min (the fastest round), "
        "reference (the step over a fixed reference workload timed beside it; a profile with reference = true) or "
        "auto (default: reference where the profile measures it and both sides run one interpreter, else median)",
    )
    ab.add_argument("--output", type=non_empty, default=None, help="folder for ab.md, ab.csv and the side runs")
    ab.add_argument(
        "--resume",
        type=non_empty,
        default=None,
        metavar="DIR",
        help="go on with the A/B in DIR (its --output): finished pairs are kept, the rest are run",
    )
    add_store_options(ab)
    ab.set_defaults(handler=run_ab_command)


REQUEST = "ab-request.json"


def _check_resumable(out, request: dict) -> None:
    """Refuse to go on with an A/B of other sides or options than the one in ``out`` (one line naming what differs)."""
    from hellotorch.errors import BadInput

    path = out / REQUEST
    if not path.is_file():
        raise BadInput(f"--resume {out}: no A/B was started there ({REQUEST} is missing)")
    try:
        before = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BadInput(f"--resume {out}: {REQUEST} cannot be read ({error})") from None
    # The pair counts may grow on resuming (more pairs to decide a case); nothing else may change.
    for key in ("sides", *(key for key in request["options"] if key not in ("min_pairs", "max_pairs"))):
        was = before.get("sides") if key == "sides" else before.get("options", {}).get(key)
        now = request["sides"] if key == "sides" else request["options"][key]
        if was != now:
            raise BadInput(f"--resume {out}: {key} was {was!r} there and is {now!r} now; give the same A/B")


def run_ab_command(args: argparse.Namespace) -> int:
    import time
    from datetime import datetime
    from pathlib import Path

    from hellotorch.ab.report import comment, nothing_decided, to_markdown
    from hellotorch.ab.run import NOT_MEASURED, run_ab
    from hellotorch.ab.sides import AbOptions, Side, check_python, choose_statistic, resolve_ref
    from hellotorch.errors import BadInput
    from hellotorch.files import check_output_dir, write_text_atomic
    from hellotorch.history.store import check_history, record_run
    from hellotorch.progress import style_for
    from hellotorch.results.html_pages import ab_page

    if not any([args.base, args.head, args.base_python, args.head_python]):
        raise BadInput("ab: name what differs: --base/--head REF, or --base-python/--head-python PY")
    one_interpreter = (args.base_python or sys.executable) == (args.head_python or sys.executable)
    repo = Path(args.repo).resolve()
    sides = []
    for name in ("base", "head"):
        ref = getattr(args, name)
        python = check_python(getattr(args, f"{name}_python") or sys.executable, option=f"--{name}-python")
        commit = resolve_ref(repo, ref, option=f"--{name}") if ref else None
        sides.append(Side(name, python, ref, commit))
    statistic = choose_statistic(  # before any side runs, from the profile each side will run
        args.statistic,
        profile=args.profile,
        one_interpreter=one_interpreter,
        folders=(Path.cwd(), repo),
        repo=repo,
        commits=tuple(side.commit for side in sides if side.commit),
    )
    options = AbOptions(
        profile=args.profile,
        device=args.device,
        keyword=args.keyword,
        cases=tuple(args.case),
        threads=args.threads,
        min_pairs=args.pairs,
        max_pairs=args.max_pairs or args.pairs,
        threshold=args.threshold,
        confidence=args.confidence,
        statistic=statistic,
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    request = {
        "sides": [[side.name, side.python, side.commit] for side in sides],
        "options": {key: list(value) if isinstance(value, tuple) else value for key, value in vars(options).items()},
    }
    if args.resume:
        out = Path(args.resume).resolve()
        _check_resumable(out, request)
    else:
        out = check_output_dir(args.output or Path(args.results) / f"ab-{stamp}", option="--output").resolve()
        if any(out.glob("base-*")) or any(out.glob("head-*")):
            raise BadInput(f"--output {out} holds an earlier A/B's pairs: go on with --resume {out}, or choose another")
    history_path = check_history(history_of(args))
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / REQUEST, json.dumps(request, indent=1))

    print(f"hellotorch ab: base {sides[0].describe}; head {sides[1].describe}; side runs in {out}", flush=True)
    started = time.monotonic()
    # SIGTERM (a CI runner cancelling the job) is Ctrl-C here (hellotorch.cli): the side stops, its worktree goes.
    table, _ = run_ab(
        sides[0],
        sides[1],
        options,
        repo=repo,
        out=out,
        on_run=lambda name, run: record_run(history_path, run),
        progress=lambda line: print(line, flush=True),
        progress_style=style_for(),
    )
    text = to_markdown(table, sides[0], sides[1], options, time.monotonic() - started)
    write_text_atomic(out / "ab.md", text)
    write_text_atomic(out / "ab.csv", table.to_csv(index=False))
    # The pull-request comment and the offline page, beside the table: a workflow posts or uploads them.
    write_text_atomic(
        out / "comment.md", comment(table, sides[0], sides[1], options, time.monotonic() - started, whole="ab.html")
    )
    ab_page(table, text, options.threshold).write(out / "ab.html")
    print(text)
    print(f"hellotorch ab: wrote ab.md, ab.csv, ab.html and comment.md in {out}; side runs recorded in {history_path}")
    bad = table["verdict"].eq("REGRESSION") | table["verdict"].astype(str).str.startswith("FAILED")
    # Fails closed: no case compared (every case skipped on this machine, say) is not a pass.
    if bad.any() or table.empty:
        return ExitCode.CHECK_FAILED
    if nothing_decided(table) and (table["verdict"] == "undecided").any():
        # Not "no regression": the pairs could not tell. Fails closed, as an A/B that compared nothing does.
        print(
            "hellotorch ab: UNDECIDED: no case was found the same, faster or slower; "
            "more pairs would tell (--max-pairs), on a quieter machine"
        )
        return ExitCode.CHECK_FAILED
    unmeasured = table["verdict"].astype(str).str.startswith(NOT_MEASURED)
    if unmeasured.any():
        print(
            f"hellotorch ab: {int(unmeasured.sum())} case(s) not measured: the machine stayed busy in every pair "
            "(neither a pass nor a regression); run again when it is fit (`hellotorch env --check`)"
        )
        return ExitCode.BAD_INPUT
    return ExitCode.OK
