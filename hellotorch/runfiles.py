"""The files of a benchmark run folder, written so that a crash loses little.

A run folder (``results/run-<date>-<host>-<device>-<profile>/``) holds:

- ``benchmark.json``: pytest-benchmark's own JSON, the one raw format. It is
  written as ``benchmark.json.partial`` and renamed when the session ends, so
  a ``benchmark.json`` is never half-written;
- ``cases.jsonl``: one line per finished case (its ``extra_info`` and timing
  summary), appended and flushed as each case ends, so the cases finished
  before a crash or kill survive even when no JSON could be written;
- ``loss_curves.csv``: eager and compiled loss per case and step, from the
  parity check, appended per case;
- the tables and plots that ``hellotorch report`` builds from these.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import json
import os
import socket
from pathlib import Path
from typing import Any

BENCHMARK_JSON = "benchmark.json"
PARTIAL_SUFFIX = ".partial"
JOURNAL = "cases.jsonl"
#: the resolved plan (:meth:`hellotorch.profiles.cases.Profile.to_json`) the parent hands the pytest child.
PLAN = "plan.json"
CURVES = "loss_curves.csv"
#: per-process compile samples of the cases that measure their cache states (:mod:`hellotorch.compilecost.states`).
COMPILE_COSTS = "compile_costs.jsonl"
#: Phases of a compile, from the cumulative times PyTorch records per compiled frame.
PHASES = ("dynamo", "aot_autograd", "inductor_lowering", "codegen_and_compile")
STATES = ("cold", "warm", "portable")
VARIANTS = ("whole", "regional")
#: One row of ``compile_costs.jsonl``: written by :func:`hellotorch.compilecost.states.measure_cache_states`, read by the report.
COST_FIELDS = (
    "id",
    "variant",
    "state",
    "process",
    "compile_s",
    "steady_s",
    "load_s",
    *(f"phase_{phase}_s" for phase in PHASES),
    "fx_hits",
    "fx_misses",
    "aot_hits",
    "aot_misses",
)
CURVE_FIELDS = ("case", "task", "model", "optimizer", "dtype", "mode", "step", "eager_loss", "compiled_loss")


def new_run_dir(root: Path, *, device: str, profile: str, now: dt.datetime | None = None) -> Path:
    """A fresh, uniquely named run folder under ``root``, created atomically.

    ``mkdir`` either creates the name or fails because it exists, so two
    processes starting in the same second each get their own folder (testing
    ``exists()`` first let 8 concurrent starts collide in 9-18 of 80 tries).
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    host = socket.gethostname().split(".")[0] or "host"
    root.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        name = f"run-{stamp}-{host}-{device}-{profile}" + (f"-{suffix}" if suffix > 1 else "")
        try:
            (root / name).mkdir()
            return root / name
        except FileExistsError:
            suffix += 1


def finalize_json(partial: Path) -> Path | None:
    """Rename a complete ``.partial`` JSON into place; leave a broken one where it is.

    An empty one (pytest-benchmark opens the file up front and writes nothing
    when no case ran, e.g. all skipped) is removed.
    """
    if not partial.is_file():
        return None
    if partial.stat().st_size == 0:
        partial.unlink()
        return None
    try:
        json.loads(partial.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
    os.replace(partial, final)
    return final


def _append_line(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def append_journal(run_dir: Path, record: dict[str, Any]) -> None:
    _append_line(run_dir / JOURNAL, json.dumps(record, default=str))


class JournalError(ValueError):
    """A journal that cannot be read, naming the file and the line."""


def read_journal(run_dir: Path) -> list[dict[str, Any]]:
    """The journal's records; a torn last line (a kill mid-write) is dropped.

    Any other line that is not a JSON object, or bytes that are not UTF-8,
    raise :class:`JournalError` naming the file and the line.
    """
    return _read_json_lines(run_dir / JOURNAL)


def _read_json_lines(path: Path) -> list[dict[str, Any]]:
    """One JSON object per line; a torn last line is dropped, anything else wrong is a :class:`JournalError`."""
    if not path.is_file():
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise JournalError(f"{path} is not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise JournalError(f"{path} cannot be read ({error.strerror})") from error
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if number == len(lines) and not text.endswith("\n"):
                break  # the torn last line of a run killed mid-write
            raise JournalError(f"{path} line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise JournalError(f"{path} line {number} is not a JSON object")
        records.append(record)
    return records


def append_curves(run_dir: Path, case: dict[str, Any], eager: list[float], compiled: list[float]) -> None:
    path = run_dir / CURVES
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(CURVE_FIELDS)
        for step, (eager_loss, compiled_loss) in enumerate(zip(eager, compiled), start=1):
            writer.writerow(
                [case["id"], case["task"], case["model"], case["optimizer"], case["dtype"], case["mode"]]
                + [step, repr(eager_loss), repr(compiled_loss)]
            )
        handle.flush()


def append_compile_costs(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        _append_line(run_dir / COMPILE_COSTS, json.dumps(row))


def read_compile_costs(run_dir: Path) -> list[dict[str, Any]]:
    """The compile samples of a run folder (none if it measured no cache states)."""
    path = run_dir / COMPILE_COSTS
    rows = _read_json_lines(path)
    for number, row in enumerate(rows, start=1):
        missing = [name for name in COST_FIELDS if name not in row]
        if missing:
            raise JournalError(f"{path} line {number}: field {missing[0]!r} is missing")
        for name in ("id", "variant", "state"):
            if not isinstance(row[name], str):
                raise JournalError(f"{path} line {number}: field {name!r} must be text")
        for name in COST_FIELDS[3:]:
            value = row[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise JournalError(f"{path} line {number}: field {name!r} must be a number, got {value!r:.40}")
    return rows


#: the errors of a full disk, a quota or a file-size limit: the environment's failure, not a case's or a bug.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def storage_failure(error: BaseException) -> str | None:
    """What ran out (a disk, a quota, a file-size limit) if ``error`` or anything that caused it says so, else None.

    A compile that could not write its cache reaches us wrapped (Inductor's
    ``BackendCompilerFailed``), sometimes only as text from a worker process.
    """
    # g++ killed by the file-size limit says so in its output: "File size limit exceeded signal terminated".
    markers = (*(os.strerror(number) for number in STORAGE_ERRNOS), "File size limit exceeded")
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            return f"{current.strerror} ({current.filename})" if current.filename else str(current.strerror)
        found = next((marker for marker in markers if marker in str(current)), None)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None
