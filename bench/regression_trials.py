"""Regression trials: does hellotorch catch a real 5 % and 10 % slowdown, and stay quiet on unchanged code?

Makes slowed commits of this checkout (the training step does extra
elementwise passes over the parameters: ``p.mul_(2).mul_(0.5)``, exact in
floating point, so the loss curve is unchanged), calibrates this machine,
then runs, for each of A/A (unchanged), slow-5 and slow-10, ``--trials``
trials of ``hellotorch ab --base HEAD --head <commit>`` and the calibrated
gate on the head's first run. Last it builds histories of real runs (the
unchanged runs, then slowed ones entering part-way) and reads their change
points. Everything lands in ``--out``; ``summary.md`` has the counts.

    python bench/regression_trials.py --out /tmp/trials --passes 1 2 --threads 1
    python bench/regression_trials.py --out /tmp/trials6 --max-pairs 6 --statistic reference

Run it on a quiet machine, alone: it is a benchmark (44-47 minutes here at 3 pairs, 72 minutes
at up to 6; ``--analyze`` rewrites the summary of a finished ``--out``, each A/B statistic read
from the same runs with this commit's rule, and a table per case).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "bench/trials.toml"
STEP_FILE = "hellotorch/training/step.py"
ANCHOR = "    optimizer.step()\n"
PATCH = """    optimizer.step()
    with torch.no_grad():  # regression trial: {passes} extra elementwise pass(es) over the parameters
        for _ in range({passes}):
            for parameter in model.parameters():
                parameter.mul_(2.0).mul_(0.5)
"""


def sh(*command: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=check)


def hellotorch(*arguments: str) -> tuple[int, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "hellotorch", *arguments], cwd=ROOT, capture_output=True, text=True)
    print(f"  hellotorch {arguments[0]}: exit {done.returncode} in {time.monotonic() - started:.0f} s", flush=True)
    return done.returncode, done.stdout + done.stderr


def slowed_commit(out: Path, passes: int) -> str:
    """A commit of HEAD whose train_step does ``passes`` extra passes, made in a scratch worktree."""
    tree = out / f"slow-{passes}-tree"
    sh("git", "worktree", "add", "--detach", "--quiet", str(tree), "HEAD")
    try:
        step = tree / STEP_FILE
        text = step.read_text()
        assert text.count(ANCHOR) == 1, "train_step changed: update the trial patch"
        step.write_text(text.replace(ANCHOR, PATCH.format(passes=passes)))
        sh(
            "git",
            "-c",
            "user.name=trials",
            "-c",
            "user.email=trials@localhost",
            "commit",
            "-qam",
            f"trial: {passes} extra pass(es) over the parameters in train_step",
            cwd=tree,
        )
        return sh("git", "rev-parse", "HEAD", cwd=tree).stdout.strip()
    finally:
        sh("git", "worktree", "remove", "--force", str(tree), check=False)


def first_run(folder: Path) -> Path:
    return sorted(folder.glob("run-*"))[0]


def side_runs(folder: Path, side: str) -> list[Path]:
    """The run folders of one side of an A/B, oldest first."""
    return sorted((run for sub in folder.glob(f"{side}-*") for run in sub.glob("run-*")), key=lambda p: p.name)


def history_of(out: Path, name: str, runs: list[Path]) -> list:
    """A copy of the calibrated history with ``runs`` ingested; its change points."""
    from hellotorch.gate.noise import load_all_noise
    from hellotorch.history.changepoints import change_points
    from hellotorch.history.store import ingest, open_history, trend
    from hellotorch.results.runs import load_run

    path = out / f"history-{name}.sqlite"
    shutil.copy(out / "calibration.sqlite", path)
    connection = open_history(path)
    try:
        for run in runs:
            ingest(connection, load_run(run))
        rows = trend(connection)
        rows = rows[rows["label"].isin([load_run(run).label for run in runs])]
        return change_points(rows, load_all_noise(connection))
    finally:
        connection.close()


def verdicts_at(folder: Path, pairs: int, statistic: str = "median"):
    """The table ``hellotorch ab --statistic STATISTIC`` stopped after ``pairs`` pairs gives: its rule on those runs.

    Exact, not an estimate: an A/B that stops at ``pairs`` sees these runs and no others, and every statistic
    is read from the same runs, so one set of trials answers for each.
    """
    from hellotorch.ab.run import AbSamples, verdicts
    from hellotorch.ab.sides import AbOptions
    from hellotorch.results.runs import load_run

    samples = AbSamples(statistic=statistic)
    for pair in range(1, pairs + 1):
        for side in ("base", "head"):
            for run in sorted((folder / f"{side}-{pair}").glob("run-*")):
                samples.add(side, load_run(run))
    return verdicts(samples, AbOptions(profile=PROFILE, statistic=statistic))


def replayed(folder: Path, available: int, statistic: str):
    """(table, pairs): the verdicts ``ab`` with today's rule reaches on these runs, stopping as it would.

    ``ab`` stops at the first pair count from 3 at which no case is
    undecided; a replay can stop no later than the runs that exist, so a
    rule that would have asked for more pairs than the trial ran is read
    at ``available``.
    """
    for pairs in range(3, available + 1):
        table = verdicts_at(folder, pairs, statistic)
        if not (table["verdict"] == "undecided").any():
            return table, pairs
    return verdicts_at(folder, available, statistic), available


def flagged_at(folder: Path, pairs: int, statistic: str = "median") -> bool:
    return bool((verdicts_at(folder, pairs, statistic)["verdict"] == "REGRESSION").any())


def gate_in_ms(out: Path, kind: str, trials: int, *, history: Path, baseline: Path) -> int:
    """How often the gate flags the head's first run when it may not use reference units: the rule before them.

    The same runs, calibration and baseline as the gate that ran; only the
    ``step_per_reference`` calibration is left out, so step times are compared in milliseconds.
    """
    from hellotorch.gate.check import GateOptions, gate
    from hellotorch.gate.noise import noise_for_run
    from hellotorch.results.runs import load_run

    flagged = 0
    for trial in range(1, trials + 1):
        current = load_run(first_run(out / f"ab-{kind}-{trial}" / "head-1"))
        noise = {key: n for key, n in noise_for_run(history, current).items() if key[1] != "step_per_reference"}
        flagged += not gate(load_run(baseline), current, options=GateOptions(noise=noise)).passed
    return flagged


def spread_gate(out: Path, kinds: list[str], trials: int) -> dict[str, int]:
    """Per kind, how often the gate flags the head's first run when calibrated over the trials' whole span.

    The calibration the trials start with is 5 runs in a row (minutes); the
    trials last an hour or more, and the machine drifts more than that. Here
    the calibration and the baseline come instead from every trial's base
    runs (unchanged code, spread over the whole trials: what a CI history of
    past A/B base runs holds), through ``calibrate --from-runs``. The judged
    head runs are not among them.
    """
    history, baseline = out / "spread-calibration.sqlite", out / "spread-baseline.json"
    if not history.exists():
        base_runs = [
            run for kind in kinds for t in range(1, trials + 1) for run in side_runs(out / f"ab-{kind}-{t}", "base")
        ]
        code, text = hellotorch(
            "calibrate",
            "--from-runs",
            *map(str, base_runs),
            "--results",
            str(out / "spread"),
            "--history",
            str(history),
            "--baseline",
            str(baseline),
        )
        (out / "spread-calibrate.log").write_text(text)
        if code != 0:
            sys.exit(f"calibrate --from-runs failed (exit {code}); see {out / 'spread-calibrate.log'}")
    flagged = {}
    for kind in kinds:
        codes = []
        for trial in range(1, trials + 1):
            current = first_run(out / f"ab-{kind}-{trial}" / "head-1")
            code, text = hellotorch(
                "gate", "--baseline", str(baseline), "--current", str(current), "--history", str(history), "--all"
            )
            (out / f"spread-gate-{kind}-{trial}.log").write_text(text)
            codes.append(code)
        flagged[kind] = sum(code == 1 for code in codes)
    return flagged


def per_case_rows(kind: str, tables: dict) -> list[str]:
    """Per case of one kind of trial: how often each statistic flagged it, and its per-trial ratio in reference units.

    A slowdown of ``train_step`` costs the eager and the compiled step
    differently (Inductor fuses the extra passes into kernels it runs
    anyway), so each case is its own trial of a different size.
    """
    rows = []
    cases = sorted({case for table in tables["reference"] for case in table["case"]})
    for case in cases:
        counts, ratios = {}, []
        for statistic, found in tables.items():
            verdicts = [table.loc[table["case"] == case, "verdict"] for table in found]
            counts[statistic] = sum(bool((verdict == "REGRESSION").any()) for verdict in verdicts)
        for table in tables["reference"]:
            row = table.loc[table["case"] == case]
            if len(row) and "ratio" in row and row["ratio"].iloc[0] == row["ratio"].iloc[0]:
                ratios.append(f"{row['ratio'].iloc[0] - 1:+.1%} ({row['verdict'].iloc[0]}, {row['pairs'].iloc[0]})")
        arm = "compiled" if "default" in case else "eager"
        rows.append(
            f"| {arm}, {kind} ({len(tables['reference'])}) | {counts['reference']} | {counts['median']} "
            f"| {counts['min']} | {'; '.join(ratios)} |"
        )
    return rows


def analyze(out: Path, trials: int) -> str:
    """summary.md: false alarms, detections, measured cost, and the change points of three histories."""
    import statistics

    rows = json.loads((out / "trials.json").read_text())
    as_run = (out / "statistic.txt").read_text() if (out / "statistic.txt").exists() else "median"
    kinds = list(dict.fromkeys(row["kind"] for row in rows))
    # The gate as run compares step times in reference units where calibrated; "in ms" is the rule without them.
    lines = [
        f"| trials | ab flagged ({as_run}, as run) | pairs as run (median, max) | pairs, today's rule "
        "| ab, median | ab, min | ab, reference | calibrated gate | in ms | gate calibrated over the trials' span | in ms "
        "| cost, compiled: median / reference | cost, eager: median / reference |",
        "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    spread = spread_gate(out, kinds, trials)
    per_case: list[str] = []
    for kind in kinds:
        mine = [row for row in rows if row["kind"] == kind]
        spread_in_ms = gate_in_ms(
            out, kind, trials, history=out / "spread-calibration.sqlite", baseline=out / "spread-baseline.json"
        )
        pairs = [max((v[4] for v in row["ab"].values()), default=0) for row in mine]
        replays = {
            statistic: [replayed(out / f"ab-{kind}-{row['trial']}", n, statistic) for row, n in zip(mine, pairs)]
            for statistic in ("median", "min", "reference")
        }
        tables = {statistic: [table for table, _ in found] for statistic, found in replays.items()}
        replay_pairs = [n for _, n in replays[as_run]]
        flagged = {
            statistic: sum(bool((table["verdict"] == "REGRESSION").any()) for table in found)
            for statistic, found in tables.items()
        }
        per_case += per_case_rows(kind, tables)
        cost = {}
        for arm in ("default.step", "eager"):
            for statistic in ("median", "reference"):
                ratios = [
                    ratio
                    for table in tables[statistic]
                    if "ratio" in table
                    for case, ratio in zip(table["case"], table["ratio"])
                    if case.endswith(arm) and ratio == ratio
                ]
                cost[arm, statistic] = f"{statistics.median(ratios) - 1:+.1%}" if ratios else "-"
        lines.append(
            f"| {kind} ({len(mine)}) | {sum(r['ab_exit'] == 1 for r in mine)} | {statistics.median(pairs):g}, {max(pairs)} "
            f"| {statistics.median(replay_pairs):g}, {max(replay_pairs)} "
            f"| {flagged['median']} | {flagged['min']} | {flagged['reference']} | {sum(r['gate_exit'] == 1 for r in mine)} "
            f"| {gate_in_ms(out, kind, trials, history=out / 'calibration.sqlite', baseline=out / 'baseline.json')} "
            f"| {spread[kind]} | {spread_in_ms} "
            f"| {cost['default.step', 'median']} / {cost['default.step', 'reference']} "
            f"| {cost['eager', 'median']} / {cost['eager', 'reference']} |"
        )
    lines += [
        "",
        "| case, trials | ab, reference | ab, median | ab, min | head/base in reference units, per trial |",
        "|:--|--:|--:|--:|:--|",
        *per_case,
    ]
    half = trials // 2
    histories = {"no change": [run for t in range(1, trials + 1) for run in side_runs(out / f"ab-aa-{t}", "head")]}
    for kind in kinds[1:]:
        before = [run for t in range(1, half + 1) for run in side_runs(out / f"ab-aa-{t}", "head")]
        after = [run for t in range(half + 1, trials + 1) for run in side_runs(out / f"ab-{kind}-{t}", "head")]
        histories[f"{kind} from run {len(before) + 1}"] = before + after
    lines += ["", "| history | runs | change points (case, metric, first run after, size, verdict) |", "|:--|--:|:--|"]
    for name, runs in histories.items():
        points = history_of(out, name.split()[0], runs)
        described = "; ".join(
            f"{p.case_id.split('-float32-')[-1]} {p.metric} at run {p.index + 1}: {p.size:+.1%}"
            f" ({'regression' if p.regression else 'within noise' if p.worse else 'better'})"
            for p in points
        )
        lines.append(f"| {name} | {len(runs)} | {described or 'none'} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--analyze", action="store_true", help="only (re)write summary.md of a finished --out")
    parser.add_argument("--passes", type=int, nargs="+", default=[1, 2], help="extra passes of each slowed commit")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--calibration-runs", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads of every run (default PyTorch's); 1 on a 2-vCPU VM, see docs/methodology.md",
    )
    parser.add_argument(
        "--max-pairs", type=int, default=3, help="ab adds pairs, up to this many, while a case is undecided (default 3)"
    )
    parser.add_argument(
        "--statistic",
        choices=("median", "min", "reference"),
        default="median",
        help="the statistic ab decides with, and so adds pairs by (default median); --analyze reads all three",
    )
    args = parser.parse_args()
    out = args.out.resolve()
    if args.analyze:
        print(analyze(out, args.trials))
        return 0
    if out.exists():
        sys.exit(f"--out {out} exists; give a new folder")
    out.mkdir(parents=True)
    started = time.monotonic()
    sides = {"aa": "HEAD"} | {f"slow-{p}": slowed_commit(out, p) for p in args.passes}
    (out / "sides.json").write_text(json.dumps(sides, indent=1))
    (out / "statistic.txt").write_text(args.statistic)
    history = out / "calibration.sqlite"
    threads = ["--threads", str(args.threads)] if args.threads else []
    print("calibrating", flush=True)
    code, text = hellotorch(
        "calibrate",
        "--profile",
        PROFILE,
        "--runs",
        str(args.calibration_runs),
        "--results",
        str(out / "calibration"),
        "--history",
        str(history),
        "--baseline",
        str(out / "baseline.json"),
        *threads,
    )
    (out / "calibrate.log").write_text(text)
    if code != 0:
        sys.exit(f"calibrate failed (exit {code}); see {out / 'calibrate.log'}")
    rows = []
    for trial in range(1, args.trials + 1):
        for kind, ref in sides.items():
            folder = out / f"ab-{kind}-{trial}"
            print(f"trial {trial} {kind}", flush=True)
            ab_code, ab_text = hellotorch(
                "ab",
                "--base",
                "HEAD",
                "--head",
                ref,
                "--profile",
                PROFILE,
                "--output",
                str(folder),
                "--history",
                str(out / "trials.sqlite"),
                "--max-pairs",
                str(args.max_pairs),
                "--statistic",
                args.statistic,
                *threads,
            )
            (out / f"ab-{kind}-{trial}.log").write_text(ab_text)
            gate_code, gate_text = hellotorch(
                "gate",
                "--baseline",
                str(out / "baseline.json"),
                "--current",
                str(first_run(folder / "head-1")),
                "--history",
                str(history),
                "--all",
            )
            (out / f"gate-{kind}-{trial}.log").write_text(gate_text)
            ratios = {}
            if (folder / "ab.csv").exists():
                import pandas as pd

                table = pd.read_csv(folder / "ab.csv")
                ratios = {
                    row["case"]: [row.get("ratio"), row.get("ci_low"), row.get("ci_high"), row["verdict"], row["pairs"]]
                    for _, row in table.iterrows()
                }
            rows.append(
                {
                    "trial": trial,
                    "kind": kind,
                    "ab_exit": ab_code,
                    "gate_exit": gate_code,
                    "ab": ratios,
                    "gate": re.findall(r"\*\*hellotorch gate: (\w+)", gate_text),
                }
            )
            (out / "trials.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"done in {time.monotonic() - started:.0f} s; trials.json in {out}")
    print(analyze(out, args.trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
