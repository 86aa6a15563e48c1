"""The ``hellotorch`` command line: one module per command group, one error policy.

Each module of this package declares its arguments beside its handlers
(``setup_arguments(subparsers)``); a handler parses, calls one library
function, prints, and returns an exit code. :func:`main` alone maps what the
library raises onto the contract of :class:`hellotorch.errors.ExitCode`:
bad input is one line naming the culprit and exit 2, a failed check or step
exit 1, an interrupt (Ctrl-C or SIGTERM) 130, and an unexpected error, a bug of ours, 70 — never
a traceback unless ``HELLOTORCH_DEBUG=1``. Library warnings are held back
while a command runs and printed after it only if it did not fail on input,
so a bad input is always exactly one line.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from hellotorch.children import interrupted_by_signal, signals_as_interrupt
from hellotorch.cli.options import OneLineParser
from hellotorch.errors import CheckFailed, ExitCode, first_line
from hellotorch.files import check_cache_folders

#: command -> (the module of its group, its one-line help). Only the group of the command
#: asked for is imported: the measuring commands' choices come from registries that import
#: torch, which `--help`, `report`, `compare`, `history` and `gate` never need.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("run", "train a model, eager or compiled, printing the loss"),
    "finetune": ("run", "fine-tune from a checkpoint: new head, frozen or slower backbone"),
    "env": ("env", "print what a results file needs to name this machine"),
    "parity": ("parity", "does the compiled step learn what eager learns? (exit 1 if not)"),
    "bench": ("bench", "run a benchmark profile into a new run folder, then report it"),
    "report": ("results", "rebuild a run's tables and plots from its raw JSON"),
    "compare": ("results", "put runs (machines, PyTorch versions) side by side"),
    "merge": ("results", "join the run folders of a sharded plan (bench --shard I/N) into one run"),
    "baseline": ("results", "pin a run (or the median of several) as a baseline JSON"),
    "latest": ("results", "print the newest complete run folder (what make report/gate use)"),
    "gate": ("gate", "exit 1 if a case regressed against a baseline"),
    "history": ("history", "the trend of each case across runs (and `history ingest RUN...`)"),
    "calibrate": ("calibrate", "run a profile N times; store each case's run-to-run noise for this machine"),
    "ab": ("ab", "base against head in alternating fresh processes; exit 1 on a regression"),
    "new-model": ("scaffold", "write a working plug-in model and profile file to edit"),
}
#: the groups whose arguments come from registries that import torch (the rest read files only).
TORCH_GROUPS = {"run", "parity", "bench", "env", "calibrate", "ab"}


def _asked_command(argv: Sequence[str]) -> str | None:
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> OneLineParser:
    """The parser, with full arguments for the command ``argv`` asks for and a name and help line for the rest."""
    parser = OneLineParser(
        prog="hellotorch",
        description="Does torch.compile pay off for your training step? Train, fine-tune, benchmark, compare.",
        epilog="exit codes: 0 done/passed, 1 check failed, 2 bad input or environment, 70 internal error, 130 interrupted",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    asked = _asked_command(argv)
    group = COMMANDS[asked][0] if asked in COMMANDS else None
    for name, (owner, help_line) in COMMANDS.items():
        if owner != group:
            commands.add_parser(name, help=help_line, add_help=False)
    if group is not None:
        importlib.import_module(f"hellotorch.cli.{group}").setup_arguments(commands)
    return parser


def _run(args) -> int:
    prefix = f"hellotorch {args.command}"
    try:
        # SIGTERM (a cancelled CI job, ab stopping its side) takes the Ctrl-C path, so no pytest child is orphaned.
        with signals_as_interrupt():
            return int(args.handler(args))
    except KeyboardInterrupt:
        if not interrupted_by_signal():  # no Ctrl-C, no SIGTERM: a model's own code raised it
            print(f"{prefix}: error: the model's code raised KeyboardInterrupt", file=sys.stderr)
            return ExitCode.BAD_INPUT
        print(f"{prefix}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # e.g. `hellotorch gate ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return ExitCode.OK
    except ValueError as error:  # registries, configs, run files and paths name the culprit
        print(f"{prefix}: error: {first_line(error)}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except OSError as error:  # a file or folder the command was given cannot be used
        where = f" ({error.filename})" if error.filename else ""
        print(f"{prefix}: error: {error.strerror or first_line(error)}{where}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except CheckFailed as error:
        print(f"{prefix}: failed: {first_line(error)}", file=sys.stderr)
        return ExitCode.CHECK_FAILED
    except SystemExit as error:  # hellotorch's handlers return their codes; only a model's own code exits
        print(f"{prefix}: error: the model's code called sys.exit({error.code!r})", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except Exception as error:
        if os.environ.get("HELLOTORCH_DEBUG"):
            raise
        print(
            f"{prefix}: internal error: {type(error).__name__}: {first_line(error)} "
            "(a bug in hellotorch; HELLOTORCH_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    asked = _asked_command(argv)
    try:
        # What importing torch would trip over is refused in one line before the command's group imports it.
        if asked in COMMANDS and COMMANDS[asked][0] in TORCH_GROUPS:
            check_cache_folders()
        parser = build_parser(argv)
    except (ValueError, OSError) as error:
        detail = first_line(error) if isinstance(error, ValueError) else f"importing torch failed: {error}"
        print(f"hellotorch {asked}: error: {detail}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    args = parser.parse_args(argv)
    # Recorded under the filters in force (so DeprecationWarnings stay hidden, as Python hides them).
    with warnings.catch_warnings(record=True) as caught:
        code = _run(args)
    if code not in (ExitCode.BAD_INPUT, ExitCode.INTERRUPTED):
        for message in dict.fromkeys(
            str(warning.message).splitlines()[0] for warning in caught if str(warning.message)
        ):
            print(f"hellotorch {args.command}: warning: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
