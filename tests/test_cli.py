"""The command line: the tutorial runs, fine-tuning, and every bad input (exit 2, one line)."""

import subprocess
import sys

import pytest

from hellotorch.cli import main


def hellotorch(*args):
    """Run the real console entry point in a subprocess: exit code, stdout, stderr."""
    done = subprocess.run([sys.executable, "-m", "hellotorch", *args], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def test_tutorial_run_prints_progress_and_a_falling_final_loss(capsys):
    assert main(["train", "--model", "hello", "--optimizer", "sgd", "--lr", "0.01", "--steps", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    steps = [float(line.split("loss")[1]) for line in lines if line.startswith("step")]
    assert len(steps) == 11 and steps[-1] < steps[0]
    assert lines[-1].startswith("final loss") and "after 100 steps" in lines[-1]


def test_linear_trains_on_the_tutorials_four_rows_and_its_loss_falls(capsys):
    from hellotorch.models import LINEAR_X, LINEAR_Y
    from hellotorch.training.loops import RunConfig, prepare_training

    setup = prepare_training(RunConfig(model="linear"))
    inputs, targets = setup.batch
    assert inputs.squeeze(1).tolist() == list(LINEAR_X) and targets.squeeze(1).tolist() == list(LINEAR_Y)
    assert main(["train", "--model", "linear", "--steps", "50", "--log-every", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training train cpu linear b4 sgd.default float32 eager, lr 0.01")
    losses = [float(line.split("loss")[1]) for line in lines if line.startswith("step")]
    # MSE of the best line through (1,0) (2,1) (3,1) (4,0) is 0.25; from its seeded start it falls towards it.
    assert len(losses) == 6 and losses[-1] < losses[0] and losses[-1] >= 0.25 - 1e-6
    final = float(lines[-1].split()[2])
    assert lines[-1].startswith("final loss") and final == pytest.approx(losses[-1], abs=1e-6)


def test_train_save_then_finetune_frozen_and_with_backbone_lr(tmp_path, capsys):
    path = tmp_path / "mlp.pt"
    assert (
        main(
            [
                "train",
                "--model",
                "mlp",
                "--optimizer",
                "adamw",
                "--lr",
                "1e-3",
                "--steps",
                "5",
                "--save",
                str(path),
                "--quiet",
            ]
        )
        == 0
    )
    assert path.is_file()
    assert main(["finetune", "--from", str(path), "--freeze-backbone", "--steps", "5", "--quiet"]) == 0
    assert "backbone frozen" in capsys.readouterr().out
    assert main(["finetune", "--from", str(path), "--backbone-lr", "1e-4", "--steps", "5", "--quiet"]) == 0


def test_env_names_the_machine(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    for key in ("torch", "cuda", "cpu", "threads", "cxx", "git_commit"):
        assert any(line.split()[0] == key for line in out.splitlines()), key


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "mlp.pt"
    assert main(["train", "--model", "mlp", "--steps", "1", "--save", str(path), "--quiet"]) == 0
    return path


BAD_INPUTS = {
    "unknown model": (
        ["train", "--model", "resnet"],
        "unknown model 'resnet'; choose one of: hello, linear, mlp, transformer",
    ),
    "unknown optimizer": (["train", "--optimizer", "lion"], "choose one of: sgd, momentum"),
    "unsupported implementation": (["train", "--optimizer", "rmsprop", "--impl", "fused"], "no fused implementation"),
    "unknown mode": (["train", "--compile", "turbo"], "unknown compile mode 'turbo'; choose one of: eager, default"),
    "unknown scope": (["train", "--compile", "--scope", "layer"], "unknown compile scope"),
    "unknown device": (["train", "--device", "tpu"], "unknown device 'tpu'; choose one of: cpu, cuda"),
    "unknown dtype": (["train", "--dtype", "int8"], "unknown dtype"),
    "zero steps": (["train", "--steps", "0"], "argument --steps: must be a positive integer, got 0"),
    "infinite lr": (["train", "--lr", "inf"], "argument --lr: must be a finite positive number, got 'inf'"),
    "negative batch": (["train", "--batch-size", "-3"], "argument --batch-size: must be a positive integer"),
    "text steps": (["train", "--steps", "many"], "must be a positive integer, got 'many'"),
    "missing checkpoint": (["finetune", "--from", "/nonexistent/x.pt"], "does not exist"),
    "finetune without --from": (["finetune"], "--from"),
    "unknown command": (["fly"], "invalid choice"),
}


def exit_code(argv):
    """main()'s exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(name, capsys):
    argv, expected = BAD_INPUTS[name]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_cuda_absent_is_exit_2_with_reason():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present on this machine; the absent-CUDA error cannot happen")
    code, _, err = hellotorch("train", "--device", "cuda")
    assert code == 2 and "CUDA is not available" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_corrupt_and_mismatched_checkpoints_exit_2(tmp_path, mlp_checkpoint):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    for argv, expected in [
        (["finetune", "--from", str(corrupt)], "not a readable PyTorch file"),
        (["finetune", "--from", str(mlp_checkpoint), "--model", "transformer"], "is for model mlp, not transformer"),
        (["finetune", "--from", str(mlp_checkpoint), "--width", "32"], "has width 256, depth 3; asked for width 32"),
        (["finetune", "--from", str(mlp_checkpoint), "--freeze-backbone", "--backbone-lr", "0.1"], "not allowed with"),
    ]:
        code, _, err = hellotorch(*argv)
        assert code == 2, (argv, err)
        assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_failing_step_is_one_line_and_exit_1(monkeypatch, capsys):
    import hellotorch.training.compiling

    def explode(*args, **kwargs):
        raise RuntimeError("backend compiler failed\ndeep inductor traceback text")

    monkeypatch.setattr(hellotorch.training.compiling, "train_step", explode)
    monkeypatch.delenv("HELLOTORCH_DEBUG", raising=False)
    assert main(["train", "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "hellotorch train: failed: step 1 failed: RuntimeError: backend compiler failed"


def test_an_internal_error_is_one_line_and_exit_70(monkeypatch, capsys):
    import hellotorch.training.workflows

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(hellotorch.training.workflows, "prepare_training", bug)
    monkeypatch.delenv("HELLOTORCH_DEBUG", raising=False)
    assert main(["train", "--steps", "1"]) == 70
    err = capsys.readouterr().err.strip()
    assert err.startswith("hellotorch train: internal error: KeyError") and len(err.splitlines()) == 1


def test_a_diverging_run_exits_1_naming_the_step(capsys):
    assert main(["train", "--model", "linear", "--lr", "1e6", "--steps", "50", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "training diverged: the loss is" in err and "at step" in err and len(err.strip().splitlines()) == 1


def test_a_bad_save_path_is_refused_before_training(tmp_path, capsys):
    assert main(["train", "--steps", "1", "--save", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "--save" in captured.err and "is a folder" in captured.err
    assert "training" not in captured.out  # refused before any work
    assert list(tmp_path.iterdir()) == []  # and nothing left behind


def test_log_every_one_prints_one_line_per_step(capsys):
    assert main(["train", "--model", "linear", "--steps", "7", "--log-every", "1"]) == 0
    steps = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step")]
    assert [line.split()[1] for line in steps] == [f"{i}/7" for i in range(1, 8)]


def test_a_bad_thread_count_in_the_environment_is_named():
    import os

    done = subprocess.run(
        [sys.executable, "-m", "hellotorch", "train", "--steps", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ, HELLOTORCH_THREADS="abc"),
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "hellotorch train: error: HELLOTORCH_THREADS must be a positive integer, got 'abc'"


@pytest.mark.parametrize("optimizer, lr", [("adamw", 1e-3), ("sgd", 1e-2)])
def test_train_defaults_to_the_optimizer_familys_learning_rate_as_parity_does(optimizer, lr, capsys):
    assert main(["train", "--model", "hello", "--optimizer", optimizer, "--steps", "1"]) == 0
    assert f"lr {lr:g}" in capsys.readouterr().out
