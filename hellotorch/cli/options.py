"""Argument types and option groups shared by several commands.

Every value is checked as it is parsed, so a bad one is an argparse error:
one line naming the option, exit 2.
"""

from __future__ import annotations

import argparse
import math

from hellotorch.errors import ExitCode


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.BAD_INPUT, f"{self.prog}: error: {message}\n")


def thread_count(text: str) -> int:
    """A thread count this machine can run: 1 to its logical CPUs (more crashed OpenMP: 100000 segfaulted)."""
    from hellotorch.settings import check_thread_count

    try:
        return check_thread_count(positive_int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _finite(text, "a finite positive number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = _finite(text, "a fraction in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = _finite(text, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def add_step_options(group: argparse._ArgumentGroup, *, model_default: str | None, lr_default: float | None) -> None:
    """The options that define a step, shared by train, finetune and parity."""
    from hellotorch.models import MODELS
    from hellotorch.training.compiling import BACKENDS, SCOPES
    from hellotorch.training.devices import PRECISIONS
    from hellotorch.training.optimizers import IMPLEMENTATIONS, OPTIMIZERS

    lr_help = f"learning rate (default {lr_default})" if lr_default else "default: 1e-2 (SGD family), 1e-3 (adaptive)"
    group.add_argument("--model", default=model_default, help=f"one of: {', '.join(MODELS)}")
    group.add_argument("--optimizer", default="sgd", help=f"one of: {', '.join(OPTIMIZERS)} (default sgd)")
    group.add_argument("--impl", default="default", help=f"optimizer implementation: {', '.join(IMPLEMENTATIONS)}")
    group.add_argument("--lr", type=positive_float, default=lr_default, help=lr_help)
    group.add_argument("--steps", type=positive_int, default=100, help="training steps (default 100)")
    group.add_argument("--batch-size", type=positive_int, default=None, help="default: the model's own")
    group.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    group.add_argument("--dtype", default="float32", help=f"one of: {', '.join(PRECISIONS)} (bf16/fp16 = autocast)")
    group.add_argument("--scope", default="step", help=f"what to compile: {', '.join(SCOPES)} (default step)")
    group.add_argument("--backend", default="inductor", help=f"compile backend: {', '.join(BACKENDS)}")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--threads", type=thread_count, default=None, help="CPU threads, fixed before compiling")


def run_options(args: argparse.Namespace, *, optimizer: str, mode: str, lr: float | None) -> dict:
    """The :class:`~hellotorch.training.loops.RunConfig` fields the parsed step options give (model aside)."""
    from hellotorch.training.compiling import CompileConfig
    from hellotorch.training.optimizers import get_optimizer_spec

    return {
        "optimizer": optimizer,
        "implementation": args.impl,
        "lr": lr or get_optimizer_spec(optimizer, args.impl).default_lr,
        "batch_size": args.batch_size,
        "device": args.device,
        "dtype": args.dtype,
        "compile": CompileConfig(mode=mode, scope=args.scope, backend=args.backend),
        "seed": args.seed,
    }


def run_config(args: argparse.Namespace, *, model: str | None, optimizer: str, mode: str, lr: float | None):
    """The validated RunConfig of the parsed step options, with shape overrides (width, depth, dropout)."""
    from hellotorch.models import model_config
    from hellotorch.training.config import RunConfig

    if model is None:
        raise ValueError("--model is required")
    shape = {key: getattr(args, key, None) for key in ("width", "depth", "dropout")}
    return RunConfig(
        model=model,
        model_config=model_config(model, **shape),
        **run_options(args, optimizer=optimizer, mode=mode, lr=lr),
    )


def add_distributed_options(group: argparse._ArgumentGroup) -> None:
    """``--nproc`` and ``--strategy``: run the step on N ranks under torchrun."""
    from hellotorch.distributed.strategies import STRATEGIES

    group.add_argument(
        "--nproc", type=positive_int, default=None, help="ranks to start with torchrun (default: one process)"
    )
    group.add_argument(
        "--strategy",
        default=None,
        help=f"with --nproc: {', '.join(s for s in STRATEGIES if s != 'none')} (default ddp)",
    )


#: Options a distributed run takes from the case's defaults; refused with --nproc rather than ignored.
_NOT_DISTRIBUTED = {"width": "--width", "depth": "--depth", "save": "--save", "dropout": "--dropout"}


def distributed_case(args: argparse.Namespace, run, *, task: str, command_lr: float | None = None):
    """The :class:`~hellotorch.profiles.cases.BenchCase` of ``run`` on ``args.nproc`` ranks, or None without ``--nproc``.

    A distributed run is a benchmark case: it trains at the optimizer's default
    learning rate; ``command_lr`` is the command's own default, accepted as "not given".
    """
    from hellotorch.profiles.cases import BenchCase

    if args.nproc is None:
        if args.strategy is not None:
            raise ValueError("--strategy: only with --nproc")
        return None
    if args.lr not in (None, command_lr, run.optimizer_spec.default_lr):
        raise ValueError(
            f"--lr: a distributed run uses {run.optimizer}'s default learning rate ({run.optimizer_spec.default_lr:g})"
        )
    for key, option in _NOT_DISTRIBUTED.items():
        if getattr(args, key, None) not in (None, False):
            raise ValueError(f"{option}: not supported with --nproc (a distributed run uses the case's defaults)")
    if args.seed != 0:
        raise ValueError("--seed: not supported with --nproc (a distributed run uses seed 0)")
    from hellotorch.distributed.strategies import check_ranks_fit

    check_ranks_fit(device=run.device, world_size=args.nproc)
    fields = run.case_fields(task=task)
    return BenchCase(
        **{key: fields[key] for key in ("task", "device", "model", "batch_size", "optimizer", "implementation")},
        dtype=fields["dtype"],
        mode=fields["mode"],
        scope=fields["scope"],
        backend=run.compile.backend,
        strategy=args.strategy or "ddp",
        world_size=args.nproc,
    )


def add_case_selection(parser: argparse.ArgumentParser, *, device_help: str = "cpu, cuda or all") -> None:
    """--profile, --device, --threads, -k and --case: which cases a measuring command runs (bench, calibrate, ab)."""
    from hellotorch.settings import NAMED_MEASUREMENTS  # the named profiles, without importing their cases

    parser.add_argument(
        "--profile",
        default="quick",
        help=f"one of: {', '.join(NAMED_MEASUREMENTS)} (default quick), or a profile file (.toml)",
    )
    parser.add_argument("--device", default="cpu", help=device_help)
    parser.add_argument("--threads", type=thread_count, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument(
        "-k", dest="keyword", type=non_empty, default=None, help="pytest -k expression to narrow the cases"
    )
    parser.add_argument("--case", action="append", default=[], metavar="ID", help="run only this case (repeatable)")


def add_store_options(parser: argparse.ArgumentParser, *, results: bool = True) -> None:
    """``--results`` and ``--history``, one rule for every command: the history is ``<results>/history.sqlite``.

    A run recorded by ``bench --results X`` is found by ``history``, ``gate``,
    ``calibrate`` and ``ab`` given the same ``--results X``.
    """
    if results:
        parser.add_argument(
            "--results", type=non_empty, default="results", help="folder of run folders (default ./results)"
        )
    parser.add_argument(
        "--history",
        type=non_empty,
        default=None,
        metavar="PATH",
        help="the history database (default <results>/history.sqlite)",
    )


def history_of(args: argparse.Namespace):
    """The history database the options name: ``--history``, else the one under ``--results``."""
    from pathlib import Path

    from hellotorch.history.store import HISTORY_FILE

    return Path(args.history) if args.history else Path(args.results) / HISTORY_FILE
