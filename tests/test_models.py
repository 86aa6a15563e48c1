"""Every registered model and its dataset: shapes, dtypes, determinism, errors."""

import pytest
import torch

from hellotorch.models import LINEAR_X, LINEAR_Y, MODELS, build_model, get_model_spec, make_batch, model_config


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch_size", [1, 7])
def test_targets_match_output_shape_and_dtype(name, batch_size):
    model = build_model(name)
    inputs, targets = make_batch(name, batch_size=batch_size)
    output = model(inputs)
    assert output.shape == targets.shape == (batch_size, get_model_spec(name).default_config.num_classes)
    assert output.dtype == targets.dtype == torch.float32
    assert torch.isfinite(get_model_spec(name).make_loss()(output, targets))


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_weights_and_data_other_seed_differs(name):
    a, b, c = build_model(name, seed=3), build_model(name, seed=3), build_model(name, seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    first, second = make_batch(name, batch_size=8, seed=5), make_batch(name, batch_size=8, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(first, second))


def test_building_a_model_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build_model("mlp", seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_linear_is_the_tutorials_four_rows():
    inputs, targets = make_batch("linear", batch_size=4)
    assert inputs.squeeze(1).tolist() == list(LINEAR_X)
    assert targets.squeeze(1).tolist() == list(LINEAR_Y)
    assert inputs.dtype == targets.dtype == torch.float32


def test_hello_labels_are_float_zero_or_one():
    _, targets = make_batch("hello", batch_size=10)
    assert set(targets.flatten().tolist()) <= {0.0, 1.0}


def test_mlp_width_and_depth_are_settable():
    model = build_model("mlp", config=model_config("mlp", width=32, depth=2))
    linears = [m for m in model.backbone if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [32, 32]
    assert any(isinstance(m, torch.nn.LayerNorm) for m in model.backbone)
    assert any(isinstance(m, torch.nn.GELU) for m in model.backbone)


def test_transformer_uses_pytorch_encoder_layers():
    model = build_model("transformer")
    assert any(isinstance(m, torch.nn.TransformerEncoderLayer) for m in model.modules())


@pytest.mark.parametrize("call", [lambda: get_model_spec("resnet"), lambda: build_model("resnet")])
def test_unknown_model_lists_known_names(call):
    with pytest.raises(ValueError, match="hello, linear, mlp, transformer"):
        call()


@pytest.mark.parametrize("field, value", [("width", 0), ("depth", -1), ("dropout", 1.5)])
def test_bad_model_config_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        model_config("mlp", **{field: value})


def test_non_positive_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch size must be positive"):
        make_batch("hello", batch_size=0)
