"""The pytest-benchmark suite, shipped inside the package so an installed hellotorch can run it.

``conftest.py`` wires hellotorch into pytest and pytest-benchmark (options,
the case grid, the timer, machine metadata, the crash-safe run files);
``test_steps.py`` is the one test, parametrized over a profile's cases.
:func:`hellotorch.suite.launch.run_suite` runs pytest on this folder; a checkout's
top-level ``bench/`` re-exports the same two modules.
"""
