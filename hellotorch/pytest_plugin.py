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
_CURVES_STARTED = pytest.StashKey[bool]()


@pytest.fixture
def compile_benchmark(benchmark, request):
    """Call it with a factory of ``(model, optimizer, loss_fn, batch)``; keywords: mode, scope, backend, pairs, parity_steps."""
    request.config.stash[_USED] = True

    def measure(factory, *, name: str | None = None, **options):
        from hellotorch.suite.user_step import measure_user_step

        options.setdefault("on_curves", _curves_beside_the_json(request.config))
        return measure_user_step(factory, benchmark=benchmark, name=name or request.node.name, **options)

    return measure


def _curves_beside_the_json(config):
    """Write each case's loss curves beside ``--benchmark-json`` (none: no JSON asked for), as a run folder holds them."""
    target = getattr(config.getoption("benchmark_json", None), "name", None)
    if not isinstance(target, str):
        return None
    from pathlib import Path

    from hellotorch import runfiles

    folder = Path(target).parent
    if not config.stash.get(_CURVES_STARTED, False):
        # This session's JSON replaces the last one's: so do its curves.
        (folder / runfiles.CURVES).unlink(missing_ok=True)
        config.stash[_CURVES_STARTED] = True
    return lambda case, eager, compiled: runfiles.append_curves(folder, case, eager, compiled)


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
