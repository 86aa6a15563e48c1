"""The benchmark matrix, as the package ships it (:mod:`hellotorch.suite.benchsuite.test_steps`)."""

from hellotorch.suite.benchsuite.test_steps import test_step  # noqa: F401
