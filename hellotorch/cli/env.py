"""``hellotorch env``: what a results file needs to name this machine."""

from __future__ import annotations

import argparse

from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    env = commands.add_parser("env", help="print what a results file needs to name this machine")
    env.set_defaults(handler=run_env)


def run_env(args: argparse.Namespace) -> int:
    from hellotorch.measuring.machine import collect
    from hellotorch.training.devices import set_threads

    set_threads(None)
    for key, value in collect().items():
        print(f"{key:<15} {value}")
    return ExitCode.OK
