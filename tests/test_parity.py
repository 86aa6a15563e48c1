"""The parity check must be able to fail: planted differences, and honest passes.

Planted-difference tests compile with ``aot_eager`` (Dynamo and AOTAutograd,
no C++), because what they test is the check, not Inductor; the passes use
Inductor on the tutorial model, whose graphs the on-disk cache keeps warm.
"""

import dataclasses

import pytest
import torch

from hellotorch.models import model_config
from hellotorch.parity.arms import Arms
from hellotorch.parity.losses import check_parity, compare_arms, format_report
from hellotorch.parity.tolerances import Tolerance, same
from hellotorch.training.compiling import CompileConfig
from hellotorch.training.loops import FinetuneConfig, RunConfig

AOT = CompileConfig(mode="default", backend="aot_eager")
HELLO = RunConfig(model="hello", optimizer="sgd", lr=0.05, compile=AOT)
MLP = RunConfig(
    model="mlp",
    optimizer="sgd",
    lr=0.05,
    batch_size=16,
    compile=AOT,
    model_config=model_config("mlp", width=32, depth=2),
)


def _check(report, name):
    return next(check for check in report.checks if check.name.startswith(name))


def test_identical_arms_pass_under_the_tight_fp32_sgd_tolerance():
    report = check_parity(HELLO, steps=30)
    assert report.verdict == "pass", format_report(report)
    assert report.max_abs_diff <= 1e-6
    assert len(report.eager_losses) == len(report.compiled_losses) == 30


def test_a_learning_rate_one_percent_off_fails():
    arms = dataclasses.replace(Arms.for_run(HELLO), compiled_run=dataclasses.replace(HELLO, lr=HELLO.lr * 1.01))
    report = compare_arms(arms, steps=30)
    assert report.verdict == "fail"
    assert not _check(report, "loss curve").ok
    assert _check(report, "one step: loss").ok  # the first loss comes before any update
    assert report.max_abs_diff > 1e-5


def test_a_gradient_nudged_in_one_step_fails():
    def nudge_first_backward(setup):
        calls = {"n": 0}

        def hook(grad):
            calls["n"] += 1
            return grad + 1e-3 if calls["n"] == 1 else grad

        setup.model.head.weight.register_hook(hook)

    report = compare_arms(dataclasses.replace(Arms.for_run(HELLO), compiled_hook=nudge_first_backward), steps=10)
    assert report.verdict == "fail"
    assert not _check(report, "one step: gradients").ok
    assert "head.weight" in _check(report, "one step: gradients").detail


def test_a_backbone_left_unfrozen_fails_the_frozen_and_pattern_checks():
    arms = Arms.for_run(MLP, FinetuneConfig(freeze_backbone=True))
    report = compare_arms(dataclasses.replace(arms, compiled_finetune=FinetuneConfig(freeze_backbone=False)), steps=5)
    assert report.verdict == "fail"
    assert _check(report, "frozen backbone, eager").ok
    assert not _check(report, "frozen backbone, compiled").ok
    assert not _check(report, "gradient pattern").ok


def test_fine_tuning_parity_passes_with_a_frozen_backbone():
    report = check_parity(MLP, steps=10, finetune=FinetuneConfig(freeze_backbone=True))
    assert report.verdict == "pass", format_report(report)
    assert _check(report, "frozen backbone, compiled").ok


def test_dropout_matches_through_the_same_random_stream():
    run = dataclasses.replace(MLP, model_config=model_config("mlp", width=32, depth=2, dropout=0.2))
    report = check_parity(run, steps=10)
    assert report.verdict == "pass", format_report(report)


def test_same_passes_on_allclose_and_by_the_fp64_rule_and_fails_beyond_it():
    tight = Tolerance(rtol=1e-6, atol=1e-7, fp64_factor=3.0)
    truth = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    eager = truth + torch.tensor([1e-3, -1e-3, 1e-3])
    # Compiled differs from eager far beyond allclose but is no further from fp64.
    ok, how = same(truth - torch.tensor([1e-3, 1e-3, -1e-3]), eager, truth, tolerance=tight)
    assert ok and "fp64 rule" in how
    ok, _ = same(truth + 1e-2, eager, truth, tolerance=tight)
    assert not ok
    ok, how = same(eager.clone(), eager, truth, tolerance=tight)
    assert ok and how == "allclose"


@pytest.mark.compiled
def test_inductor_fp32_sgd_and_bf16_autocast_pass_on_hello():
    inductor = dataclasses.replace(HELLO, compile=CompileConfig(mode="default"))
    assert check_parity(inductor, steps=20).verdict == "pass"
    report = check_parity(dataclasses.replace(inductor, dtype="bfloat16"), steps=20)
    assert report.verdict == "pass", format_report(report)


def test_eager_mode_is_refused():
    with pytest.raises(ValueError, match="parity needs a compile mode"):
        check_parity(dataclasses.replace(HELLO, compile=CompileConfig()), steps=3)


def test_the_detail_names_the_rule_that_decided_and_never_a_limit_it_did_not_apply():
    import torch

    from hellotorch.parity.tolerances import Tolerance, compare_curves

    tolerance = Tolerance(rtol=1e-3, atol=1e-3, fp64_factor=2.0)
    reference = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)
    eager = reference + 1e-9
    within_band = compare_curves(reference + 1e-5, eager, reference, tolerance=tolerance)
    text = within_band.detail(tolerance=tolerance, ratio_name="compiled/eager")
    assert within_band.ok and "decided by the band" in text and "limit" not in text
    outside = compare_curves(reference + 0.1, eager, reference, tolerance=tolerance)
    text = outside.detail(tolerance=tolerance, ratio_name="compiled/eager")
    assert not outside.ok and "outside the band" in text and "fp64 rule" in text and "limit 2" in text
