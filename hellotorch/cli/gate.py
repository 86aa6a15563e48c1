"""``hellotorch gate``: exit 1 if a case regressed against a baseline; fail closed.

Exit 0 when every baseline case is present and none regressed, 1 when one
regressed, is missing or now fails, or when the current run is incomplete,
2 when a run file is malformed, an option is out of its range or an output
path cannot be written (all checked before the comparison).
"""

from __future__ import annotations

import argparse

from hellotorch.cli.options import add_store_options, fraction, history_of, non_empty, non_negative_float
from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    gate = commands.add_parser("gate", help="exit 1 if a case regressed against a baseline")
    gate.add_argument("--baseline", type=non_empty, required=True, help="baseline run folder or JSON")
    gate.add_argument("--current", type=non_empty, required=True, help="current run folder or JSON")
    gate.add_argument(
        "--threshold", type=fraction, default=None, help="allowed speedup drop, a fraction (default 0.10)"
    )
    gate.add_argument(
        "--spread-factor", type=non_negative_float, default=None, help="allowed drop in units of measured spread"
    )
    add_store_options(gate)  # the history holds this machine's calibration, where `calibrate` made one
    gate.add_argument(
        "--no-calibration", action="store_true", help="ignore any calibration: the default rule for every case"
    )
    gate.add_argument("--all", action="store_true", help="show every case, not only regressions")
    gate.add_argument("--markdown", default=None, metavar="PATH", help="also write the Markdown here")
    gate.add_argument("--github-json", default=None, metavar="PATH", help="write customBiggerIsBetter JSON here")
    gate.add_argument(
        "--comment", default=None, metavar="PATH", help="write a pull-request comment body here (under 64 KB)"
    )
    gate.add_argument("--html", default=None, metavar="PATH", help="write the gate as one offline HTML page here")
    gate.add_argument(
        "--confirm",
        action="store_true",
        help="re-measure regressed speedups in a fresh run; only those that regress again fail",
    )
    gate.set_defaults(handler=run_gate)


def run_gate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hellotorch.files import check_output_file, write_text_atomic
    from hellotorch.gate import check as gate
    from hellotorch.gate import report as gatereport
    from hellotorch.gate.noise import noise_for_run
    from hellotorch.history.store import check_history
    from hellotorch.results.runs import load_run

    markdown_path = check_output_file(args.markdown, option="--markdown")
    github_path = check_output_file(args.github_json, option="--github-json")
    comment_path = check_output_file(args.comment, option="--comment")
    html_path = check_output_file(args.html, option="--html")
    if args.history is not None and not Path(args.history).is_file():
        raise ValueError(f"--history {args.history}: no such file (run `hellotorch calibrate` to make one)")
    found = history_of(args)
    history = None if args.no_calibration or not found.is_file() else found
    if history is not None:
        check_history(history)
    baseline, current = load_run(args.baseline), load_run(args.current)
    defaults = gate.GateOptions()
    options = gate.GateOptions(
        threshold=defaults.threshold if args.threshold is None else args.threshold,
        spread_factor=defaults.spread_factor if args.spread_factor is None else args.spread_factor,
        noise=noise_for_run(history, current) if history is not None else {},
    )
    result = gate.gate(baseline, current, options=options)
    if args.confirm and result.speedup_suspects and not result.blocked:
        print(f"hellotorch gate: re-measuring {len(result.speedup_suspects)} regressed case(s) to confirm", flush=True)
        from hellotorch.suite.remeasure import remeasure_with_suite  # the measuring half, only to confirm

        result = gate.confirm(result, baseline, remeasure=remeasure_with_suite(current), options=options)
    text = gatereport.to_markdown(result, baseline, current, show_all=args.all)
    print(text)
    if markdown_path is not None:
        write_text_atomic(markdown_path, text)
    if github_path is not None:
        write_text_atomic(github_path, json.dumps(gatereport.github_benchmark_json(current), indent=2))
    if comment_path is not None:
        write_text_atomic(comment_path, gatereport.comment(result, baseline, current, whole=str(html_path or "")))
    if html_path is not None:
        from hellotorch.results.html_pages import gate_page

        gate_page(result, baseline, current).write(html_path)
    return ExitCode.OK if result.passed else ExitCode.CHECK_FAILED
