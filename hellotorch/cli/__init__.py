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

import os
import sys
import warnings
from collections.abc import Sequence

from hellotorch.cli import ab, bench, calibrate, env, gate, history, parity, results, run
from hellotorch.cli.options import OneLineParser
from hellotorch.cli.signals import terminate_as_interrupt
from hellotorch.errors import CheckFailed, ExitCode, first_line

COMMAND_GROUPS = (run, env, parity, bench, results, gate, history, calibrate, ab)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="hellotorch",
        description="Does torch.compile pay off for your training step? Train, fine-tune, benchmark, compare.",
        epilog="exit codes: 0 done/passed, 1 check failed, 2 bad input or environment, 70 internal error, 130 interrupted",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for group in COMMAND_GROUPS:
        group.setup_arguments(commands)
    return parser


def _run(args) -> int:
    prefix = f"hellotorch {args.command}"
    try:
        # SIGTERM (a cancelled CI job, ab stopping its side) takes the Ctrl-C path, so no pytest child is orphaned.
        with terminate_as_interrupt():
            return int(args.handler(args))
    except KeyboardInterrupt:
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
    args = build_parser().parse_args(argv)
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
