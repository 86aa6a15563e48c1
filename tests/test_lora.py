"""LoRA fine-tuning and frozen BatchNorm: what trains, what stays bitwise, and parity that can fail."""

import dataclasses

import pytest
import torch

from hellotorch.models import build_model, model_config
from hellotorch.parity.arms import Arms
from hellotorch.parity.losses import check_parity, compare_arms, format_report
from hellotorch.training.compiling import CompileConfig
from hellotorch.training.config import FinetuneConfig, RunConfig
from hellotorch.training.loops import prepare_finetuning, train
from hellotorch.training.lora import base_parameters, plain_state_dict

AOT = CompileConfig(mode="default", backend="aot_eager")
MLP = RunConfig(
    model="mlp", optimizer="adamw", lr=1e-3, batch_size=8, model_config=model_config("mlp", width=16, depth=2)
)
CNN = RunConfig(model="cnn", optimizer="sgd", lr=0.05, batch_size=8, model_config=model_config("cnn", width=8, depth=2))


def _check(report, name):
    return next(check for check in report.checks if check.name.startswith(name))


def test_lora_trains_only_the_adapters_and_the_head_and_starts_at_the_pretrained_model():
    pretrained = build_model("mlp", config=MLP.resolved_model_config)
    setup = prepare_finetuning(MLP, pretrained, FinetuneConfig(lora_rank=2))
    trainable = {name for name, p in setup.model.named_parameters() if p.requires_grad}
    assert trainable and all(".A" in name or ".B" in name or name.startswith("head.") for name in trainable)
    inputs, _ = setup.batch
    # B starts at zero: the adapted backbone computes exactly what the pretrained one does.
    assert torch.equal(setup.model.backbone(inputs), pretrained.backbone(inputs))
    before = {name: p.detach().clone() for name, p in base_parameters(setup.model.backbone).items()}
    losses = train(setup, steps=10)
    assert losses[-1] < losses[0]
    after = base_parameters(setup.model.backbone)
    assert all(torch.equal(after[name], value) for name, value in before.items())
    assert any(p.abs().sum() > 0 for name, p in setup.model.named_parameters() if name.endswith(".B"))


def test_a_merged_lora_model_computes_the_same_and_has_plain_weights():
    setup = prepare_finetuning(MLP, build_model("mlp", config=MLP.resolved_model_config), FinetuneConfig(lora_rank=2))
    train(setup, steps=5)
    plain = build_model("mlp", config=setup.run.resolved_model_config)
    plain.load_state_dict(plain_state_dict(setup.model))  # strict: exactly the plain model's keys
    inputs, _ = setup.batch
    assert torch.allclose(plain(inputs), setup.model(inputs), atol=1e-6)


def test_lora_options_that_contradict_each_other_are_refused():
    with pytest.raises(ValueError, match="does not take --backbone-lr"):
        FinetuneConfig(lora_rank=2, backbone_lr=1e-4)
    with pytest.raises(ValueError, match="--lora-alpha needs --lora RANK"):
        FinetuneConfig(lora_alpha=8.0)


def test_a_frozen_cnn_backbone_keeps_its_batchnorm_statistics_frozen():
    pretrained = build_model("cnn", config=CNN.resolved_model_config)
    setup = prepare_finetuning(CNN, pretrained, FinetuneConfig(freeze_backbone=True))
    train(setup, steps=5)
    for name, buffer in pretrained.backbone.named_buffers():
        assert torch.equal(dict(setup.model.backbone.named_buffers())[name], buffer), name


def test_an_unfrozen_cnn_backbone_updates_its_batchnorm_statistics():
    pretrained = build_model("cnn", config=CNN.resolved_model_config)
    setup = prepare_finetuning(CNN, pretrained, FinetuneConfig(backbone_lr=0.01))
    train(setup, steps=2)
    moved = [
        name
        for name, b in pretrained.backbone.named_buffers()
        if "running_mean" in name and not torch.equal(dict(setup.model.backbone.named_buffers())[name], b)
    ]
    assert moved


def test_cnn_parity_compares_batchnorm_statistics_and_lora_parity_checks_base_weights():
    report = check_parity(dataclasses.replace(CNN, compile=AOT), steps=5)
    assert report.verdict == "pass", format_report(report)
    assert _check(report, "BatchNorm running statistics").ok and report.batchnorm_max_diff >= 0
    lora = check_parity(dataclasses.replace(MLP, compile=AOT), steps=5, finetune=FinetuneConfig(lora_rank=2))
    assert lora.verdict == "pass", format_report(lora)
    assert _check(lora, "frozen backbone, compiled").ok


def test_a_batchnorm_left_updating_in_one_arm_fails_the_statistics_check():
    def nudge_statistics(setup):
        # A compiled arm whose BatchNorm forgets faster: the loss barely moves, the statistics do.
        for module in setup.model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = 0.5

    arms = dataclasses.replace(Arms.for_run(dataclasses.replace(CNN, compile=AOT)), compiled_hook=nudge_statistics)
    report = compare_arms(arms, steps=5)
    assert not _check(report, "BatchNorm running statistics").ok


def test_a_lora_arm_whose_base_weights_move_fails_the_frozen_check():
    def unfreeze(setup):
        for name, param in setup.model.backbone.named_parameters():
            if name.endswith("original"):
                param.requires_grad_(True)
                setup.optimizer.add_param_group({"params": [param]})

    arms = Arms.for_run(dataclasses.replace(MLP, compile=AOT), FinetuneConfig(lora_rank=2))
    report = compare_arms(dataclasses.replace(arms, compiled_hook=unfreeze), steps=3)
    assert not _check(report, "frozen backbone, compiled").ok and _check(report, "frozen backbone, eager").ok
