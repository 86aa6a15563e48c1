"""The benchmark matrix, as the package ships it (:mod:`hellotorch.benchsuite.test_steps`)."""

from hellotorch.benchsuite.test_steps import test_step  # noqa: F401
