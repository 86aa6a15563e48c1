"""``hellotorch parity``: one parity check, or the matrix of every optimizer, on the command line.

Exit 0 when the compiled step learns what eager learns, 1 when it does not
(or the reference is not deterministic), 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hellotorch.cli import EXIT_FAILED, EXIT_OK


def _parity_run(args: argparse.Namespace, model: str, optimizer: str):
    from hellotorch.cli import run_config_from_args
    from hellotorch.optimizers import get_optimizer_spec

    lr = args.lr or get_optimizer_spec(optimizer, args.impl).default_lr
    return run_config_from_args(args, model=model, optimizer=optimizer, mode=args.mode, lr=lr)


def _finetune_for(model: str, wanted: bool):
    from hellotorch.models import get_model_spec
    from hellotorch.training import FinetuneConfig

    if not wanted:
        return None
    finetune = FinetuneConfig(freeze_backbone=get_model_spec(model).has_backbone)
    finetune.validate(model)
    return finetune


def cmd_parity(args: argparse.Namespace) -> int:
    from hellotorch.cli import quiet_torch_logs
    from hellotorch.devices import set_threads
    from hellotorch.parity import check_parity, format_report

    if args.mode == "eager":
        raise ValueError("parity compares a compile mode against eager; choose a mode other than eager")
    if args.matrix:
        return _parity_matrix(args)
    run = _parity_run(args, args.model, args.optimizer)
    run.validate()
    finetune = _finetune_for(args.model, args.finetune)
    quiet_torch_logs()
    set_threads(args.threads)
    task = "fine-tuning" if finetune else "training"
    print(
        f"parity of {task} {run.model}, {run.optimizer}/{run.implementation}, lr {run.lr}, {run.dtype}, "
        f"{run.device}: compiled {args.mode}/{args.scope} ({args.backend}) vs eager, {args.steps} steps",
        flush=True,
    )
    report = check_parity(run, steps=args.steps, finetune=finetune)
    print(format_report(report))
    return EXIT_OK if report.verdict == "pass" else EXIT_FAILED


def _parity_matrix(args: argparse.Namespace) -> int:
    """Every optimizer on every model, training and fine-tuning: one line each, as it goes."""
    import time

    import pandas as pd

    from hellotorch.cli import quiet_torch_logs
    from hellotorch.devices import set_threads
    from hellotorch.markdown import markdown_table
    from hellotorch.optimizers import OPTIMIZERS
    from hellotorch.parity import check_parity

    models = [name.strip() for name in args.models.split(",") if name.strip()]
    optimizers = list(OPTIMIZERS) if args.optimizers == "all" else [o.strip() for o in args.optimizers.split(",")]
    plan = [(model, optimizer, task) for model in models for optimizer in optimizers for task in ("train", "finetune")]
    for model, optimizer, task in plan:  # validate everything before the first compile
        _parity_run(args, model, optimizer).validate()
        _finetune_for(model, task == "finetune")
    quiet_torch_logs()
    set_threads(args.threads)
    rows = []
    print(f"parity matrix: {len(plan)} checks, {args.dtype}, {args.device}, {args.steps} steps, mode {args.mode}")
    for index, (model, optimizer, task) in enumerate(plan, start=1):
        started = time.perf_counter()
        report = check_parity(
            _parity_run(args, model, optimizer), steps=args.steps, finetune=_finetune_for(model, task == "finetune")
        )
        row = {
            "model": model,
            "optimizer": optimizer,
            "task": task,
            "dtype": args.dtype,
            "steps": args.steps,
            "verdict": report.verdict,
            "max_abs_diff": report.max_abs_diff,
            "max_rel_diff": report.max_rel_diff,
            "worst_step": report.worst_step,
            "fp64_error_ratio": report.fp64_error_ratio,
            "reason": report.reason,
        }
        rows.append(row)
        print(
            f"[{index}/{len(plan)}] {model:<11} {optimizer:<9} {task:<8} {report.verdict:<5} "
            f"max |diff| {report.max_abs_diff:.2e} (rel {report.max_rel_diff:.2e}) at step {report.worst_step}, "
            f"RMSE vs fp64 compiled/eager {report.fp64_error_ratio:.2f}"
            f"  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    print(markdown_table(table.drop(columns=["reason"]), floatfmt=".2e"))
    if args.csv:
        from hellotorch.report import write_atomic

        write_atomic(Path(args.csv), lambda temp: table.to_csv(temp, index=False))
    failed = table[table["verdict"] != "pass"]
    for _, row in failed.iterrows():
        print(f"FAILED {row['model']} {row['optimizer']} {row['task']}: {row['reason']}")
    return EXIT_OK if failed.empty else EXIT_FAILED
