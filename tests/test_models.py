"""Every registered model and its dataset: shapes, dtypes, determinism, errors."""

import pytest
import torch

from hellotorch.models import LINEAR_X, LINEAR_Y, MODELS, build_model, get_model_spec, make_batch, model_config


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch_size", [1, 7])
def test_targets_fit_the_output_and_the_loss_is_a_finite_scalar(name, batch_size):
    model = build_model(name)
    inputs, targets = make_batch(name, batch_size=batch_size)
    output = model(inputs)
    spec = get_model_spec(name)
    if name == "gpt":  # next-token targets: one class index per position
        assert output.shape == (batch_size, spec.default_config.seq_len, spec.default_config.num_classes)
        assert targets.shape == output.shape[:2] and targets.dtype == torch.long
    else:
        assert output.shape == targets.shape == (batch_size, spec.default_config.num_classes)
        assert output.dtype == targets.dtype == torch.float32
    loss = spec.make_loss()(output, targets)
    assert loss.dim() == 0 and torch.isfinite(loss)


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
    linears = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [32, 32]
    assert any(isinstance(m, torch.nn.LayerNorm) for m in model.backbone.modules())
    assert any(isinstance(m, torch.nn.GELU) for m in model.backbone.modules())
    # One module per block: what regional compilation compiles and FSDP2 shards.
    assert len(get_model_spec("mlp").repeated_blocks(model.backbone)) == 2


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


def test_gpt_ties_its_output_layer_to_the_token_embedding_and_is_causal():
    model = build_model("gpt", config=model_config("gpt", width=32, depth=1, seq_len=16))
    assert model.head.weight is model.backbone.wte.weight
    tokens, _ = make_batch("gpt", batch_size=2, config=model_config("gpt", width=32, depth=1, seq_len=16))
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 256
    # Changing the last token cannot change what the model predicts at earlier positions.
    assert torch.equal(model(tokens)[:, :-1], model(changed)[:, :-1])


def test_gpt_sequence_length_is_an_axis_of_its_own():
    config = model_config("gpt", width=32, depth=1, seq_len=24)
    tokens, targets = make_batch("gpt", batch_size=3, config=config)
    assert tokens.shape == targets.shape == (3, 24)
    assert torch.equal(tokens[:, 1:], targets[:, :-1])  # targets are the next tokens
    assert build_model("gpt", config=config).backbone.wpe.num_embeddings == 24


def test_cnn_has_batchnorm_and_residual_blocks_on_32x32_images():
    model = build_model("cnn")
    images, _ = make_batch("cnn", batch_size=2)
    assert images.shape == (2, 3, 32, 32)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert sum(type(m).__name__ == "ResidualBlock" for m in model.modules()) == 2
    before = model.backbone[1].running_mean.clone()
    model(images)  # training mode: the running statistics move
    assert not torch.equal(model.backbone[1].running_mean, before)


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("transformer", {"width": 30}, "cannot be built with width 30"),
        ("gpt", {"width": 30}, "not divisible by the 4 attention heads"),
    ],
)
def test_shapes_pytorch_rejects_are_refused_before_building(name, overrides, message):
    from hellotorch.training.sizing import check_config

    with pytest.raises(ValueError, match=message):
        check_config(name, model_config(name, **overrides))
