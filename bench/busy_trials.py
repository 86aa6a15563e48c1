"""The busy-machine trials: each case quiet, under a planted load, and quiet again, in the same hour.

    python bench/busy_trials.py --out DIR [--shapes spin torch bursts compile] [--profile bench/busy_trials.toml]

For each load shape (``bench/load.py``) it runs the profile with ``hellotorch
bench`` three times: quiet, with the load running, quiet again. A loaded
case is right when it is flagged disturbed or its speedup lies within 5 % of
the mean of its two quiet values; anything else is an unflagged wrong
answer. Writes ``DIR/trials.md`` (the table) and ``DIR/trials.json``, and
keeps every run folder under ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.05
#: Seconds the load runs before the loaded bench starts, and the pause after it stops.
SETTLE_S = 2.0


def bench(profile: str, results: Path, threads: int | None) -> dict[str, dict]:
    """Run the profile; every case's record by id."""
    command = [
        sys.executable,
        "-m",
        "hellotorch",
        "bench",
        "--profile",
        profile,
        "--results",
        str(results),
        "--no-report",
    ]
    if threads:
        command += ["--threads", str(threads)]
    before = set(results.glob("run-*")) if results.exists() else set()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    (run,) = set(results.glob("run-*")) - before
    print(f"  {run.name}: exit {done.returncode}, {time.monotonic() - started:.0f} s", flush=True)
    raw = json.loads((run / "benchmark.json").read_text())
    return {b["extra_info"]["id"]: b["extra_info"] for b in raw["benchmarks"] if b["extra_info"].get("compiled")}


def verdict(quiet: list[float], loaded: dict) -> str:
    if loaded.get("host_state") == "disturbed":
        return "flagged disturbed"
    reference = sum(quiet) / len(quiet)
    off = loaded["speedup"] / reference - 1
    return f"within 5 % ({off:+.1%})" if abs(off) <= TOLERANCE else f"WRONG, unflagged ({off:+.1%})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shapes", nargs="+", default=["spin", "torch", "bursts", "compile"])
    parser.add_argument("--profile", default=str(HERE / "busy_trials.toml"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for shape in args.shapes:
        print(f"{shape}: quiet, loaded, quiet again", flush=True)
        results = args.out / shape
        quiet = bench(args.profile, results, args.threads)
        load = subprocess.Popen([sys.executable, str(HERE / "load.py"), shape])
        try:
            time.sleep(SETTLE_S)
            loaded = bench(args.profile, results, args.threads)
        finally:
            load.terminate()
            load.wait()
        time.sleep(SETTLE_S)
        again = bench(args.profile, results, args.threads)
        for case in sorted(quiet):
            quiet_values = [quiet[case]["speedup"], again[case]["speedup"]]
            rows.append(
                {
                    "shape": shape,
                    "case": case,
                    "quiet": quiet[case]["speedup"],
                    "loaded": loaded[case]["speedup"],
                    "quiet_again": again[case]["speedup"],
                    "loaded_state": loaded[case].get("host_state"),
                    "loaded_evidence": loaded[case].get("host_evidence", ""),
                    "quiet_states": [quiet[case].get("host_state"), again[case].get("host_state")],
                    "verdict": verdict(quiet_values, loaded[case]),
                }
            )
        (args.out / "trials.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "| load | case | quiet | loaded | quiet again | verdict |",
        "|:--|:--|--:|--:|--:|:--|",
    ]
    for row in rows:
        lines.append(
            f"| {row['shape']} | {row['case']} | {row['quiet']:.3f} | {row['loaded']:.3f} | "
            f"{row['quiet_again']:.3f} | {row['verdict']} |"
        )
    wrong = sum(row["verdict"].startswith("WRONG") for row in rows)
    false_flags = sum(state == "disturbed" for row in rows for state in row["quiet_states"])
    lines += ["", f"unflagged wrong answers: {wrong} of {len(rows)}; quiet runs flagged: {false_flags}"]
    (args.out / "trials.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
