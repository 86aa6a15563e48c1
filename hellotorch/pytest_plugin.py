"""The ``hellotorch`` pytest plugin: a ``compile_benchmark`` fixture for your own training step.

Registered through pytest's ``pytest11`` entry point, like pytest-benchmark's
``benchmark`` fixture, so installing hellotorch makes it available in any
test suite. It stays out of the way: it adds no options, changes no
collection, and imports neither torch nor the rest of hellotorch until a test
asks for the fixture. Then the test's step is measured eager and compiled
(:func:`hellotorch.suite.user_step.measure_user_step`) into pytest-benchmark's
``extra_info``, and the session's JSON gets hellotorch's machine facts, so
``hellotorch report`` reads it::

    def test_my_step(compile_benchmark):
        def make():  # fresh, identically seeded pieces on every call
            torch.manual_seed(0)
            model = MyModel()
            return model, torch.optim.AdamW(model.parameters()), torch.nn.MSELoss(), my_batch()

        result = compile_benchmark(make)
        assert result.parity == "pass"
"""

from __future__ import annotations

import pytest

_USED = pytest.StashKey[bool]()


@pytest.fixture
def compile_benchmark(benchmark, request):
    """Call it with a factory of ``(model, optimizer, loss_fn, batch)``; keywords: mode, scope, backend, pairs, parity_steps."""
    request.config.stash[_USED] = True

    def measure(factory, *, name: str | None = None, **options):
        from hellotorch.suite.user_step import measure_user_step

        return measure_user_step(factory, benchmark=benchmark, name=name or request.node.name, **options)

    return measure


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    # Only a session that measured a step pays for collecting (and imports torch).
    if config.stash.get(_USED, False) and "hellotorch" not in machine_info:
        from hellotorch.measuring import machine

        machine_info["hellotorch"] = machine.collect()


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    # Name what produced the run, so a report of it says so (the suite writes its own block).
    if config.stash.get(_USED, False) and "hellotorch" not in output_json:
        import uuid

        output_json["hellotorch"] = {"profile": "compile_benchmark (pytest plugin)", "run_id": uuid.uuid4().hex}
