"""Model plug-ins that fail on one rank, for the distributed fault tests.

``tests.rank_faults:crash_on_rank1`` is the ``mlp`` whose loss, on rank 1 and
at its third call, ends the process (``os._exit``, as a segfault or the OOM
killer would: no Python error to report); ``hang_on_rank1`` sleeps there
instead, leaving rank 0 waiting in its all-reduce. One process (no ``RANK``)
never fails, so the plug-in check and the one-process reference pass.
"""

import dataclasses
import os
import time

from torch import nn

from hellotorch.models.mlp import MLP

FAULT_AT_CALL = 3


class _FaultyLoss(nn.CrossEntropyLoss):
    def __init__(self, fault) -> None:
        super().__init__()
        self.calls = 0
        self.fault = fault

    def forward(self, scores, targets):
        self.calls += 1
        if os.environ.get("RANK") == "1" and self.calls == FAULT_AT_CALL:
            self.fault()
        return super().forward(scores, targets)


def _exit() -> None:
    os._exit(7)


def _hang() -> None:
    time.sleep(3600)


def crash_on_rank1():
    return dataclasses.replace(MLP, name="crash_on_rank1", make_loss=lambda: _FaultyLoss(_exit))


def hang_on_rank1():
    return dataclasses.replace(MLP, name="hang_on_rank1", make_loss=lambda: _FaultyLoss(_hang))
