"""Plug-in factories that misbehave, for the bad-input table and the plug-in tests (``tests.plugin_faults:NAME``)."""

import dataclasses
import sys

import torch
from torch import nn

from hellotorch.models import get_model_spec


def exits_zero():
    sys.exit(0)


def exits_three():
    sys.exit(3)


def float_batch_size():
    return dataclasses.replace(get_model_spec("mlp"), default_batch_size=2.5)


def text_has_sequence():
    return dataclasses.replace(get_model_spec("mlp"), has_sequence="yes")


def batch_exits():
    spec = get_model_spec("mlp")

    def make_batch(config, batch_size, seed, task):
        if batch_size > 2:  # the plug-in check's batch of 2 passes; the run's does not
            sys.exit(0)
        return spec.make_batch(config, batch_size, seed, task)

    return dataclasses.replace(spec, make_batch=make_batch)


def sets_float64():
    torch.set_default_dtype(torch.float64)
    return get_model_spec("mlp")


def hidden_dropout():
    """Dropout inside the backbone while the config's ``dropout`` stays 0: parity must still find it."""
    spec = get_model_spec("mlp")

    def build_backbone(config):
        backbone, width = spec.build_backbone(config)
        return nn.Sequential(backbone, nn.Dropout(0.5)), width

    return dataclasses.replace(spec, build_backbone=build_backbone, blocks=None)


def batch_os_exit():
    """Ends the whole process from inside the run (the plug-in check's batch of 2 passes)."""
    import os

    spec = get_model_spec("mlp")

    def make_batch(config, batch_size, seed, task):
        if batch_size > 2:
            os._exit(7)
        return spec.make_batch(config, batch_size, seed, task)

    return dataclasses.replace(spec, make_batch=make_batch)


def factory_interrupts():
    """Raises KeyboardInterrupt with no Ctrl-C anywhere: the plug-in's failure, not an interrupted run."""
    raise KeyboardInterrupt
