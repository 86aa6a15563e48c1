"""More than a hundred bad inputs across every command, with the exit code each must get.

``tests/test_bad_inputs.py`` runs them in-process. Run as a script, this file
runs them as a user would (a subprocess each, against any checkout) and
prints a Markdown table of exit codes and error lines, which is how the
table in the exit-code issue's closing note was made:

    python -m tests.bad_inputs [--tree PATH] [--slow] > table.md
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "run-quick"
COMPILED_CASE = "train-cpu-mlp-b64-adamw.forloop-float32-default.step"


@dataclass(frozen=True)
class BadInput:
    name: str
    argv: tuple[str, ...]
    #: the exit code the contract gives it.
    expected: int = 2
    env: dict[str, str] = field(default_factory=dict)
    #: starts a pytest or training subprocess: left out of the fast in-process test.
    slow: bool = False
    #: "contract" (the exit-code contract's table) or "hostile" (the hostile-conditions pass).
    group: str = "contract"


def _write_run(root: Path, name: str, edit) -> str:
    target = root / name
    shutil.copytree(FIXTURE_RUN, target)
    raw = json.loads((target / "benchmark.json").read_text())
    edit(raw)
    (target / "benchmark.json").write_text(json.dumps(raw))
    return str(target)


def _case(raw: dict, case_id: str = COMPILED_CASE) -> dict:
    return next(b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["id"] == case_id)


def _bytes(root: Path, name: str, content: bytes) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


def _checkpoints(root: Path) -> dict[str, str]:
    import torch

    from hellotorch.models import build_model, model_config
    from hellotorch.training.checkpoint import save_checkpoint

    good = save_checkpoint(build_model("mlp"), root / "mlp.pt", model_name="mlp", config=model_config("mlp"))
    base = torch.load(good, weights_only=True)
    if not base["config"].get("seq_len"):
        # The key is newer than the format; leaving out its default keeps the files readable by older checkouts.
        base["config"].pop("seq_len", None)
        torch.save(base, good)

    def variant(name: str, **changes) -> str:
        torch.save({**base, **changes}, root / name)
        return str(root / name)

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    return {
        "good": str(good),
        "no_state": variant("no_state.pt", state_dict=None),
        "non_tensor": variant("non_tensor.pt", state_dict={"head.weight": [1, 2]}),
        "negative": variant("negative.pt", config={**base["config"], "width": -4}),
        "text_width": variant("text_width.pt", config={**base["config"], "width": "wide"}),
        "unknown_model": variant("unknown_model.pt", model="resnet"),
        "bad_heads": variant("bad_heads.pt", model="transformer", config={"width": 30, "depth": 1, "num_classes": 10}),
        "nan_weights": variant("nan.pt", state_dict={"head.weight": torch.full((2,), float("nan"))}),
        "foreign": (torch.save(build_model("hello").state_dict(), root / "foreign.pt"), str(root / "foreign.pt"))[1],
        "exploit": _bytes(root, "exploit.pt", pickle.dumps(Exploit())),
        "corrupt": _bytes(root, "corrupt.pt", b"\x00garbage"),
        "empty": _bytes(root, "empty.pt", b""),
    }


def _runs(root: Path) -> dict[str, str]:
    journal_only = root / "run-journal"
    journal_only.mkdir()
    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    bench = raw["benchmarks"][0]
    line = {"id": bench["extra_info"]["id"], "extra_info": bench["extra_info"], "median_s": bench["stats"]["median"]}
    (journal_only / "cases.jsonl").write_text(json.dumps({**line, "iqr_s": bench["stats"]["iqr"]}) + "\n")
    bad_journal = root / "run-badjournal"
    bad_journal.mkdir()
    (bad_journal / "cases.jsonl").write_bytes(b'{"id": "x"}\n\xff\xfe\n')

    def keep_half(raw):
        compiled = [b for b in raw["benchmarks"] if b["extra_info"]["compiled"]]
        drop = {b["extra_info"]["id"] for b in compiled[::2]}
        raw["benchmarks"] = [b for b in raw["benchmarks"] if b["extra_info"]["id"] not in drop]

    return {
        "good": str(FIXTURE_RUN),
        "nan": _write_run(root, "run-nan", lambda r: _case(r).update(speedup=float("nan"))),
        "inf": _write_run(root, "run-inf", lambda r: _case(r).update(speedup=float("inf"))),
        "missing_speedup": _write_run(root, "run-nospeed", lambda r: _case(r).pop("speedup")),
        "text_speedup": _write_run(root, "run-textspeed", lambda r: _case(r).update(speedup="1.4")),
        "null_speedup": _write_run(root, "run-nullspeed", lambda r: _case(r).update(speedup=None)),
        "bench_not_objects": _write_run(root, "run-notobj", lambda r: r.update(benchmarks=[1, "two"])),
        "machine_null": _write_run(root, "run-machnull", lambda r: r.update(machine_info=None)),
        "no_machine": _write_run(root, "run-nomach", lambda r: r.pop("machine_info")),
        "nan_median": _write_run(root, "run-nanmed", lambda r: r["benchmarks"][0]["stats"].update(median=float("nan"))),
        "text_batch": _write_run(root, "run-textbatch", lambda r: _case(r).update(batch_size="64")),
        "bad_status": _write_run(root, "run-status", lambda r: _case(r).update(status="great")),
        "id_mismatch": _write_run(root, "run-idmis", lambda r: _case(r).update(model="other")),
        "meta_text": _write_run(root, "run-metatext", lambda r: r.update(hellotorch="text")),
        "failed_text": _write_run(root, "run-failedtext", lambda r: r["hellotorch"].update(failed="x")),
        "interrupted": _write_run(root, "run-int", lambda r: r["hellotorch"].update(interrupted=True)),
        "half": _write_run(root, "run-half", keep_half),
        "journal_only": str(journal_only),
        "bad_journal": str(bad_journal),
        "truncated": _bytes(root, "trunc/benchmark.json", (FIXTURE_RUN / "benchmark.json").read_bytes()[:5000]),
        "non_utf8": _bytes(root, "nonutf/benchmark.json", b'{"benchmarks": ["\xff"]}'),
        "empty_file": _bytes(root, "emptyrun/benchmark.json", b""),
        "list_top": _bytes(root, "list.json", b"[1, 2]"),
        "other_json": _bytes(root, "other.json", b'{"hello": 1}'),
        "not_a_run": str(root / "plain-folder"),
        "missing": str(root / "nope.json"),
    }


def build(root: Path) -> list[BadInput]:
    """The bad inputs, with the files they need created under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "plain-folder").mkdir()
    (root / "a-file").write_text("x")
    ck, runs = _checkpoints(root), _runs(root)
    folder, under_file, proc = str(root), str(root / "a-file" / "out"), "/proc/hellotorch/out"
    good = runs["good"]
    cases = [
        # train
        BadInput("train: unknown model", ("train", "--model", "resnet")),
        BadInput("train: unknown optimizer", ("train", "--optimizer", "lion")),
        BadInput("train: no fused rmsprop", ("train", "--optimizer", "rmsprop", "--impl", "fused")),
        BadInput("train: unknown impl", ("train", "--impl", "turbo")),
        BadInput("train: unknown compile mode", ("train", "--compile", "turbo")),
        BadInput("train: unknown scope", ("train", "--compile", "--scope", "layer")),
        BadInput("train: unknown backend", ("train", "--compile", "--backend", "tvm")),
        BadInput("train: cudagraphs on cpu", ("train", "--compile", "reduce-overhead")),
        BadInput("train: unknown device", ("train", "--device", "tpu")),
        BadInput("train: --nproc 0", ("train", "--model", "mlp", "--nproc", "0")),
        BadInput("train: --nproc not dividing the batch", ("train", "--model", "mlp", "--nproc", "3")),
        BadInput("train: --strategy without --nproc", ("train", "--model", "mlp", "--strategy", "ddp")),
        BadInput("train: unknown strategy", ("train", "--model", "mlp", "--nproc", "2", "--strategy", "horovod")),
        BadInput(
            "train: --nproc without a strategy", ("train", "--model", "mlp", "--nproc", "2", "--strategy", "none")
        ),
        BadInput(
            "train: fsdp2 compiling the whole step",
            ("train", "--model", "mlp", "--nproc", "2", "--strategy", "fsdp2", "--compile"),
        ),
        BadInput("train: ddp on a BatchNorm model", ("train", "--model", "cnn", "--nproc", "2")),
        BadInput("train: --save with --nproc", ("train", "--model", "mlp", "--nproc", "2", "--save", "x.pt")),
        BadInput(
            "train: scope blocks on a model without", ("train", "--model", "hello", "--compile", "--scope", "blocks")
        ),
        BadInput(
            "bench: --nproc on a profile without distributed cases", ("bench", "--profile", "smoke", "--nproc", "2")
        ),
        BadInput("parity: --lora with --nproc", ("parity", "--model", "mlp", "--nproc", "2", "--lora", "4")),
        BadInput("history: unknown action", ("history", "prune")),
        BadInput("history: ingest without runs", ("history", "ingest")),
        BadInput(
            "history: not a database",
            ("history", "--history", _bytes(root, "garbage.sqlite", b"SQLite format 2\x00" + b"x" * 200)),
        ),
        BadInput(
            "history: ingest a malformed run",
            ("history", "ingest", runs["truncated"], "--history", str(root / "h.sqlite")),
        ),
        BadInput("train: unknown dtype", ("train", "--dtype", "int8")),
        BadInput("train: fp16 on cpu", ("train", "--dtype", "float16")),
        BadInput("train: zero steps", ("train", "--steps", "0")),
        BadInput("train: text steps", ("train", "--steps", "many")),
        BadInput("train: negative batch", ("train", "--batch-size", "-3")),
        BadInput("train: lr inf", ("train", "--lr", "inf")),
        BadInput("train: lr nan", ("train", "--lr", "nan")),
        BadInput("train: lr zero", ("train", "--lr", "0")),
        BadInput("train: lr text", ("train", "--lr", "fast")),
        BadInput("train: zero width", ("train", "--model", "mlp", "--width", "0")),
        BadInput("train: heads do not divide width", ("train", "--model", "transformer", "--width", "30")),
        BadInput(
            "train: impossible size", ("train", "--model", "mlp", "--width", "100000", "--batch-size", "10000000")
        ),
        BadInput("train: --save onto a folder", ("train", "--steps", "1", "--save", folder)),
        BadInput("train: --save under a file", ("train", "--steps", "1", "--save", under_file)),
        BadInput("train: --save in /proc", ("train", "--steps", "1", "--save", proc)),
        BadInput("train: --save empty", ("train", "--steps", "1", "--save", "")),
        BadInput("train: zero threads", ("train", "--threads", "0")),
        BadInput("train: HELLOTORCH_THREADS=abc", ("train", "--steps", "1"), env={"HELLOTORCH_THREADS": "abc"}),
        BadInput("train: HELLOTORCH_THREADS=-2", ("train", "--steps", "1"), env={"HELLOTORCH_THREADS": "-2"}),
        BadInput("train: cuda absent", ("train", "--device", "cuda")),
        BadInput("train: diverges (lr 1e6)", ("train", "--model", "linear", "--lr", "1e6", "--steps", "50"), 1),
        # finetune
        BadInput("finetune: no --from", ("finetune",)),
        BadInput("finetune: missing checkpoint", ("finetune", "--from", "/nonexistent/x.pt")),
        BadInput("finetune: folder as checkpoint", ("finetune", "--from", folder)),
        BadInput("finetune: corrupt checkpoint", ("finetune", "--from", ck["corrupt"])),
        BadInput("finetune: empty checkpoint", ("finetune", "--from", ck["empty"])),
        BadInput("finetune: foreign state_dict", ("finetune", "--from", ck["foreign"])),
        BadInput("finetune: pickle that runs code", ("finetune", "--from", ck["exploit"])),
        BadInput("finetune: no state_dict", ("finetune", "--from", ck["no_state"])),
        BadInput("finetune: non-tensor weights", ("finetune", "--from", ck["non_tensor"])),
        BadInput("finetune: negative width", ("finetune", "--from", ck["negative"])),
        BadInput("finetune: text width", ("finetune", "--from", ck["text_width"])),
        BadInput("finetune: unknown model in file", ("finetune", "--from", ck["unknown_model"])),
        BadInput("finetune: heads do not divide width", ("finetune", "--from", ck["bad_heads"])),
        BadInput("finetune: NaN weights", ("finetune", "--from", ck["nan_weights"])),
        BadInput("finetune: other model", ("finetune", "--from", ck["good"], "--model", "transformer")),
        BadInput("finetune: other width", ("finetune", "--from", ck["good"], "--width", "32")),
        BadInput(
            "finetune: freeze and backbone lr",
            ("finetune", "--from", ck["good"], "--freeze-backbone", "--backbone-lr", "0.1"),
        ),
        BadInput("finetune: backbone lr inf", ("finetune", "--from", ck["good"], "--backbone-lr", "inf")),
        BadInput("finetune: --save onto a folder", ("finetune", "--from", ck["good"], "--save", folder)),
        # parity
        BadInput("parity: mode eager", ("parity", "--mode", "eager")),
        BadInput("parity: unknown mode", ("parity", "--mode", "turbo")),
        BadInput("parity: unknown model", ("parity", "--model", "resnet")),
        BadInput("parity: dropout 1.5", ("parity", "--dropout", "1.5")),
        BadInput("parity: dropout nan", ("parity", "--dropout", "nan")),
        BadInput("parity: zero steps", ("parity", "--steps", "0")),
        BadInput("parity: matrix unknown model", ("parity", "--matrix", "--models", "mlp,resnet")),
        BadInput("parity: matrix unknown optimizer", ("parity", "--matrix", "--optimizers", "sgd,lion")),
        BadInput("parity: matrix no models", ("parity", "--matrix", "--models", ",")),
        BadInput("parity: matrix --csv onto a folder", ("parity", "--matrix", "--csv", folder)),
        BadInput("parity: matrix --csv in /proc", ("parity", "--matrix", "--csv", proc)),
        BadInput("parity: --csv without --matrix", ("parity", "--csv", str(root / "p.csv"))),
        BadInput("parity: cuda absent", ("parity", "--device", "cuda")),
        # bench
        BadInput("bench: unknown profile", ("bench", "--profile", "huge")),
        BadInput("bench: unknown device", ("bench", "--device", "tpu")),
        BadInput("bench: unknown case id", ("bench", "--profile", "smoke", "--case", "nope")),
        BadInput("bench: zero threads", ("bench", "--threads", "0")),
        BadInput("bench: --results is a file", ("bench", "--profile", "smoke", "--results", str(root / "a-file"))),
        BadInput("bench: --results in /proc", ("bench", "--profile", "smoke", "--results", proc)),
        BadInput("bench: --results empty", ("bench", "--profile", "smoke", "--results", "")),
        BadInput("bench: empty -k", ("bench", "--profile", "smoke", "-k", "")),
        BadInput(
            "bench: cuda absent", ("bench", "--profile", "smoke", "--device", "cuda", "--results", str(root / "r1"))
        ),
        BadInput(
            "bench: -k matches nothing",
            ("bench", "--profile", "smoke", "-k", "zzz", "--results", str(root / "r2")),
            slow=True,
        ),
        BadInput(
            "bench: malformed -k",
            ("bench", "--profile", "smoke", "-k", "and (", "--results", str(root / "r3")),
            slow=True,
        ),
        # report
        BadInput("report: missing run", ("report", runs["missing"])),
        BadInput("report: folder that is not a run", ("report", runs["not_a_run"])),
        BadInput("report: NaN median", ("report", runs["nan_median"])),
        BadInput("report: NaN speedup", ("report", runs["nan"])),
        BadInput("report: benchmarks not objects", ("report", runs["bench_not_objects"])),
        BadInput("report: machine_info null", ("report", runs["machine_null"])),
        BadInput("report: numeric string", ("report", runs["text_batch"])),
        BadInput("report: non-UTF-8 journal", ("report", runs["bad_journal"])),
        BadInput("report: truncated JSON", ("report", runs["truncated"])),
        BadInput("report: non-UTF-8 JSON", ("report", runs["non_utf8"])),
        BadInput("report: empty JSON file", ("report", runs["empty_file"])),
        BadInput("report: --output under a file", ("report", good, "--output", under_file)),
        # compare
        BadInput("compare: one run", ("compare", good)),
        BadInput("compare: a missing run", ("compare", good, runs["missing"])),
        BadInput("compare: an inf speedup", ("compare", good, runs["inf"])),
        BadInput("compare: a list at top level", ("compare", good, runs["list_top"])),
        BadInput("compare: foreign JSON", ("compare", good, runs["other_json"])),
        BadInput("compare: bad status", ("compare", good, runs["bad_status"])),
        BadInput("compare: --output is a file", ("compare", good, good, "--output", str(root / "a-file"))),
        BadInput("compare: --output in /proc", ("compare", good, good, "--output", proc)),
        # gate
        BadInput("gate: NaN speedup", ("gate", "--baseline", good, "--current", runs["nan"])),
        BadInput("gate: inf speedup", ("gate", "--baseline", good, "--current", runs["inf"])),
        BadInput("gate: missing speedup", ("gate", "--baseline", good, "--current", runs["missing_speedup"])),
        BadInput("gate: speedup as text", ("gate", "--baseline", good, "--current", runs["text_speedup"])),
        BadInput("gate: speedup null", ("gate", "--baseline", good, "--current", runs["null_speedup"])),
        BadInput("gate: id does not match fields", ("gate", "--baseline", good, "--current", runs["id_mismatch"])),
        BadInput("gate: meta not an object", ("gate", "--baseline", good, "--current", runs["meta_text"])),
        BadInput("gate: failed list malformed", ("gate", "--baseline", good, "--current", runs["failed_text"])),
        BadInput("gate: no machine_info", ("gate", "--baseline", good, "--current", runs["no_machine"])),
        BadInput("gate: malformed baseline", ("gate", "--baseline", runs["nan"], "--current", good)),
        BadInput("gate: missing baseline", ("gate", "--baseline", runs["missing"], "--current", good)),
        BadInput(
            "gate: killed after one case (journal only)",
            ("gate", "--baseline", good, "--current", runs["journal_only"]),
            1,
        ),
        BadInput("gate: interrupted run", ("gate", "--baseline", good, "--current", runs["interrupted"]), 1),
        BadInput("gate: half the baseline's cases", ("gate", "--baseline", good, "--current", runs["half"]), 1),
        BadInput(
            "gate: --spread-factor inf", ("gate", "--baseline", good, "--current", good, "--spread-factor", "inf")
        ),
        BadInput("gate: --spread-factor -1", ("gate", "--baseline", good, "--current", good, "--spread-factor", "-1")),
        BadInput("gate: --threshold 2", ("gate", "--baseline", good, "--current", good, "--threshold", "2")),
        BadInput("gate: --threshold nan", ("gate", "--baseline", good, "--current", good, "--threshold", "nan")),
        BadInput(
            "gate: --markdown onto a folder", ("gate", "--baseline", good, "--current", good, "--markdown", folder)
        ),
        BadInput(
            "gate: --github-json in /proc", ("gate", "--baseline", good, "--current", good, "--github-json", proc)
        ),
        # baseline
        BadInput("baseline: NaN speedup", ("baseline", runs["nan"], "--output", str(root / "b1.json"))),
        BadInput("baseline: journal only", ("baseline", runs["journal_only"], "--output", str(root / "b2.json"))),
        BadInput("baseline: interrupted", ("baseline", runs["interrupted"], "--output", str(root / "b3.json"))),
        BadInput(
            "baseline: benchmarks not objects",
            ("baseline", runs["bench_not_objects"], "--output", str(root / "b4.json")),
        ),
        BadInput("baseline: --output onto a folder", ("baseline", good, "--output", folder)),
        BadInput("baseline: --output under a file", ("baseline", good, "--output", under_file)),
        BadInput("baseline: no --output", ("baseline", good)),
        # latest, env, top level
        BadInput("latest: no complete run", ("latest", "--results", str(root / "plain-folder"))),
        BadInput("env: unknown option", ("env", "--verbose")),
        BadInput("unknown command", ("fly",)),
        BadInput("no command", ()),
        BadInput("bench: --shard 0/3", ("bench", "--profile", "smoke", "--shard", "0/3")),
        BadInput("bench: --shard past the plan's groups", ("bench", "--profile", "smoke", "--shard", "40/40")),
        BadInput("bench: --matrix-id without --shard", ("bench", "--profile", "smoke", "--matrix-id", "m1")),
        BadInput("merge: a run that is not a shard", ("merge", good, "--output", str(root / "merged"))),
        *_hostile(root, runs),
    ]
    return cases


def _history(root: Path, name: str, edit=None) -> str:
    """A history holding the fixture run, then ``edit(connection)`` applied to it (None: left whole)."""
    import sqlite3

    from hellotorch.history.store import record_run
    from hellotorch.results.runs import load_run

    path = root / name
    record_run(path, load_run(FIXTURE_RUN))
    if edit is not None:
        connection = sqlite3.connect(path, isolation_level=None)
        edit(connection)
        connection.close()
    return str(path)


def _damage_header(path: str) -> str:
    data = bytearray(Path(path).read_bytes())
    data[16:24] = b"\xff" * 8  # page size and format bytes of the header
    Path(path).write_bytes(bytes(data))
    return path


def _hostile(root: Path, runs: dict[str, str]) -> list[BadInput]:
    """The hostile conditions of the second adversarial pass (issue: no wrong exit, no orphan, no hang)."""
    whole = _history(root, "whole.sqlite")
    cost_rows = root / "run-costs"
    shutil.copytree(FIXTURE_RUN, cost_rows)
    from hellotorch.runfiles import COST_FIELDS

    row = {name: 0.5 for name in COST_FIELDS} | {"id": "x", "variant": "whole", "state": "cold", "compile_s": "1.5"}
    (cost_rows / "compile_costs.jsonl").write_text(json.dumps(row) + "\n")
    file_cache = {"TORCHINDUCTOR_CACHE_DIR": str(root / "a-file")}
    plugin = "tests.plugin_faults"
    cases = [
        BadInput("train: TORCHINDUCTOR_CACHE_DIR is a file", ("train",), env=file_cache),
        BadInput(
            "parity: TORCHINDUCTOR_CACHE_DIR under a file",
            ("parity",),
            env={"TORCHINDUCTOR_CACHE_DIR": str(root / "a-file" / "c")},
        ),
        BadInput("bench: TORCHINDUCTOR_CACHE_DIR is a file", ("bench", "--profile", "smoke"), env=file_cache),
        BadInput("train: --threads past the CPUs", ("train", "--threads", "100000")),
        BadInput("bench: --threads past the CPUs", ("bench", "--threads", "100000")),
        BadInput("train: HELLOTORCH_THREADS past the CPUs", ("train",), env={"HELLOTORCH_THREADS": "100000"}),
        BadInput(
            "bench: HELLOTORCH_THREADS past the CPUs",
            ("bench", "--profile", "smoke", "--results", str(root / "threads")),
            env={"HELLOTORCH_THREADS": "100000"},
        ),
        BadInput("train: plug-in factory calls sys.exit(0)", ("train", "--model", f"{plugin}:exits_zero")),
        BadInput("parity: plug-in factory calls sys.exit(0)", ("parity", "--model", f"{plugin}:exits_zero")),
        BadInput("train: plug-in factory calls sys.exit(3)", ("train", "--model", f"{plugin}:exits_three")),
        BadInput("train: plug-in batch calls sys.exit(0)", ("train", "--model", f"{plugin}:batch_exits")),
        BadInput("train: plug-in raises KeyboardInterrupt", ("train", "--model", f"{plugin}:factory_interrupts")),
        BadInput("train: plug-in default_batch_size 2.5", ("train", "--model", f"{plugin}:float_batch_size")),
        BadInput("train: plug-in has_sequence as text", ("train", "--model", f"{plugin}:text_has_sequence")),
        BadInput("history: --since last week", ("history", "--history", whole, "--since", "last week")),
        BadInput("history: --since 2026-13-45", ("history", "--history", whole, "--since", "2026-13-45")),
        BadInput(
            "history: --regressions, --case matches nothing",
            ("history", "--history", whole, "--case", "nothing-like-it", "--regressions"),
        ),
        BadInput("history: damaged header", ("history", "--history", _damage_header(_history(root, "header.sqlite")))),
        BadInput(
            "history: a table dropped",
            ("history", "--history", _history(root, "notable.sqlite", lambda c: c.execute("DROP TABLE cases"))),
        ),
        BadInput(
            "history: user_version tampered",
            ("history", "--history", _history(root, "version.sqlite", lambda c: c.execute("PRAGMA user_version = 1"))),
        ),
        BadInput(
            "history: ingest into a dropped table",
            (
                "history",
                "ingest",
                runs["good"],
                "--history",
                _history(root, "noruns.sqlite", lambda c: c.execute("DROP TABLE runs")),
            ),
        ),
        BadInput(
            "calibrate: one run three times",
            ("calibrate", "--from-runs", runs["good"], runs["good"], runs["good"], "--results", str(root / "cal")),
        ),
        BadInput("report: compile_costs.jsonl with text seconds", ("report", str(cost_rows))),
        BadInput(
            "bench: a gpt sequence of 100000000 tokens",
            ("bench", "--profile", _bytes(root, "longseq.toml", b'models = ["gpt"]\nseq_lens = [100000000]\n')),
        ),
        BadInput("new-model: not a module name", ("new-model", "1-model", "--output", str(root / "scaffold"))),
        BadInput("new-model: --output is a file", ("new-model", "mine", "--output", str(root / "a-file"))),
    ]
    return [dataclasses.replace(case, group="hostile") for case in cases]


def run_subprocess(case: BadInput, *, tree: Path, timeout: float = 300) -> tuple[int, str]:
    """Exit code and stderr of ``python -m hellotorch ARGV`` run from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), **case.env)
    env.pop("HELLOTORCH_DEBUG", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hellotorch", *case.argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=tree,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return -1, f"still running after {timeout:.0f} s: the work started before the input was checked"
    return done.returncode, done.stderr


def _cell(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    shown = lines[-1] if lines else ""
    if len(lines) > 1:
        shown = f"({len(lines)} lines) {shown}"
    return shown.replace("|", "\\|").replace(str(Path.cwd()), ".")[:160]


def main(argv: list[str]) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", default=str(Path(__file__).parent.parent), help="checkout whose hellotorch to run")
    parser.add_argument("--slow", action="store_true", help="include the inputs that start pytest")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a command is given up on")
    parser.add_argument("--only", default="", help="run only the inputs whose name starts with this")
    parser.add_argument("--group", default=None, choices=("contract", "hostile"), help="run only this group")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hellotorch-bad-") as temp:
        cases = [
            case
            for case in build(Path(temp))
            if (args.slow or not case.slow) and case.name.startswith(args.only) and args.group in (None, case.group)
        ]
        print("| # | input | expected | exit | stderr (last line) |")
        print("|---:|---|---:|---:|---|")
        for number, case in enumerate(cases, start=1):
            code, err = run_subprocess(case, tree=Path(args.tree), timeout=args.timeout)
            print(
                f"| {number} | {case.name} | {case.expected} | {code} | {_cell(err).replace(temp, '$TMP')} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
