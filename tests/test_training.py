"""train_step, training runs, compiled-vs-eager agreement and fine-tuning."""

import dataclasses

import pytest
import torch

import hellotorch.training.compiling
from hellotorch.errors import StepFailed
from hellotorch.models import ModelConfig, build_model
from hellotorch.training.compiling import CompileConfig, SilentEagerError
from hellotorch.training.loops import FinetuneConfig, RunConfig, prepare_finetuning, prepare_training, train
from hellotorch.training.optimizers import build_optimizer
from hellotorch.training.step import train_step


def test_train_step_updates_weights_clears_grads_and_returns_detached_loss():
    model = torch.nn.Linear(3, 1)
    before = model.weight.detach().clone()
    optimizer = build_optimizer("sgd", model.parameters(), lr=0.1)
    batch = (torch.randn(4, 3), torch.randn(4, 1))
    loss = train_step(model, batch, optimizer, torch.nn.MSELoss())
    assert loss.shape == () and not loss.requires_grad
    assert not torch.equal(model.weight, before)
    assert model.weight.grad is None


@pytest.mark.parametrize(
    "model, optimizer, lr",
    [("hello", "sgd", 0.01), ("linear", "sgd", 0.01), ("mlp", "adamw", 1e-3), ("transformer", "adam", 1e-3)],
)
def test_loss_falls(model, optimizer, lr):
    losses = train(prepare_training(RunConfig(model=model, optimizer=optimizer, lr=lr)), steps=20)
    assert len(losses) == 20
    assert losses[-1] < losses[0]


def test_eager_runs_are_bitwise_repeatable():
    run = RunConfig(model="mlp", optimizer="adam", lr=1e-3)
    assert train(prepare_training(run), steps=5) == train(prepare_training(run), steps=5)


@pytest.mark.compiled
def test_compiled_inductor_matches_eager_on_hello():
    run = RunConfig(model="hello", optimizer="sgd", lr=0.01)
    eager = train(prepare_training(run), steps=30)
    compiled_setup = prepare_training(dataclasses.replace(run, compile=CompileConfig(mode="default")))
    compiled = train(compiled_setup, steps=30)
    stats = compiled_setup.step.graph_stats()
    assert stats.unique_graphs >= 1 and stats.recompiles == 0
    assert max(abs(a - b) for a, b in zip(eager, compiled)) < 1e-5


def test_a_compiled_step_that_captures_nothing_is_an_error(monkeypatch):
    # A disabled train_step leaves Dynamo nothing to capture: exactly the
    # silent-eager trap that check_captured exists for.
    monkeypatch.setattr(hellotorch.training.compiling, "train_step", torch._dynamo.disable(train_step))
    setup = prepare_training(RunConfig(model="hello", compile=CompileConfig(mode="default", backend="eager")))
    with pytest.raises(StepFailed, match="step 1 failed: SilentEagerError: .*captured no graph") as caught:
        train(setup, steps=2)
    assert isinstance(caught.value.__cause__, SilentEagerError)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(model="vit"), "unknown model"),
        (dict(optimizer="lion"), "unknown optimizer"),
        (dict(device="tpu"), "unknown device"),
        (dict(dtype="int8"), "unknown dtype"),
        (dict(batch_size=0), "batch size must be positive"),
        (dict(lr=float("inf")), "learning rate must be a finite positive number"),
        (dict(lr=0.0), "learning rate must be a finite positive number"),
        (dict(model="transformer", model_config=ModelConfig(width=30, depth=2, num_classes=10)), "cannot be built"),
        (dict(model="mlp", batch_size=10**12), "GiB available"),
    ],
)
def test_run_config_refuses_bad_fields_when_built(change, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**change)


def test_run_config_exposes_what_it_resolves_once():
    run = RunConfig(model="mlp", optimizer="adamw", lr=1e-3, dtype="bf16")
    assert run.precision is run.precision and run.precision.name == "bfloat16"
    assert run.model_spec.name == "mlp" and run.optimizer_spec.family == "adaptive"
    assert run.resolved_batch_size == 64 and run.case_fields()["dtype"] == "bfloat16"


def test_a_diverging_run_fails_naming_the_step():
    setup = prepare_training(RunConfig(model="linear", optimizer="sgd", lr=1e6))
    with pytest.raises(StepFailed, match=r"training diverged: the loss is (nan|inf) at step \d+") as caught:
        train(setup, steps=50)
    assert 1 < caught.value.step <= 50


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(mode="turbo"), "unknown compile mode"),
        (dict(scope="layer"), "unknown compile scope"),
        (dict(backend="tvm"), "unknown compile backend"),
    ],
)
def test_compile_config_refuses_bad_names(change, message):
    with pytest.raises(ValueError, match=message):
        CompileConfig(**change)


def test_cudagraph_modes_need_cuda():
    with pytest.raises(ValueError, match="needs --device cuda"):
        RunConfig(compile=CompileConfig(mode="reduce-overhead"))


def _pretrained(model="mlp"):
    run = RunConfig(model=model, optimizer="adamw", lr=1e-3)
    setup = prepare_training(run)
    train(setup, steps=3)
    return run, setup.model


def test_frozen_backbone_stays_bitwise_equal_while_head_learns():
    run, pretrained = _pretrained()
    setup = prepare_finetuning(run, pretrained, FinetuneConfig(freeze_backbone=True))
    head_before = [p.detach().clone() for p in setup.model.head.parameters()]
    losses = train(setup, steps=10)
    for tuned, original in zip(setup.model.backbone.parameters(), pretrained.backbone.parameters()):
        assert torch.equal(tuned, original)
    assert all(not torch.equal(a, b) for a, b in zip(setup.model.head.parameters(), head_before))
    assert setup.model.head.out_features == 4  # the fine-tuning task's head
    assert losses[-1] < losses[0]


def test_backbone_learning_rate_is_its_own_parameter_group():
    run, pretrained = _pretrained()
    setup = prepare_finetuning(run, pretrained, FinetuneConfig(backbone_lr=1e-5))
    assert [group["lr"] for group in setup.optimizer.param_groups] == [1e-5, 1e-3]
    train(setup, steps=2)
    assert any(
        not torch.equal(a, b) for a, b in zip(setup.model.backbone.parameters(), pretrained.backbone.parameters())
    )


def test_tutorial_models_fine_tune_by_training_on_and_refuse_freezing():
    run, pretrained = _pretrained("hello")
    setup = prepare_finetuning(run, pretrained, FinetuneConfig())
    assert torch.equal(setup.model.head.weight, pretrained.head.weight)  # kept, as the tutorial did
    with pytest.raises(ValueError, match="has no backbone"):
        prepare_finetuning(run, pretrained, FinetuneConfig(freeze_backbone=True))


def test_fine_tuning_leaves_the_pretrained_model_alone():
    run, pretrained = _pretrained()
    snapshot = {k: v.clone() for k, v in pretrained.state_dict().items()}
    train(prepare_finetuning(run, pretrained, FinetuneConfig()), steps=3)
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in snapshot.items())


def test_build_model_is_importable_from_package():
    import hellotorch

    assert hellotorch.build_model is build_model
