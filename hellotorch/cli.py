"""The ``hellotorch`` command line: argument parsing and error policy.

Every subcommand's bad input (an unknown name, a missing file, CUDA where
there is none, a non-positive count) ends in one line on stderr that names
the problem and the valid choices, and exit status 2 — never a traceback.
The work itself lives in the library; the subcommands here only parse,
delegate and print.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hellotorch.training import RunConfig

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def add_step_options(group: argparse._ArgumentGroup, *, model_default: str | None, lr_default: float | None) -> None:
    """The options that define a step, shared by train, finetune and parity."""
    from hellotorch.compiling import BACKENDS, SCOPES
    from hellotorch.devices import PRECISIONS
    from hellotorch.models import MODELS
    from hellotorch.optimizers import IMPLEMENTATIONS, OPTIMIZERS

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
    group.add_argument("--threads", type=positive_int, default=None, help="CPU threads, fixed before compiling")


def _add_run_options(parser: argparse.ArgumentParser, *, model_default: str | None) -> None:
    from hellotorch.compiling import COMPILE_MODES

    run = parser.add_argument_group("run")
    add_step_options(run, model_default=model_default, lr_default=0.01)
    run.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default="eager",
        metavar="MODE",
        help=f"compile the step; MODE one of: {', '.join(m for m in COMPILE_MODES if m != 'eager')}",
    )
    run.add_argument("--width", type=positive_int, default=None, help="mlp/transformer width")
    run.add_argument("--depth", type=positive_int, default=None, help="mlp/transformer depth")
    run.add_argument("--save", metavar="PATH", default=None, help="write a checkpoint here at the end")
    run.add_argument(
        "--log-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="print the loss every N steps (default: 10 lines)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the final line")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="hellotorch",
        description="Does torch.compile pay off for your training step? Train, fine-tune, benchmark, compare.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    train = commands.add_parser("train", help="train a model, eager or compiled, printing the loss")
    _add_run_options(train, model_default="hello")

    finetune = commands.add_parser("finetune", help="fine-tune from a checkpoint: new head, frozen or slower backbone")
    finetune.add_argument("--from", dest="source", required=True, metavar="PATH", help="checkpoint from train --save")
    group = finetune.add_mutually_exclusive_group()
    group.add_argument("--freeze-backbone", action="store_true", help="train only the new head")
    group.add_argument("--backbone-lr", type=positive_float, default=None, help="backbone learning rate")
    _add_run_options(finetune, model_default=None)

    commands.add_parser("env", help="print what a results file needs to name this machine")

    from hellotorch import commands as extra

    extra.register(commands)
    return parser


def run_config_from_args(args: argparse.Namespace, *, model: str, optimizer: str, mode: str, lr: float) -> RunConfig:
    """The RunConfig that parsed run options describe (shared by train, finetune and parity)."""
    from hellotorch.compiling import CompileConfig
    from hellotorch.models import model_config
    from hellotorch.training import RunConfig

    shape = {key: getattr(args, key, None) for key in ("width", "depth", "dropout")}
    return RunConfig(
        model=model,
        optimizer=optimizer,
        implementation=args.impl,
        lr=lr,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        compile=CompileConfig(mode=mode, scope=args.scope, backend=args.backend),
        seed=args.seed,
        model_config=model_config(model, **shape),
    )


def _run_config(args: argparse.Namespace, model: str) -> RunConfig:
    return run_config_from_args(args, model=model, optimizer=args.optimizer, mode=args.compile, lr=args.lr)


def _print_progress(args: argparse.Namespace):
    # Each printed loss is a host sync; the default keeps it to about ten.
    every = args.log_every or max(1, args.steps // 10)

    def on_step(index: int, loss) -> None:
        if not args.quiet and (index == 0 or (index + 1) % every == 0):
            print(f"step {index + 1:>{len(str(args.steps))}}/{args.steps}  loss {loss.item():.6f}", flush=True)

    return on_step


def _describe(run) -> str:
    how = "eager" if not run.compile.compiled else f"compiled {run.compile.mode}/{run.compile.scope}"
    return f"{run.model}, {run.optimizer}/{run.implementation}, lr {run.lr}, {run.dtype}, {run.device}, {how}"


def _finish(args: argparse.Namespace, setup, losses: list[float], started: float) -> int:
    from hellotorch.checkpoint import save_checkpoint

    print(f"final loss {losses[-1]:.6f} after {len(losses)} steps ({time.perf_counter() - started:.1f} s)")
    if args.save:
        path = save_checkpoint(
            setup.model, args.save, model_name=setup.run.model, config=setup.run.resolved_model_config
        )
        print(f"saved checkpoint to {path}")
    return EXIT_OK


def quiet_torch_logs() -> None:
    """Silence Dynamo's per-frame warnings (e.g. ignored profiler records) on the console."""
    import logging

    import torch

    torch._logging.set_logs(dynamo=logging.ERROR)


def cmd_train(args: argparse.Namespace) -> int:
    from hellotorch.devices import set_threads
    from hellotorch.training import prepare_training, train

    run = _run_config(args, args.model)
    run.validate()
    quiet_torch_logs()
    set_threads(args.threads)
    started = time.perf_counter()
    setup = prepare_training(run)
    print(f"training {_describe(run)}, batch {run.resolved_batch_size}, {args.steps} steps", flush=True)
    losses = train(setup, steps=args.steps, on_step=_print_progress(args))
    return _finish(args, setup, losses, started)


def cmd_finetune(args: argparse.Namespace) -> int:
    from hellotorch.checkpoint import CheckpointError, load_into, read_checkpoint
    from hellotorch.devices import set_threads
    from hellotorch.models import build_model
    from hellotorch.training import FinetuneConfig, prepare_finetuning, train

    checkpoint = read_checkpoint(args.source)
    if args.model is not None and args.model != checkpoint.model:
        raise CheckpointError(f"checkpoint {args.source} is for model {checkpoint.model}, not {args.model}")
    run = _run_config(args, checkpoint.model)
    requested = run.resolved_model_config
    if (args.width or args.depth) and requested != checkpoint.config:
        raise CheckpointError(
            f"checkpoint {args.source} has width {checkpoint.config.width}, depth {checkpoint.config.depth}; "
            f"asked for width {requested.width}, depth {requested.depth}"
        )
    run = dataclasses.replace(run, model_config=checkpoint.config)
    finetune = FinetuneConfig(freeze_backbone=args.freeze_backbone, backbone_lr=args.backbone_lr)
    finetune.validate(run.model)
    run.validate()
    quiet_torch_logs()
    set_threads(args.threads)
    pretrained = build_model(checkpoint.model, config=checkpoint.config)
    load_into(pretrained, checkpoint, source=f"checkpoint {args.source}")
    started = time.perf_counter()
    setup = prepare_finetuning(run, pretrained, finetune)
    backbone = "frozen" if args.freeze_backbone else f"lr {args.backbone_lr or args.lr}"
    print(f"fine-tuning {_describe(run)}, backbone {backbone}, from {args.source}", flush=True)
    losses = train(setup, steps=args.steps, on_step=_print_progress(args))
    return _finish(args, setup, losses, started)


def cmd_env(args: argparse.Namespace) -> int:
    from hellotorch.devices import set_threads
    from hellotorch.envinfo import collect

    set_threads(None)
    for key, value in collect().items():
        print(f"{key:<15} {value}")
    return EXIT_OK


HANDLERS = {"train": cmd_train, "finetune": cmd_finetune, "env": cmd_env}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = HANDLERS.get(args.command) or args.handler
    try:
        return handler(args)
    except ValueError as error:  # registries, checkpoints and configs raise ValueError
        print(f"hellotorch {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"hellotorch {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `hellotorch gate ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:  # a compile error deep in Inductor, say: one line, not a traceback
        if os.environ.get("HELLOTORCH_DEBUG"):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"hellotorch {args.command}: failed: {type(error).__name__}: {reason} (HELLOTORCH_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
