"""The subcommands beyond train/finetune/env: their arguments, and which module runs each.

parity -> :mod:`hellotorch.cli_parity`; bench -> :mod:`hellotorch.cli_bench`;
report, compare, gate, baseline -> :mod:`hellotorch.cli_results`.
"""

from __future__ import annotations

import argparse

from hellotorch.cli import add_step_options, positive_int
from hellotorch.cli_bench import REPO_ROOT, cmd_bench
from hellotorch.cli_parity import cmd_parity
from hellotorch.cli_results import cmd_baseline, cmd_compare, cmd_gate, cmd_report


def register(commands: argparse._SubParsersAction) -> None:
    """Add the analysis subcommands to the ``hellotorch`` parser."""
    parity = commands.add_parser("parity", help="does the compiled step learn what eager learns? (exit 1 if not)")
    add_step_options(parity.add_argument_group("run"), model_default="mlp", lr_default=None)
    parity.add_argument("--mode", default="default", help="compile mode to check against eager")
    parity.add_argument("--finetune", action="store_true", help="check fine-tuning (frozen backbone, new head)")
    parity.add_argument("--dropout", type=float, default=None, help="backbone dropout (mlp/transformer)")
    parity.add_argument(
        "--matrix",
        action="store_true",
        help="every optimizer x --models x train/finetune, one line each (ignores --model/--optimizer)",
    )
    parity.add_argument("--models", default="mlp,transformer", help="with --matrix: comma-separated models")
    parity.add_argument("--optimizers", default="all", help="with --matrix: comma-separated optimizers, or all")
    parity.add_argument("--csv", default=None, metavar="PATH", help="with --matrix: write the table here too")
    parity.set_defaults(handler=cmd_parity)

    bench = commands.add_parser("bench", help="run a benchmark profile into a new run folder, then report it")
    bench.add_argument("--profile", default="quick", help="smoke, quick or full")
    bench.add_argument("--device", default="cpu", help="cpu, cuda or all")
    bench.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: PyTorch's)")
    bench.add_argument("-k", dest="keyword", default=None, help="pytest -k expression to narrow the cases")
    bench.add_argument("--case", action="append", default=[], metavar="ID", help="run only this case (repeatable)")
    bench.add_argument("--results", default=str(REPO_ROOT / "results"), help="where run folders go")
    bench.add_argument("--no-report", action="store_true", help="skip the tables and plots")
    bench.set_defaults(handler=cmd_bench)

    report = commands.add_parser("report", help="rebuild a run's tables and plots from its raw JSON")
    report.add_argument("run", help="run folder (or its benchmark.json)")
    report.set_defaults(handler=cmd_report)

    compare = commands.add_parser("compare", help="put runs (machines, PyTorch versions) side by side")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more run folders or JSON files")
    compare.add_argument("--output", default=None, help="folder for compare.md/.csv/.png (default: the first run's)")
    compare.set_defaults(handler=cmd_compare)

    gate = commands.add_parser("gate", help="exit 1 if a case regressed against a baseline")
    gate.add_argument("--baseline", required=True, help="baseline run folder or JSON")
    gate.add_argument("--current", required=True, help="current run folder or JSON")
    gate.add_argument("--threshold", type=float, default=None, help="allowed speedup drop, a fraction (default 0.10)")
    gate.add_argument("--spread-factor", type=float, default=None, help="allowed drop in units of measured spread")
    gate.add_argument("--all", action="store_true", help="show every case, not only regressions")
    gate.add_argument("--markdown", default=None, metavar="PATH", help="also write the Markdown here")
    gate.add_argument("--github-json", default=None, metavar="PATH", help="write customBiggerIsBetter JSON here")
    gate.add_argument(
        "--confirm",
        action="store_true",
        help="re-measure regressed speedups in a fresh run; only those that regress again fail",
    )
    gate.set_defaults(handler=cmd_gate)

    baseline = commands.add_parser(
        "baseline", help="pin a run (or the median of several) as a baseline JSON, raw rounds dropped"
    )
    baseline.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) or JSON; several: median speedups")
    baseline.add_argument("--output", required=True, help="where to write the baseline JSON")
    baseline.set_defaults(handler=cmd_baseline)
