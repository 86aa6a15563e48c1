"""Worker: time one case's compile in this fresh process and print it as JSON.

Run by :func:`hellotorch.benchrun.cold_compile_seconds` with an empty
``TORCHINDUCTOR_CACHE_DIR``, because a cold compile cannot be measured in a
process (or with a cache) that has compiled the same graphs before.
Usage: ``python -m hellotorch.coldcompile '<case as JSON>'``.
"""

from __future__ import annotations

import json
import sys

from hellotorch.benchrun import build_setup
from hellotorch.cases import BenchCase
from hellotorch.devices import set_threads
from hellotorch.measure import steady_step_seconds, time_call


def main(argv: list[str]) -> int:
    fields = json.loads(argv[0])
    case = BenchCase(**{key: value for key, value in fields.items() if key not in ("id", "compiled")})
    set_threads(None)  # HELLOTORCH_THREADS, as the parent process set it
    setup = build_setup(case)
    first, _ = time_call(setup.step, setup.batch)
    setup.step.check_captured()
    steady = steady_step_seconds(setup.step, setup.batch)
    print(
        json.dumps(
            {"id": case.id, "compile_s": max(0.0, first - steady), "cache": setup.step.graph_stats().compile_cache}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
