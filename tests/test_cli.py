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


def test_linear_four_rows(capsys):
    assert main(["train", "--model", "linear", "--steps", "50", "--quiet"]) == 0
    assert "batch 4" in capsys.readouterr().out


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


def test_an_unexpected_failure_is_one_line_and_exit_1(monkeypatch, capsys):
    import hellotorch.training

    def explode(*args, **kwargs):
        raise RuntimeError("backend compiler failed\ndeep inductor traceback text")

    monkeypatch.setattr(hellotorch.training, "train", explode)
    monkeypatch.delenv("HELLOTORCH_DEBUG", raising=False)
    assert main(["train", "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "hellotorch train: failed: RuntimeError: backend compiler failed (HELLOTORCH_DEBUG=1 shows the traceback)"
    )


def test_log_every_one_prints_one_line_per_step(capsys):
    assert main(["train", "--model", "linear", "--steps", "7", "--log-every", "1"]) == 0
    steps = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step")]
    assert [line.split()[1] for line in steps] == [f"{i}/7" for i in range(1, 8)]
