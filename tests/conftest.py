"""Shared test set-up: a fixed thread count and Inductor's on-disk cache.

Compiled tests are few and small; the on-disk cache makes their reruns take
about 3 s instead of 10-20 s of g++.
"""

import os
from pathlib import Path

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path.home() / ".cache" / "hellotorch" / "inductor"))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _reset_dynamo():
    yield
    torch.compiler.reset()
