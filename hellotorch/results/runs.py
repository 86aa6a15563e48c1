"""A run on disk: reading it, validating it, choosing it, pinning it as a baseline.

A run is a folder (or its pytest-benchmark ``benchmark.json``) as
:mod:`hellotorch.runfiles` writes it. :func:`load_run` reads one and checks
every field a command uses (types, ranges, finiteness, that an id matches its
fields) through :mod:`hellotorch.record`; a malformed run is refused with a
:class:`RunError` that names the file and the field, by every command alike.
A run killed before its JSON was written is read from its journal and marked
incomplete. :func:`newest_complete_run` is what ``make report``/``make gate``
use; :func:`pin_baseline` is what ``hellotorch baseline`` writes.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hellotorch.errors import BadInput, NothingToRun
from hellotorch.record import RecordError, is_measured, validate_record
from hellotorch.runfiles import BENCHMARK_JSON, CURVE_FIELDS, CURVES, JournalError, read_journal


class RunError(BadInput):
    """A run that cannot be read or used, with the file and the reason."""


@dataclass(frozen=True)
class Run:
    """One benchmark run: where it came from, its machine, its validated per-case records."""

    path: Path
    machine: dict[str, Any]
    meta: dict[str, Any]
    #: validated records of measured cases, each with ``median_s`` and ``iqr_s``.
    records: list[dict[str, Any]]
    #: cases that failed: ``{"id", "reason"}``.
    failed: list[dict[str, str]]
    #: the parsed JSON as written (``None`` for a run read from its journal).
    raw: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        name = self.path.parent.name if self.path.name == BENCHMARK_JSON else self.path.stem
        return name.removeprefix("run-")

    @property
    def torch_version(self) -> str:
        return str(self.machine.get("torch", "unknown"))

    @property
    def folder(self) -> Path:
        return self.path if self.path.is_dir() else self.path.parent

    @property
    def incomplete_reason(self) -> str | None:
        """Why this run cannot stand for its profile, or ``None`` when it finished."""
        if self.raw is None:
            return "it was killed before its benchmark.json was written (only its journal exists)"
        if self.meta.get("interrupted"):
            return "it was interrupted"
        planned, finished = self.meta.get("cases_planned"), self.meta.get("cases_finished")
        if planned is not None and finished is not None and finished < planned:
            return f"only {finished} of its {planned} cases finished"
        return None


# --- checking the parts of a run file --------------------------------------


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise RunError(f"{where}: {message}")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _failures(value: Any, where: str, key: str) -> list[dict[str, str]]:
    _require(isinstance(value, list), where, f"field '{key}' must be a list")
    for entry in value:
        _require(
            isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("reason", ""), str),
            where,
            f"field '{key}' must hold objects with a text 'id' and 'reason'",
        )
    return [{"id": entry["id"], "reason": entry.get("reason", "")} for entry in value]


def _meta(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    _require(isinstance(value, dict), where, "field 'hellotorch' must be an object")
    meta = dict(value)
    for key in ("profile", "inductor_cache_dir", "interrupted_case", "run_id"):
        _require(isinstance(meta.get(key, ""), str), where, f"field 'hellotorch.{key}' must be text")
    for key in ("threads", "cases_planned", "cases_finished"):
        _require(key not in meta or _int(meta[key]), where, f"field 'hellotorch.{key}' must be a whole number >= 0")
    _require(
        isinstance(meta.get("interrupted", False), bool), where, "field 'hellotorch.interrupted' must be true or false"
    )
    for key in ("devices", "baseline_of"):
        items = meta.get(key, [])
        ok = isinstance(items, list) and all(isinstance(item, str) for item in items)
        _require(ok, where, f"field 'hellotorch.{key}' must be a list of text")
    for key in ("failed", "parity_failed"):
        meta[key] = _failures(meta.get(key, []), where, f"hellotorch.{key}")
    return meta


def _machine(raw: dict[str, Any], where: str) -> dict[str, Any]:
    _require("machine_info" in raw, where, "field 'machine_info' is missing: not a pytest-benchmark JSON")
    info = raw["machine_info"]
    _require(isinstance(info, dict), where, "field 'machine_info' must be an object")
    machine = info.get("hellotorch", {})
    _require(isinstance(machine, dict), where, "field 'machine_info.hellotorch' must be an object")
    for key, value in machine.items():
        ok = isinstance(value, str) or _int(value)
        _require(ok, where, f"field 'machine_info.hellotorch.{key}' must be text or a whole number")
    return machine


def _timed(record: dict[str, Any], stats: Any, where: str) -> dict[str, Any]:
    """Add pytest-benchmark's median and IQR (seconds) to a measured record, checked."""
    if not is_measured(record):
        return {**record, "median_s": math.nan, "iqr_s": math.nan}
    _require(isinstance(stats, dict), where, f"case {record['id']}: field 'stats' must be an object")
    for key in ("median", "iqr"):
        value = stats.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        _require(ok, where, f"case {record['id']}: field 'stats.{key}' must be a finite number >= 0, got {value!r:.40}")
    _require(stats["median"] > 0, where, f"case {record['id']}: field 'stats.median' must be positive")
    timed = {**record, "median_s": float(stats["median"]), "iqr_s": float(stats["iqr"])}
    fastest = stats.get("min")  # optional: the A/B can read the fastest round instead of the median
    if isinstance(fastest, (int, float)) and not isinstance(fastest, bool) and math.isfinite(fastest) and fastest > 0:
        timed["min_s"] = float(fastest)
    return timed


def _unique(records: list[dict[str, Any]], where: str) -> None:
    seen: set[str] = set()
    for record in records:
        _require(record["id"] not in seen, where, f"case {record['id']} appears twice")
        seen.add(record["id"])


def _from_journal(folder: Path) -> Run:
    where = str(folder / "cases.jsonl")
    try:
        journal = read_journal(folder)
    except JournalError as error:
        raise RunError(str(error)) from error
    if not journal:
        raise RunError(f"{folder} holds neither {BENCHMARK_JSON} nor a case journal: not a run folder")
    records, failed = [], []
    for line, entry in enumerate(journal, start=1):
        spot = f"{where} line {line}"
        _require(isinstance(entry, dict) and isinstance(entry.get("id"), str), spot, "not a case record")
        record = validate_record(entry.get("extra_info"), where=spot)
        if record.get("status") in ("failed", "interrupted"):
            failed.append({"id": record["id"], "reason": record.get("failure", record["status"])})
        elif is_measured(record):
            records.append(_timed(record, {"median": entry.get("median_s"), "iqr": entry.get("iqr_s")}, spot))
    _unique(records, where)
    return Run(folder, {}, {"from_journal": True}, records, failed, raw=None)


def load_run(path: str | Path) -> Run:
    """Read and validate a run folder or a pytest-benchmark JSON file.

    :class:`RunError` (a ``ValueError``: exit 2) names the file and the field.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / BENCHMARK_JSON).is_file():
            try:
                return _from_journal(path)
            except RecordError as error:
                raise RunError(str(error)) from error
        path = path / BENCHMARK_JSON
    where = str(path)
    if not path.exists():
        raise RunError(f"{where} does not exist")
    if not path.is_file():  # a FIFO or a device would block the read, or never end
        raise RunError(f"{where} is not a regular file")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RunError(f"{where} is not UTF-8 text (byte {error.start})") from error
    except (OSError, json.JSONDecodeError, RecursionError) as error:
        raise RunError(f"{where} is not valid JSON ({str(error)[:120]})") from error
    _require(isinstance(raw, dict), where, "not a pytest-benchmark JSON (the top level is not an object)")
    _require(isinstance(raw.get("benchmarks"), list), where, "not a pytest-benchmark JSON (no 'benchmarks' list)")
    machine = _machine(raw, where)
    meta = _meta(raw.get("hellotorch"), where)
    records, unmeasured = [], []
    try:
        for index, bench in enumerate(raw["benchmarks"]):
            spot = f"{where}: benchmarks[{index}]"
            _require(isinstance(bench, dict), spot, "must be an object")
            record = validate_record(bench.get("extra_info"), where=spot)
            if is_measured(record):
                records.append(_timed(record, bench.get("stats"), spot))
            elif record.get("status") in ("failed", "interrupted"):
                unmeasured.append({"id": record["id"], "reason": record.get("failure", record["status"])})
    except RecordError as error:
        raise RunError(str(error)) from error
    _unique(records, where)
    failed = list(meta.get("failed", []))
    failed += [entry for entry in unmeasured if entry["id"] not in {f["id"] for f in failed}]
    if not records and not failed:
        raise RunError(f"{where} has no hellotorch cases")
    return Run(path, machine, meta, records, failed, raw=raw)


def newest_complete_run(root: str | Path) -> Path:
    """The newest ``run-*`` folder under ``root`` that finished and loads cleanly."""
    root = Path(root)
    candidates = sorted((p for p in root.glob("run-*") if p.is_dir()), key=lambda p: p.name, reverse=True)
    for folder in candidates:
        try:
            run = load_run(folder)
        except RunError:
            continue
        if run.incomplete_reason is None:
            return folder
    raise NothingToRun(f"no complete run folder under {root}: run 'make bench' first, or pass RUN=results/run-...")


def read_curves(run: Run) -> pd.DataFrame:
    """The run's eager and compiled loss curves; a malformed CSV is a :class:`RunError`."""
    path = run.folder / CURVES
    if not path.is_file():
        return pd.DataFrame(columns=list(CURVE_FIELDS))
    try:
        curves = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise RunError(f"{path} is not a readable CSV ({str(error)[:120]})") from error
    missing = [column for column in ("case", "task", "step", "eager_loss", "compiled_loss") if column not in curves]
    _require(not missing, str(path), f"lacks column(s) {', '.join(missing)}")
    for column in ("step", "eager_loss", "compiled_loss"):
        _require(pd.api.types.is_numeric_dtype(curves[column]), str(path), f"column '{column}' must be numeric")
    return curves


def pin_baseline(runs: list[Run]) -> dict[str, Any]:
    """The baseline JSON for ``runs``: the first run's, each case's gated values the median over all.

    A median of several runs keeps one disturbed run from skewing the gate.
    Raw round times are dropped (large, and the gate reads none of them).
    Every run must have finished.
    """
    for run in runs:
        reason = run.incomplete_reason
        if reason is not None:
            raise RunError(f"{run.folder} cannot be pinned as a baseline: {reason}")
    pinned = copy.deepcopy(runs[0].raw)
    assert pinned is not None  # complete runs have their JSON
    by_id = [{record["id"]: record for record in run.records} for run in runs]
    for bench in pinned["benchmarks"]:
        bench.get("stats", {}).pop("data", None)
        info = bench["extra_info"]
        if not is_measured(info):
            continue
        samples = [records[info["id"]] for records in by_id if info["id"] in records]
        # The step time too: a calibrated gate compares it (hellotorch.gate.noise).
        bench["stats"]["median"] = statistics.median(sample["median_s"] for sample in samples)
        info["baseline_runs"] = len(samples)
        # And the step in reference units where every run timed it: the gate prefers it to milliseconds.
        if all(isinstance(sample.get("step_per_reference"), (int, float)) for sample in samples):
            info["step_per_reference"] = statistics.median(sample["step_per_reference"] for sample in samples)
        if not info.get("compiled"):
            continue
        for key in ("speedup", "speedup_q1", "speedup_q3"):
            info[key] = statistics.median(sample[key] for sample in samples)
    meta = pinned.setdefault("hellotorch", {})
    meta["baseline_of"] = [run.label for run in runs]
    meta.pop("run_id", None)  # a baseline is not the run it was pinned from
    return pinned
