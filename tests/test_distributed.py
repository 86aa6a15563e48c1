"""Distributed cases under torchrun: strategies, parity against one process, faults, the suite.

The launches are real 2-rank gloo runs on the CPU (a few seconds each; the
compiled ones use the warm Inductor cache after the first run).
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

import hellotorch.distributed.bench
from hellotorch.distributed.bench import SlowestRankTimer, distributed_curve, measure_distributed_case
from hellotorch.distributed.strategies import Parallelism, check_ranks_fit
from hellotorch.distributed.torchrun import Launch, LaunchFailed, launch_case, request_payload
from hellotorch.distributed.worker import read_request
from hellotorch.labels import case_id
from hellotorch.parity.distributed import compare_with_one_process
from hellotorch.profiles.cases import Profile
from hellotorch.profiles.named import build_profile
from hellotorch.settings import Measurement

from .fixtures_util import adamw_case

ROOT = Path(__file__).resolve().parents[1]


def _case(strategy="ddp", mode="eager", scope="-", model="mlp", world_size=2, task="train", batch_size=64):
    return adamw_case(
        model=model, batch_size=batch_size, mode=mode, scope=scope, task=task, strategy=strategy, world_size=world_size
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"world_size": 0}, "--nproc must be a positive number"),
        ({"world_size": 3}, "does not split evenly over --nproc 3"),
        ({"strategy": "none", "world_size": 2}, "--nproc 2 needs a strategy"),
        ({"strategy": "nccl"}, "unknown strategy 'nccl'; choose one of: none, ddp, ddp-ca, fsdp2"),
        ({"strategy": "fsdp2", "mode": "default", "scope": "step"}, "fsdp2 compiles with scope blocks, not step"),
        ({"strategy": "ddp-ca"}, "differs from ddp only when compiled"),
        ({"model": "cnn", "batch_size": 32}, "model cnn has BatchNorm"),
    ],
)
def test_a_case_the_strategy_cannot_run_is_refused_with_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _case(**kwargs)


def test_nccl_needs_a_gpu_per_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="NCCL needs a GPU per rank and this machine has 1"):
        check_ranks_fit(device="cuda", world_size=2)
    check_ranks_fit(device="cuda", world_size=1)


def test_each_rank_gets_an_equal_slice_of_the_global_batch():
    batch = (torch.arange(8).reshape(8, 1), torch.arange(8))
    slices = [Parallelism("ddp", rank, 4).shard(batch) for rank in range(4)]
    assert [s[1].tolist() for s in slices] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_a_distributed_case_names_its_strategy_and_ranks_and_older_ids_are_unchanged():
    case = _case(strategy="fsdp2", mode="default", scope="blocks")
    assert case.id.endswith("-default.blocks-fsdp2.w2")
    assert "fsdp2 x2" in case.title
    plain = {
        k: v for k, v in _case(strategy="none", world_size=1).as_dict().items() if k not in ("strategy", "world_size")
    }
    assert case_id(plain) == "train-cpu-mlp-b64-adamw.forloop-float32-eager"


def test_nproc_resizes_the_distributed_cases_of_a_profile():
    assert {case.world_size for case in build_profile("dist", nproc=4).cases} == {4}
    with pytest.raises(ValueError, match="profile quick has no distributed case"):
        build_profile("quick", nproc=2)


def test_the_slowest_rank_timer_replays_its_rounds_to_pytest_benchmark():
    timer = SlowestRankTimer()
    timer.load([0.5, 0.25, 2.0])
    intervals = []
    for _ in range(3):
        start = timer()
        intervals.append(timer() - start)
    assert intervals == [0.5, 0.25, 2.0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "strategy, mode, scope",
    [("ddp", "eager", "-"), ("ddp", "default", "step"), ("fsdp2", "eager", "-"), ("fsdp2", "default", "blocks")],
)
def test_two_gloo_ranks_learn_what_one_process_learns(strategy, mode, scope):
    case = _case(strategy=strategy, mode=mode, scope=scope)
    report = distributed_curve(case, steps=8, timeout_s=300)
    assert len(report["ranks"]) == 2
    parity = compare_with_one_process(case, report["losses"])
    assert parity.verdict == "pass", parity.reason
    assert parity.max_abs_diff < 1e-4
    # The curve fell: the ranks trained, they did not just agree on a constant.
    assert report["losses"][-1] < report["losses"][0]


@pytest.mark.slow
def test_fine_tuning_under_ddp_keeps_parity_with_one_process():
    case = _case(task="finetune")
    parity = compare_with_one_process(case, distributed_curve(case, steps=6, timeout_s=300)["losses"])
    assert parity.verdict == "pass", parity.reason


@pytest.mark.slow
def test_a_planted_difference_fails_parity():
    case = _case()
    losses = distributed_curve(case, steps=4, timeout_s=300)["losses"]
    losses[-1] *= 1.01
    assert compare_with_one_process(case, losses).verdict == "fail"


def _distworkers(marker: str) -> list[str]:
    """Command lines of live processes mentioning ``marker`` (zombies aside)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "State:\tZ" not in status and int(proc.name) != os.getpid():
            found.append(cmdline)
    return found


def _fault_case(model: str):
    return _case(model=f"tests.rank_faults:{model}")


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_case_with_its_reason_and_leaves_nothing_behind():
    started = time.monotonic()
    with pytest.raises(LaunchFailed, match=r"rank 1 died \(exit status 7\)"):
        distributed_curve(_fault_case("crash_on_rank1"), steps=6, timeout_s=120)
    assert time.monotonic() - started < 60
    assert _distworkers("crash_on_rank1") == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "collective_timeout_s, timeout_s, expected",
    [(8, 60, "Timed out waiting 8000ms"), (300, 15, "timed out after 15 s")],
)
def test_a_rank_that_hangs_is_stopped_at_the_timeout_and_leaves_nothing_behind(
    collective_timeout_s, timeout_s, expected
):
    # Either gloo's collective timeout (well under the case's here) ends rank 0's
    # wait, or, when collectives would wait longer, the launcher stops the group.
    launch = Launch(
        _fault_case("hang_on_rank1"),
        Measurement(parity_steps=6),
        curve_only=True,
        timeout_s=timeout_s,
        collective_timeout_s=collective_timeout_s,
    )
    started = time.monotonic()
    with pytest.raises(LaunchFailed, match=expected) as failure:
        launch_case(launch)
    assert time.monotonic() - started < min(timeout_s, collective_timeout_s + 30) + 10
    assert "rank 1: parity curve" in str(failure.value)  # where each rank was
    assert _distworkers("hang_on_rank1") == []


@pytest.mark.slow
def test_a_failed_distributed_case_is_recorded_and_the_run_goes_on(tmp_path):
    profile = tmp_path / "faults.toml"
    profile.write_text(
        'models = ["tests.rank_faults:crash_on_rank1", "mlp"]\nmodes = ["eager"]\nstrategies = ["ddp"]\n'
        "nproc = 2\nmin_rounds = 3\nmax_time = 0.05\nparity_steps = 4\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "hellotorch", "bench", "--profile", str(profile), "--results", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2/2 cases finished, 1 failed" in done.stdout
    assert "rank 1 died (exit status 7)" in done.stdout
    summary = next((tmp_path / "r").glob("run-*/summary.md")).read_text()
    assert "parity vs one process" in summary and "ddp x2" in summary


def test_every_measurement_setting_reaches_the_ranks(tmp_path, monkeypatch):
    # The ranks once got a hand-made dict of 4 keys: speedup_ci, max_pairs, max_pair_seconds and
    # state_wait_seconds were silently dropped. The request now carries the Measurement whole.
    measurement = Measurement(
        pairs=12, speedup_ci=0.07, max_pairs=37, max_pair_seconds=3.5, state_wait_seconds=9.0, parity_steps=5
    )
    profile = Profile("p", "d", (), measurement)
    sent = {}

    def fake_launch(launch):
        sent["payload"] = request_payload(launch, tmp_path)
        raise LaunchFailed("stop here")

    monkeypatch.setattr(hellotorch.distributed.bench, "launch_case", fake_launch)
    case = dataclasses.replace(_fault_case("crash_on_rank1"), mode="default", scope="step")
    with pytest.raises(LaunchFailed):
        measure_distributed_case(case, profile=profile, benchmark=types.SimpleNamespace(extra_info={}), timer=None)
    payload = json.loads(json.dumps(sent["payload"]))  # as the ranks read it
    received_case, received = read_request(payload)
    assert received == measurement and received_case == case and payload["curve_only"] is False


def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (this one aside)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if "State:\tZ" in (proc / "status").read_text():
                continue
            if mark.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_sigkill_of_hellotorch_leaves_no_launcher_rank_or_temporary_folder(tmp_path):
    # SIGKILL cannot be caught: the ranks must die with their parents (PR_SET_PDEATHSIG), down the chain.
    mark = f"HELLOTORCH_TEST_MARK_{os.getpid()}_{time.monotonic_ns()}"
    command = [sys.executable, "-m", "hellotorch", "train", "--model", "tests.rank_faults:hang_on_rank1"]
    command += ["--nproc", "2", "--strategy", "ddp", "--steps", "6"]
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    parent = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, TMPDIR=str(temporary), **{mark: "1"}))
    deadline = time.monotonic() + 180
    while len(_marked(mark)) < 4 and time.monotonic() < deadline:  # hellotorch, torchrun, two ranks
        time.sleep(0.5)
    assert len(_marked(mark)) >= 4, "the ranks never started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while (_marked(mark) or list(temporary.glob("hellotorch-dist-*"))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _marked(mark) == []
    assert list(temporary.glob("hellotorch-dist-*")) == []  # the ranks' watchdog removed the launcher's folder
