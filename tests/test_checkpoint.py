"""Checkpoints: eager <-> compiled round trips and the refusals."""

import pytest
import torch

from hellotorch.models import build_model, model_config
from hellotorch.training.checkpoint import CheckpointError, load_checkpoint, load_into, read_checkpoint, save_checkpoint


def _equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_compiled_checkpoint_loads_into_eager_and_back(tmp_path):
    source = build_model("mlp", seed=1)
    compiled = torch.compile(source)  # wrapping alone adds the _orig_mod. prefix
    assert next(iter(compiled.state_dict())).startswith("_orig_mod.")
    path = save_checkpoint(compiled, tmp_path / "c.pt", model_name="mlp", config=model_config("mlp"))
    eager, _ = load_checkpoint(path)
    assert _equal(eager, source)

    path = save_checkpoint(eager, tmp_path / "e.pt", model_name="mlp", config=model_config("mlp"))
    target = torch.compile(build_model("mlp", seed=2))
    load_into(target, read_checkpoint(path))
    assert _equal(target._orig_mod, source)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    corrupt = tmp_path / "bad.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        read_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save(build_model("hello").state_dict(), foreign)
    with pytest.raises(CheckpointError, match="not written by hellotorch"):
        read_checkpoint(foreign)


def test_other_model_or_shape_is_refused_with_the_difference(tmp_path):
    path = save_checkpoint(build_model("mlp"), tmp_path / "m.pt", model_name="mlp", config=model_config("mlp"))
    with pytest.raises(CheckpointError, match="is for model mlp, not transformer"):
        load_checkpoint(path, expect_model="transformer")
    with pytest.raises(CheckpointError, match="width 256 vs 128"):
        load_checkpoint(path, expect_config=model_config("mlp", width=128))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_into(build_model("mlp", config=model_config("mlp", width=128)), read_checkpoint(path))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    save_checkpoint(build_model("hello"), tmp_path / "h.pt", model_name="hello", config=model_config("hello"))
    assert [p.name for p in tmp_path.iterdir()] == ["h.pt"]


def _payload(**changes):
    payload = {
        "format": "hellotorch-checkpoint/1",
        "model": "mlp",
        "config": {"width": 8, "depth": 1, "num_classes": 10, "dropout": 0.0},
        "state_dict": {"head.weight": torch.zeros(10, 8)},
    }
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(state_dict=None), "field 'state_dict' is missing"),
        (dict(state_dict={"head.weight": [1.0, 2.0]}), "is not a named tensor"),
        (dict(state_dict={"head.weight": torch.full((2,), float("nan"))}), "NaN or infinite"),
        (dict(config={"width": -4, "depth": 1, "num_classes": 10, "dropout": 0.0}), "width must be positive"),
        (dict(config={"width": "8"}), "field 'config.width' must be a number"),
        (dict(config={"colour": 1}), "unknown key"),
        (dict(model="resnet"), "unknown model 'resnet'"),
        (dict(model=None), "field 'model' must be a model name"),
        (dict(model="transformer", config={"width": 30, "depth": 1, "num_classes": 10}), "cannot be built"),
    ],
)
def test_a_checkpoint_holding_the_wrong_things_is_refused_naming_the_field(tmp_path, changes, message):
    path = tmp_path / "odd.pt"
    torch.save(_payload(**changes), path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    import pickle

    class Exploit:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "exploit.pt"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        read_checkpoint(path)


def test_a_saved_checkpoint_gets_the_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = save_checkpoint(
            build_model("hello"), tmp_path / "h.pt", model_name="hello", config=model_config("hello")
        )
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
