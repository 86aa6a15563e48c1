"""A pytest plugin that plants faults in a benchmark run, for the suite's own tests.

Loaded into the ``bench/`` pytest process through ``PYTEST_PLUGINS`` and
steered by ``HELLOTORCH_FAULT``:
- ``nan:<case id>``: that case's batch is all NaN, so its loss is not finite;
- ``interrupt:<n>``: a SIGINT (Ctrl-C) arrives after ``n`` cases have finished;
- ``interrupt-in:<case id>``: a SIGINT arrives while that case is being measured.
"""

import os
import signal

import torch

import hellotorch.suite.measure_case

FAULT = os.environ.get("HELLOTORCH_FAULT", "")
_finished = 0


def pytest_configure(config):
    # A process started in the background of a non-interactive shell inherits
    # SIGINT ignored; the planted Ctrl-C must arrive all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if FAULT.startswith("interrupt-in:"):
        _interrupt_inside(FAULT.split(":", 1)[1])
    if not FAULT.startswith("nan:"):
        return
    target = FAULT.split(":", 1)[1]
    build = hellotorch.suite.measure_case.build_setup

    def build_with_nan(case):
        setup = build(case)
        if case.id == target:
            inputs, targets = setup.batch
            setup.batch = (torch.full_like(inputs, float("nan")), targets)
        return setup

    hellotorch.suite.measure_case.build_setup = build_with_nan


def pytest_runtest_teardown(item, nextitem):
    global _finished
    _finished += 1
    if FAULT.startswith("interrupt:") and _finished == int(FAULT.split(":", 1)[1]):
        os.kill(os.getpid(), signal.SIGINT)


def _interrupt_inside(target):
    build = hellotorch.suite.measure_case.build_setup

    def build_then_interrupt(case):
        setup = build(case)
        if case.id == target:
            os.kill(os.getpid(), signal.SIGINT)
        return setup

    hellotorch.suite.measure_case.build_setup = build_then_interrupt
