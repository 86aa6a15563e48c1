"""``hellotorch train`` and ``hellotorch finetune``: one run, printing its loss as it goes.

Exit 0 when the run finished, 1 when a step failed or the loss stopped being
finite (the step is named), 2 on bad input (checked, with ``--save``, before
the first step).
"""

from __future__ import annotations

import argparse

from hellotorch.cli.options import (
    add_distributed_options,
    add_step_options,
    distributed_case,
    positive_float,
    positive_int,
    run_config,
    run_options,
)
from hellotorch.errors import ExitCode


def _add_run_options(parser: argparse.ArgumentParser, *, model_default: str | None) -> None:
    from hellotorch.training.compiling import COMPILE_MODES

    run = parser.add_argument_group("run")
    # One default per optimizer family, the one parity and the benchmarks use (1e-2 SGD family, 1e-3 adaptive).
    add_step_options(run, model_default=model_default, lr_default=None)
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
    run.add_argument("--log-every", type=positive_int, default=None, metavar="N", help="print the loss every N steps")
    run.add_argument("--quiet", action="store_true", help="print only the final line")
    if model_default is not None:  # train, not finetune
        add_distributed_options(run)


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train a model, eager or compiled, printing the loss")
    _add_run_options(train, model_default="hello")
    train.set_defaults(handler=run_train)

    finetune = commands.add_parser("finetune", help="fine-tune from a checkpoint: new head, frozen or slower backbone")
    finetune.add_argument("--from", dest="source", required=True, metavar="PATH", help="checkpoint from train --save")
    group = finetune.add_mutually_exclusive_group()
    group.add_argument("--freeze-backbone", action="store_true", help="train only the new head")
    group.add_argument("--backbone-lr", type=positive_float, default=None, help="backbone learning rate")
    group.add_argument("--lora", type=positive_int, default=0, metavar="RANK", help="frozen backbone + LoRA adapters")
    finetune.add_argument(
        "--lora-alpha", type=positive_float, default=None, help="LoRA scale numerator (default: RANK)"
    )
    _add_run_options(finetune, model_default=None)
    finetune.set_defaults(handler=run_finetune)


def _progress(args: argparse.Namespace):
    # Each printed loss is a host sync; the default keeps it to about ten.
    every = args.log_every or max(1, args.steps // 10)

    def on_step(index: int, loss) -> None:
        if not args.quiet and (index == 0 or (index + 1) % every == 0):
            print(f"step {index + 1:>{len(str(args.steps))}}/{args.steps}  loss {loss.item():.6f}", flush=True)

    return on_step


def _finish(outcome) -> int:
    print(f"final loss {outcome.losses[-1]:.6f} after {len(outcome.losses)} steps ({outcome.seconds:.1f} s)")
    if outcome.saved is not None:
        print(f"saved checkpoint to {outcome.saved}")
    return ExitCode.OK


def _describe(run, *, task: str) -> str:
    from hellotorch.labels import case_title

    return f"{case_title(run.case_fields(task=task))}, lr {run.lr:g}"


def run_train(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_file
    from hellotorch.training.devices import quiet_compile_logs, set_threads
    from hellotorch.training.workflows import run_training

    run = run_config(args, model=args.model, optimizer=args.optimizer, mode=args.compile, lr=args.lr)
    case = distributed_case(args, run, task="train")
    if case is not None:
        return _train_distributed(args, case)
    check_output_file(args.save, option="--save")
    quiet_compile_logs()
    set_threads(args.threads)
    print(f"training {_describe(run, task='train')}, {args.steps} steps", flush=True)
    return _finish(run_training(run, steps=args.steps, on_step=_progress(args), save=args.save))


def _train_distributed(args: argparse.Namespace, case) -> int:
    from hellotorch.distributed.bench import distributed_curve

    lr = case.run_config().lr
    print(f"training {case.title} under torchrun, lr {lr:g} (the optimizer's default), {args.steps} steps", flush=True)
    report = distributed_curve(case, steps=args.steps)
    every = args.log_every or max(1, args.steps // 10)
    for index, loss in enumerate(report["losses"]):
        if not args.quiet and (index == 0 or (index + 1) % every == 0):
            print(f"step {index + 1:>{len(str(args.steps))}}/{args.steps}  loss {loss:.6f}  (mean over ranks)")
    for rank, facts in enumerate(report["ranks"]):
        print(
            f"rank {rank}: first step {facts['first_call_s']:.2f} s, "
            f"{facts['graph_breaks']} graph breaks, {facts['recompiles']} recompiles"
        )
    print(f"final loss {report['losses'][-1]:.6f} after {args.steps} steps ({report['launch_s']:.1f} s with launching)")
    return ExitCode.OK


def run_finetune(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_file
    from hellotorch.training.config import FinetuneConfig
    from hellotorch.training.devices import quiet_compile_logs, set_threads
    from hellotorch.training.workflows import plan_finetuning, run_finetuning

    check_output_file(args.save, option="--save")
    plan = plan_finetuning(
        args.source,
        finetune=FinetuneConfig(
            freeze_backbone=args.freeze_backbone,
            backbone_lr=args.backbone_lr,
            lora_rank=args.lora,
            lora_alpha=args.lora_alpha,
        ),
        run_options=run_options(args, optimizer=args.optimizer, mode=args.compile, lr=args.lr),
        model=args.model,
        width=args.width,
        depth=args.depth,
    )
    quiet_compile_logs()
    set_threads(args.threads)
    backbone = "frozen" if args.freeze_backbone else f"lr {args.backbone_lr or plan.run.lr:g}"
    if args.lora:
        backbone = f"frozen with LoRA rank {args.lora}, alpha {plan.finetune.alpha:g}"
    print(f"fine-tuning {_describe(plan.run, task='finetune')}, backbone {backbone}, from {args.source}", flush=True)
    return _finish(run_finetuning(plan, steps=args.steps, on_step=_progress(args), save=args.save))
