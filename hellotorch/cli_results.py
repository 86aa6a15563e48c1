"""``hellotorch report``, ``compare``, ``gate`` and ``baseline``: what happens to a run after it ran.

The logic lives in :mod:`hellotorch.results`, :mod:`hellotorch.report`,
:mod:`hellotorch.compare` and :mod:`hellotorch.gate`; these functions parse
nothing, print, and map outcomes onto exit codes (0 fine, 1 regression,
2 bad input, which arrives as ``ValueError``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hellotorch import cli_bench
from hellotorch.cli import EXIT_FAILED, EXIT_OK


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
    cli_bench.cmd_bench(bench_args)
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
