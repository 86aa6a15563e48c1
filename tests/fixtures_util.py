"""Helpers for tests: the saved pytest-benchmark run in fixtures/, and benchmark cases by keyword."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from hellotorch.labels import case_id

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "run-quick"


def edited_run(tmp_path: Path, edit: Callable[[dict], None], *, name: str = "run-edited") -> Path:
    """A copy of the fixture run whose benchmark.json ``edit`` changed in place."""
    target = tmp_path / name
    shutil.copytree(FIXTURE_RUN, target)
    raw = json.loads((target / "benchmark.json").read_text())
    edit(raw)
    (target / "benchmark.json").write_text(json.dumps(raw))
    return target


def relabel(info: dict, **changes) -> None:
    """Change a record's case fields and its id with them, as a real run of that case would have them."""
    info.update(changes)
    info["id"] = case_id(info)


def on_other_device(raw: dict) -> None:
    """Every case moved to another device: nothing in common with the fixture."""
    for bench in raw["benchmarks"]:
        relabel(bench["extra_info"], device="cuda")


def run_cli(argv) -> tuple[int, str, str]:
    """``hellotorch ARGV`` in-process: exit code (SystemExit included), stdout, stderr."""
    import contextlib
    import io

    from hellotorch.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def adamw_case(*, model: str = "mlp", batch_size: int = 64, mode: str = "eager", scope: str = "-", **fields):
    """A CPU fp32 AdamW (for-loop) training case; ``fields`` sets any other BenchCase field."""
    from hellotorch.profiles.cases import BenchCase

    fields.setdefault("task", "train")
    return BenchCase(
        device="cpu",
        model=model,
        batch_size=batch_size,
        optimizer="adamw",
        implementation="forloop",
        dtype="float32",
        mode=mode,
        scope=scope,
        **fields,
    )
