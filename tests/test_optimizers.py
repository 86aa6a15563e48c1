"""The optimizer registry: every name and implementation, and the refusals."""

import pytest
import torch

from hellotorch.training.optimizers import OPTIMIZERS, build_optimizer


def _params():
    return [torch.nn.Parameter(torch.ones(3, 2)), torch.nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_and_implementation_builds_and_steps(name):
    for implementation in OPTIMIZERS[name].implementations:
        params = _params()
        optimizer = build_optimizer(name, params, lr=0.1, implementation=implementation)
        assert isinstance(optimizer, OPTIMIZERS[name].cls)
        sum(p.sum() for p in params).backward()
        optimizer.step()
        assert not torch.equal(params[0].detach(), torch.ones(3, 2)), f"{name}/{implementation} did not step"


def test_implementation_flags_reach_pytorch():
    assert build_optimizer("adam", _params(), lr=0.1, implementation="fused").defaults["fused"] is True
    assert build_optimizer("adam", _params(), lr=0.1, implementation="foreach").defaults["foreach"] is True
    assert build_optimizer("adam", _params(), lr=0.1, implementation="forloop").defaults["foreach"] is False
    assert build_optimizer("momentum", _params(), lr=0.1).defaults["momentum"] == 0.9


def test_unknown_optimizer_lists_known_names():
    with pytest.raises(ValueError, match="sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad"):
        build_optimizer("lion", _params(), lr=0.1)


def test_unsupported_fused_is_a_clear_error():
    with pytest.raises(ValueError, match="rmsprop has no fused implementation.*default, forloop, foreach"):
        build_optimizer("rmsprop", _params(), lr=0.1, implementation="fused")


def test_unknown_implementation_and_bad_lr():
    with pytest.raises(ValueError, match="unknown implementation"):
        build_optimizer("sgd", _params(), lr=0.1, implementation="turbo")
    with pytest.raises(ValueError, match="learning rate must be positive"):
        build_optimizer("sgd", _params(), lr=0.0)
