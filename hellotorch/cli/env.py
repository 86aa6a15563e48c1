"""``hellotorch env``: what a results file needs to name this machine; ``env --check``: is it fit to measure now.

``--check`` exits 0 when the machine is fit to measure on and 2 (the
environment) when it is not, naming what is busy and what to do; ``make
bench`` prints its verdict first.
"""

from __future__ import annotations

import argparse

from hellotorch.cli.options import positive_float
from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    env = commands.add_parser("env", help="print what a results file needs to name this machine")
    env.add_argument(
        "--check", action="store_true", help="is this machine fit to measure on now? (exit 2 if not, with what to do)"
    )
    env.add_argument(
        "--window", type=positive_float, default=1.0, metavar="S", help="seconds to watch the machine (default 1)"
    )
    env.set_defaults(handler=run_env)


def run_env(args: argparse.Namespace) -> int:
    if args.check:
        return run_check(args.window)
    from hellotorch.measuring.machine import collect
    from hellotorch.training.devices import set_threads

    set_threads(None)
    for key, value in collect().items():
        print(f"{key:<15} {value}")
    return ExitCode.OK


def run_check(window_s: float) -> int:
    from hellotorch.measuring.fitness import check_machine, is_fit

    checks = check_machine(window_s=window_s)
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = "ok" if check.ok else ("BUSY" if check.decides else "note")
        print(f"{check.name:<{width}}  {mark:<4}  {check.seen}")
        if not check.ok and check.advice:
            print(f"{'':<{width}}        -> {check.advice}")
    if is_fit(checks):
        print("hellotorch env: fit to measure on now")
        return ExitCode.OK
    print("hellotorch env: not fit to measure on now: numbers measured now would be disturbed")
    return ExitCode.BAD_INPUT
