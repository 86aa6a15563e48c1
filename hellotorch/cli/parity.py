"""``hellotorch parity``: one parity check, or the matrix of every optimizer.

Exit 0 when the compiled step learns what eager learns, 1 when it does not
(or the reference is not deterministic), 2 on bad input (every name and the
``--csv`` path are checked before the first compile).
"""

from __future__ import annotations

import argparse

from hellotorch.cli.options import (
    add_distributed_options,
    add_step_options,
    distributed_case,
    non_empty,
    positive_int,
    run_config,
)
from hellotorch.errors import ExitCode


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    parity = commands.add_parser("parity", help="does the compiled step learn what eager learns? (exit 1 if not)")
    add_step_options(parity.add_argument_group("run"), model_default="mlp", lr_default=None)
    parity.add_argument("--mode", default="default", help="compile mode to check against eager")
    parity.add_argument("--finetune", action="store_true", help="check fine-tuning (frozen backbone, new head)")
    parity.add_argument("--lora", type=positive_int, default=0, metavar="RANK", help="check LoRA fine-tuning")
    parity.add_argument("--dropout", type=float, default=None, help="backbone dropout (mlp/transformer)")
    add_distributed_options(parity.add_argument_group("distributed (against one process on the global batch)"))
    parity.add_argument(
        "--matrix",
        action="store_true",
        help="every optimizer x --models x train/finetune, one line each (ignores --model/--optimizer)",
    )
    parity.add_argument("--models", type=non_empty, default="mlp,transformer", help="with --matrix: comma-separated")
    parity.add_argument("--optimizers", type=non_empty, default="all", help="with --matrix: comma-separated, or all")
    parity.add_argument("--tasks", type=non_empty, default="train,finetune,lora", help="with --matrix: comma-separated")
    parity.add_argument("--csv", default=None, metavar="PATH", help="with --matrix: write the table here too")
    parity.set_defaults(handler=run_parity)


def _run(args: argparse.Namespace, model: str, optimizer: str):
    if args.mode == "eager":
        raise ValueError("--mode: parity compares a compile mode against eager; choose a mode other than eager")
    return run_config(args, model=model, optimizer=optimizer, mode=args.mode, lr=args.lr)


def run_parity(args: argparse.Namespace) -> int:
    from hellotorch.labels import case_title
    from hellotorch.parity.losses import check_parity, format_report
    from hellotorch.training.config import FinetuneConfig
    from hellotorch.training.devices import quiet_compile_logs, set_threads

    if args.matrix:
        return _run_matrix(args)
    if args.csv:
        raise ValueError("--csv: only with --matrix")
    run = _run(args, args.model, args.optimizer)
    if args.nproc is not None and args.lora:
        raise ValueError("--lora: not with --nproc (distributed fine-tuning checks a frozen backbone: --finetune)")
    case = distributed_case(args, run, task="finetune" if args.finetune else "train")
    if case is not None:
        return _parity_distributed(args, case)
    finetune = None
    if args.lora:
        finetune = FinetuneConfig(lora_rank=args.lora)
        finetune.check_model(run.model)
    elif args.finetune:
        finetune = FinetuneConfig.default_for(run.model)
    quiet_compile_logs()
    set_threads(args.threads)
    task = "lora" if args.lora else "finetune" if finetune else "train"
    print(f"parity of {case_title(run.case_fields(task=task))} vs eager, lr {run.lr:g}, {args.steps} steps", flush=True)
    report = check_parity(run, steps=args.steps, finetune=finetune)
    print(format_report(report))
    return ExitCode.OK if report.verdict == "pass" else ExitCode.CHECK_FAILED


def _parity_distributed(args: argparse.Namespace, case) -> int:
    from hellotorch.distributed.bench import distributed_curve
    from hellotorch.parity.distributed import compare_with_one_process
    from hellotorch.parity.losses import format_report

    print(f"parity of {case.title} vs one process on the global batch, {args.steps} steps", flush=True)
    for arm in (case.eager_twin(), case) if case.compiled else (case,):
        report = compare_with_one_process(arm, distributed_curve(arm, steps=args.steps)["losses"])
        print(f"{arm.title}:")
        print(format_report(report))
        if report.verdict != "pass":
            return ExitCode.CHECK_FAILED
    return ExitCode.OK


def _names(text: str, *, every: list[str]) -> list[str]:
    return list(every) if text == "all" else [name.strip() for name in text.split(",") if name.strip()]


def _run_matrix(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_file, write_atomic
    from hellotorch.parity.matrix import plan_matrix, run_matrix
    from hellotorch.progress import Progress, style_for
    from hellotorch.training.devices import quiet_compile_logs, set_threads
    from hellotorch.training.optimizers import OPTIMIZERS

    csv = check_output_file(args.csv, option="--csv")
    plan = plan_matrix(
        lambda model, optimizer: _run(args, model, optimizer),
        models=_names(args.models, every=[]),
        optimizers=_names(args.optimizers, every=list(OPTIMIZERS)),
        tasks=_names(args.tasks, every=[]),
    )
    quiet_compile_logs()
    set_threads(args.threads)
    print(f"parity matrix: {len(plan)} checks, {args.dtype}, {args.device}, {args.steps} steps, mode {args.mode}")
    # Every check weighs alike: the time left follows from the checks done.
    names = [f"#{n} {check.run.model} {check.run.optimizer} {check.task}" for n, check in enumerate(plan, 1)]
    steps = Progress("parity matrix", dict.fromkeys(names, 1.0), style=style_for(), planned=False, unit="checks")

    def progress(index: int, row: dict) -> None:
        steps.say(
            f"[{index}/{len(plan)}] {row['model']:<11} {row['optimizer']:<9} {row['task']:<8} {row['verdict']:<5} "
            f"max |diff| {row['max_abs_diff']:.2e} (rel {row['max_rel_diff']:.2e}) at step {row['worst_step']}, "
            f"RMSE vs fp64 compiled/eager {row['fp64_error_ratio']:.2f}"
            + (
                f", BatchNorm stats {row['batchnorm_max_diff']:.1e}"
                if row["batchnorm_max_diff"] == row["batchnorm_max_diff"]
                else ""
            )
            + f"  ({row['seconds']:.0f} s)"
        )
        steps.finish(names[index - 1])

    try:
        table = run_matrix(plan, steps=args.steps, on_result=progress)
    finally:
        steps.close()
    print(table.drop(columns=["reason", "seconds"]).to_markdown(index=False, floatfmt=".2e"))
    if csv is not None:
        write_atomic(csv, lambda temp: table.to_csv(temp, index=False))
    failed = table[table["verdict"] != "pass"]
    for _, row in failed.iterrows():
        print(f"FAILED {row['model']} {row['optimizer']} {row['task']}: {row['reason']}")
    return ExitCode.OK if failed.empty else ExitCode.CHECK_FAILED
