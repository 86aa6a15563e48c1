"""The benchmark suite end to end: the smoke profile through ``hellotorch bench``.

These run real (small) benchmarks but assert only on what the run wrote:
fields present and sane, speedups positive, metadata present, failures
recorded, interrupted runs intact. Never on a timing.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hellotorch.labels import ID_FIELDS
from hellotorch.profiles.named import PROFILES, build_profile
from hellotorch.record import FIELDS

TESTS = Path(__file__).parent
NAN_CASE = "train-cpu-hello-b10-sgd.forloop-float32-eager"
CASE_FIELDS = ID_FIELDS
MEASURED = (
    "samples_per_s",
    "flops_per_step",
    "achieved_gflops",
    "peak_memory_bytes",
    "final_loss",
    "threads",
    "speedup",
)
COMPILED = (
    "compile_s",
    "graph_breaks",
    "recompiles",
    "unique_graphs",
    "speedup_q1",
    "speedup_q3",
    "parity",
    "parity_max_abs_diff",
)

#: Every test here starts a pytest-benchmark suite in a child process.
pytestmark = pytest.mark.slow


def bench(tmp_path, *args, fault=""):
    env = dict(os.environ, PYTEST_PLUGINS="bench_faults", HELLOTORCH_FAULT=fault)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "hellotorch", "bench", "--profile", "smoke", "--results", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    # Beside the run folder, a finished run is recorded in the results' history database.
    folders = list(tmp_path.glob("run-*"))
    assert len(folders) <= 1, folders
    return done, (folders[0] if folders else None)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run in which one case is made to fail (its loss is NaN)."""
    return bench(tmp_path_factory.mktemp("smoke"), "--no-report", fault=f"nan:{NAN_CASE}")


def test_a_failed_case_is_recorded_and_the_run_goes_on_and_ends_non_zero(smoke_run):
    done, run_dir = smoke_run
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"FAILED {NAN_CASE}: non-finite loss" in done.stdout
    raw = json.loads((run_dir / "benchmark.json").read_text())
    assert raw["hellotorch"]["failed"] == [{"id": NAN_CASE, "reason": raw["hellotorch"]["failed"][0]["reason"]}]
    assert "non-finite loss" in raw["hellotorch"]["failed"][0]["reason"]
    assert len(raw["benchmarks"]) == len(build_profile("smoke").cases) - 1


def test_every_case_records_its_fields_and_sane_numbers(smoke_run):
    _, run_dir = smoke_run
    raw = json.loads((run_dir / "benchmark.json").read_text())
    for bench_record in raw["benchmarks"]:
        info = bench_record["extra_info"]
        assert info["status"] == "ok", info
        assert set(info) <= set(FIELDS), set(info) - set(FIELDS)  # the writer keeps to the declared schema
        for field in CASE_FIELDS + MEASURED:
            assert field in info, (info["id"], field)
        assert info["samples_per_s"] > 0 and info["speedup"] > 0 and math.isfinite(info["final_loss"])
        assert info["threads"] >= 1 and info["peak_memory_bytes"] > 0
        if info["compiled"]:
            for field in COMPILED:
                assert field in info, (info["id"], field)
            assert info["compile_s"] >= 0 and info["unique_graphs"] >= 1
            assert 0 < info["speedup_q1"] <= info["speedup"] <= info["speedup_q3"]
            assert info["parity"] == "pass"


def test_a_log_gets_plain_progress_lines_with_the_case_count_and_the_time_left(smoke_run):
    done, _ = smoke_run
    planned = len(build_profile("smoke").cases)
    assert f"hellotorch bench: {planned} cases, about " in done.stdout
    progress = [line for line in done.stdout.splitlines() if "cases done" in line]
    assert len(progress) == planned, done.stdout[-3000:]
    assert progress[0].startswith(f"hellotorch bench: 1/{planned} cases done (") and progress[0].endswith(" left")
    assert progress[-1].startswith(f"hellotorch bench: {planned}/{planned} cases done")
    assert "\x1b" not in done.stdout and "\r" not in done.stdout


def test_machine_metadata_is_in_the_json(smoke_run):
    _, run_dir = smoke_run
    machine = json.loads((run_dir / "benchmark.json").read_text())["machine_info"]["hellotorch"]
    for key in ("torch", "cuda", "gpu", "cpu", "threads", "cxx", "git_commit"):
        assert machine[key] not in ("", None), key


def test_run_folder_holds_journal_and_loss_curves(smoke_run):
    _, run_dir = smoke_run
    assert run_dir.name.startswith("run-") and run_dir.name.endswith("-cpu-smoke")
    journal = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert len(journal) == len(build_profile("smoke").cases)
    curves = (run_dir / "loss_curves.csv").read_text().splitlines()
    assert curves[0].startswith("case,task,model") and len(curves) > 1
    assert not list(run_dir.glob("*.partial"))


def test_pytest_benchmark_compare_reads_the_json(smoke_run):
    _, run_dir = smoke_run
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_benchmark.cli import main; main()",
            "compare",
            str(run_dir / "benchmark.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "train-cpu-hello-b10-sgd.forloop-float32-default.step" in done.stdout


def test_an_interrupted_run_keeps_finished_cases_in_a_whole_json_and_exits_130(tmp_path):
    done, run_dir = bench(tmp_path, "--no-report", "-k", "hello", fault="interrupt:1")
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    raw = json.loads((run_dir / "benchmark.json").read_text())  # whole, parseable
    assert [b["extra_info"]["id"] for b in raw["benchmarks"]] == [raw["benchmarks"][0]["extra_info"]["id"]]
    assert raw["hellotorch"]["interrupted"] is True and raw["hellotorch"]["failed"] == []
    journal = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert [r["extra_info"]["status"] for r in journal] == ["ok"]  # JSON and journal agree: nothing failed
    assert not list(run_dir.glob("*.partial"))


def test_a_case_interrupted_mid_measurement_is_recorded_as_interrupted(tmp_path):
    compiled = "train-cpu-hello-b10-sgd.forloop-float32-default.step"
    done, run_dir = bench(tmp_path, "--no-report", "-k", "hello", fault=f"interrupt-in:{compiled}")
    assert done.returncode == 130, done.stdout[-2000:] + done.stderr[-2000:]
    journal = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert [(r["id"], r["extra_info"]["status"]) for r in journal] == [(NAN_CASE, "ok"), (compiled, "interrupted")]
    raw = json.loads((run_dir / "benchmark.json").read_text())
    assert raw["hellotorch"]["interrupted_case"] == compiled and raw["hellotorch"]["failed"] == []
    assert raw["hellotorch"]["cases_finished"] == 1 and raw["hellotorch"]["interrupted"] is True


@pytest.mark.parametrize("profile", list(PROFILES))
def test_case_ids_are_unique_and_readable(profile):
    cases = build_profile(profile, devices=("cpu", "cuda")).cases
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids))
    for case in cases:
        assert case.id.startswith(f"{case.task}-{case.device}-{case.model}-b{case.batch_size}-")
        assert " " not in case.id and "UNSERIALIZABLE" not in case.id


def test_quick_profile_covers_what_it_promises():
    cases = build_profile("quick").cases
    assert {c.model for c in cases} >= {"hello", "mlp"}
    assert len({c.batch_size for c in cases if c.model == "mlp"}) >= 3
    assert len({c.optimizer for c in cases}) >= 3
    assert {c.scope for c in cases if c.compiled} == {"step", "model"}
    assert {c.task for c in cases} == {"train", "finetune"}
    assert {c.implementation for c in cases if not c.compiled} >= {"forloop", "foreach", "fused"}


def test_full_profile_has_autotune_dynamic_bf16_and_every_optimizer():
    from hellotorch.training.optimizers import OPTIMIZERS

    cases = build_profile("full").cases
    assert {"max-autotune-no-cudagraphs", "dynamic"} <= {c.mode for c in cases}
    assert any(c.dtype == "bfloat16" and c.compiled for c in cases)
    assert {c.optimizer for c in cases} == set(OPTIMIZERS)


def test_unknown_profile_and_device_are_bad_input():
    for args, expected in ((["--profile", "huge"], "unknown profile 'huge'"), (["--device", "tpu"], "unknown device")):
        done = subprocess.run([sys.executable, "-m", "hellotorch", "bench", *args], capture_output=True, text=True)
        assert done.returncode == 2 and expected in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_profile_narrowed_to_case_ids_refuses_unknown_ids():
    quick = build_profile("quick")
    chosen = [quick.cases[0].id, quick.cases[-1].id]
    assert [case.id for case in build_profile("quick", only=chosen).cases] == chosen
    with pytest.raises(ValueError, match="profile quick has no case nope"):
        build_profile("quick", only=["nope"])


def test_cuda_absent_is_nothing_to_run_exit_2_and_no_run_folder(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the cases run instead")
    done, run_dir = bench(tmp_path, "--device", "cuda", "--no-report")
    assert done.returncode == 2, done.stderr
    assert "CUDA is not available on this machine" in done.stderr and run_dir is None


def test_a_keyword_that_matches_nothing_is_exit_2_and_leaves_no_run_folder(tmp_path):
    done, run_dir = bench(tmp_path, "-k", "no_such_case", "--no-report")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "matches no case" in done.stderr and run_dir is None


def test_k_selects_by_case_id_not_by_the_folders_the_suite_lives_in():
    from hellotorch.suite.keyword import select_by_keyword

    ids = [case.id for case in build_profile("smoke").cases]
    # pytest's own -k also matched the 'hellotorch/' folder: -k hello selected every case.
    assert select_by_keyword("hello", ids) == [case for case in ids if "hello" in case] != ids
    assert select_by_keyword("benchsuite", ids) == []
    assert select_by_keyword("MLP and not eager", ids) == [
        case for case in ids if "mlp" in case and "eager" not in case
    ]


def test_a_profile_with_reference_times_each_case_against_the_fixed_workload(tmp_path):
    profile = tmp_path / "ref.toml"
    profile.write_text(
        'models = ["hello"]\nmodes = ["eager"]\nimplementations = ["forloop"]\nreference = true\n'
        "pairs = 10\nmax_pair_seconds = 0.5\nstate_wait_seconds = 1.0\nmax_time = 0.1\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "hellotorch", "bench", "--profile", str(profile), "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (run_dir,) = tmp_path.glob("run-*")
    (record,) = [b["extra_info"] for b in json.loads((run_dir / "benchmark.json").read_text())["benchmarks"]]
    assert record["step_per_reference"] > 0 and record["step_per_reference_pairs"] >= 10
    assert record["reference_version"] == 1
    assert record["step_per_reference_ci_low"] <= record["step_per_reference"] <= record["step_per_reference_ci_high"]
    assert (
        record["reference_thread_state"] in ("fast", "slow", "unprobed") and record["reference_slow_state_pairs"] >= 0
    )
    # The rounds' thread state is probed with 2+ threads and says "unprobed" with one.
    assert record["rounds_thread_state"] in ("fast", "slow", "unprobed")
    # Every CPU case reads the host's speed around its timed work, and the summary gives the run's range.
    assert record["host_speed_ms"] > 0
    assert "- host speed: a fixed Python loop took" in (run_dir / "summary.md").read_text()
    assert "hellotorch bench: host speed: a fixed Python loop took" in done.stdout
