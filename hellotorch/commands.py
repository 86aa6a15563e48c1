"""Subcommands beyond train/finetune/env: parity, bench, report, compare, gate, baseline.

Each ``cmd_*`` parses nothing itself (``register`` declares the arguments),
delegates to the library and maps the outcome onto the exit codes: 0 fine,
1 a failed check (parity, failed cases, a regression), 2 bad input.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from hellotorch.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, positive_float, positive_int

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the analysis subcommands to the ``hellotorch`` parser."""
    parity = commands.add_parser("parity", help="does the compiled step learn what eager learns? (exit 1 if not)")
    parity.add_argument("--model", default="mlp")
    parity.add_argument("--optimizer", default="sgd")
    parity.add_argument("--impl", default="default", help="optimizer implementation")
    parity.add_argument("--lr", type=positive_float, default=None, help="default: 1e-2 (SGD family), 1e-3 (adaptive)")
    parity.add_argument("--steps", type=positive_int, default=100)
    parity.add_argument("--batch-size", type=positive_int, default=None)
    parity.add_argument("--device", default="cpu")
    parity.add_argument("--dtype", default="float32")
    parity.add_argument("--mode", default="default", help="compile mode to check against eager")
    parity.add_argument("--scope", default="step")
    parity.add_argument("--backend", default="inductor")
    parity.add_argument("--finetune", action="store_true", help="check fine-tuning (frozen backbone, new head)")
    parity.add_argument("--dropout", type=float, default=None, help="backbone dropout (mlp/transformer)")
    parity.add_argument("--seed", type=int, default=0)
    parity.add_argument("--threads", type=positive_int, default=None)
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


def _parity_run(args: argparse.Namespace, model: str, optimizer: str):
    from hellotorch.cli import run_config_from_args
    from hellotorch.optimizers import get_optimizer_spec

    family = get_optimizer_spec(optimizer, args.impl).family
    lr = args.lr or (1e-3 if family == "adaptive" else 1e-2)
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
    print(table.drop(columns=["reason"]).to_markdown(index=False, floatfmt=".2e"))
    if args.csv:
        from hellotorch.report import write_atomic

        write_atomic(Path(args.csv), lambda temp: table.to_csv(temp, index=False))
    failed = table[table["verdict"] != "pass"]
    for _, row in failed.iterrows():
        print(f"FAILED {row['model']} {row['optimizer']} {row['task']}: {row['reason']}")
    return EXIT_OK if failed.empty else EXIT_FAILED


def _bench_command(args: argparse.Namespace, run_dir: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCH_DIR),
        "-p",
        "no:cacheprovider",
        "-v",
        "-rfEs",
        f"--hellotorch-profile={args.profile}",
        f"--hellotorch-device={args.device}",
        f"--hellotorch-run-dir={run_dir}",
        f"--benchmark-json={run_dir / 'benchmark.json.partial'}",
        "--benchmark-columns=median,iqr,rounds",
        "--benchmark-sort=name",
    ]
    if args.threads:
        command.append(f"--hellotorch-threads={args.threads}")
    if args.keyword:
        command += ["-k", args.keyword]
    command += [f"--hellotorch-case={case}" for case in args.case]
    return command


def cmd_bench(args: argparse.Namespace) -> int:
    from hellotorch.cases import build_profile
    from hellotorch.runfiles import BENCHMARK_JSON, new_run_dir, read_journal

    if args.device not in ("cpu", "cuda", "all"):
        raise ValueError(f"unknown device {args.device!r}; choose one of: cpu, cuda, all")
    devices = ("cpu", "cuda") if args.device == "all" else (args.device,)
    profile = build_profile(args.profile, devices=devices, only=args.case)
    if not BENCH_DIR.is_dir():
        raise ValueError(f"benchmark suite not found at {BENCH_DIR}; run from a hellotorch checkout")
    run_dir = new_run_dir(Path(args.results), device=args.device, profile=args.profile)
    print(
        f"hellotorch bench: profile {profile.name} ({len(profile.cases)} cases) on {args.device} -> {run_dir}",
        flush=True,
    )
    child = subprocess.Popen(_bench_command(args, run_dir), cwd=REPO_ROOT)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reaches pytest too (same process group): give it time to write
        # what it has; forward the signal only if it did not get one.
        try:
            code = child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
            code = child.wait()
    finished = read_journal(run_dir)
    failed = [r for r in finished if r["extra_info"].get("status") not in ("ok", None)]
    raw = run_dir / BENCHMARK_JSON
    if not finished and code in (0, 5):  # 5: pytest collected nothing (-k matched no case)
        print(f"hellotorch bench: no case ran in {run_dir} (skipped or deselected; reasons above)")
        return EXIT_OK if code == 0 else EXIT_BAD_INPUT
    print(
        f"hellotorch bench: {len(finished)}/{len(profile.cases)} cases finished, {len(failed)} failed; "
        f"{'wrote ' + str(raw) if raw.is_file() else 'no complete benchmark.json (see cases.jsonl)'}"
    )
    for record in failed:
        info = record["extra_info"]
        print(f"  FAILED {record['id']}: {info.get('failure') or info.get('parity_reason') or info.get('status')}")
    if raw.is_file() and not args.no_report:
        cmd_report(argparse.Namespace(run=str(run_dir)))
    return EXIT_OK if code == 0 else EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from hellotorch.report import build_report

    written = build_report(args.run)
    print(f"hellotorch report: wrote {len(written)} files in {written[0].parent}")
    for path in written:
        print(f"  {path.name}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from hellotorch import compare, plots
    from hellotorch.report import save_figure, write_atomic
    from hellotorch.results import load_run

    runs = [load_run(path) for path in args.runs]
    table, labels = compare.compare_table(runs)
    differences = compare.machine_differences(runs, labels)
    markdown = compare.to_markdown(table, labels, differences)
    print(markdown)
    out = Path(args.output) if args.output else runs[0].folder
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "compare.md", lambda temp: Path(temp).write_text(markdown))
    write_atomic(out / "compare.csv", lambda temp: table.to_csv(temp, index=False))
    fig, _ = plots.compare_runs(table, labels)
    save_figure(fig, out / "compare.png")
    print(f"hellotorch compare: wrote compare.md, compare.csv, compare.png in {out}")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    import json

    from hellotorch import gate
    from hellotorch.report import write_atomic
    from hellotorch.results import load_run

    baseline, current = load_run(args.baseline), load_run(args.current)
    options = {}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.spread_factor is not None:
        options["spread_factor"] = args.spread_factor
    result = gate.gate(baseline, current, **options)
    if args.confirm and result.regressions:
        result = _confirm(args, baseline, current, result, options)
    markdown = gate.to_markdown(result, baseline, current, show_all=args.all)
    print(markdown)
    if args.markdown:
        write_atomic(Path(args.markdown), lambda temp: Path(temp).write_text(markdown))
    if args.github_json:
        entries = gate.github_benchmark_json(current)
        write_atomic(Path(args.github_json), lambda temp: Path(temp).write_text(json.dumps(entries, indent=2)))
    return EXIT_OK if result.passed else EXIT_FAILED


def _confirm(args: argparse.Namespace, baseline, current, result, options: dict):
    """Re-measure the cases whose speedup regressed; keep only regressions that reproduce.

    A neighbour's burst of load can shift one case's paired ratio for the
    few seconds it is measured; a real regression shows up again.
    """
    from hellotorch import gate
    from hellotorch.results import load_run

    suspects = sorted({f.case for f in result.regressions if f.check == "speedup"})
    if not suspects:
        return result
    profile, devices = current.meta.get("profile"), current.meta.get("devices", ["cpu"])
    if not profile:
        raise ValueError(f"{current.label} does not say which profile it ran; cannot re-measure")
    print(f"hellotorch gate: re-measuring {len(suspects)} regressed case(s) to confirm", flush=True)
    confirm_root = current.folder / "confirm"
    bench_args = argparse.Namespace(
        profile=profile,
        device="all" if len(devices) > 1 else devices[0],
        threads=current.machine.get("threads"),
        keyword=None,
        case=suspects,
        results=str(confirm_root),
        no_report=True,
    )
    cmd_bench(bench_args)
    rerun = load_run(sorted(confirm_root.iterdir())[-1])
    again = gate.gate(baseline, rerun, **options)
    reproduced = {f.case for f in again.regressions if f.check == "speedup"}
    findings = [
        f
        if f.check != "speedup" or f.case not in suspects
        else gate.Finding(
            f.case,
            f.check,
            f.baseline,
            f.current,
            f.change + (" (confirmed)" if f.case in reproduced else " (not reproduced)"),
            f.allowed,
            f.case in reproduced,
        )
        for f in result.findings
    ]
    notes = [*result.notes, f"re-measured {len(suspects)} case(s) in {rerun.folder}: {len(reproduced)} reproduced"]
    return gate.GateResult(findings, result.common, notes)


def cmd_baseline(args: argparse.Namespace) -> int:
    """Pin one run, or the per-case median of several, so one disturbed run cannot skew the gate."""
    import json
    import statistics

    from hellotorch.report import write_atomic
    from hellotorch.results import load_run

    runs = [load_run(path) for path in args.runs]
    for run in runs:
        if run.meta.get("from_journal"):
            raise ValueError(f"{run.folder} has no complete benchmark.json; pin a run that finished")
    raw = json.loads(runs[0].path.read_text())
    others = [{r["id"]: r for r in run.records} for run in runs[1:]]
    for bench in raw["benchmarks"]:
        bench["stats"].pop("data", None)  # every round's time: large, and the gate needs none of it
        info = bench["extra_info"]
        if not info.get("compiled") or "speedup" not in info:
            continue
        samples = [info] + [other[info["id"]] for other in others if "speedup" in other.get(info["id"], {})]
        for key in ("speedup", "speedup_q1", "speedup_q3"):
            info[key] = statistics.median(sample[key] for sample in samples)
        info["baseline_runs"] = len(samples)
    raw.setdefault("hellotorch", {})["baseline_of"] = [run.label for run in runs]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, lambda temp: Path(temp).write_text(json.dumps(raw, indent=1)))
    print(
        f"hellotorch baseline: pinned {', '.join(run.label for run in runs)} ({len(raw['benchmarks'])} cases) as {output}"
    )
    return EXIT_OK
