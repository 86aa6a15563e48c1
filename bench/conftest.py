"""The repository's benchmark suite: a thin layer over the one the package ships.

``pytest bench --hellotorch-profile smoke`` runs it from a checkout; the
hooks, options and fixtures are :mod:`hellotorch.suite.benchsuite.conftest`'s.
"""

from hellotorch.suite.benchsuite.conftest import *  # noqa: F403
