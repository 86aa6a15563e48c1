"""The pytest plugin: README's example run as a user's own test file outside the repository."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def _example() -> str:
    text = README.read_text()
    block = text.split("<!-- plugin-example:start -->", 1)[1].split("<!-- plugin-example:end -->", 1)[0]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_the_readme_example_measures_a_users_step_and_report_reads_it(tmp_path):
    (tmp_path / "test_my_step.py").write_text(_example())
    (tmp_path / "results" / "mine").mkdir(parents=True)
    done = _pytest(tmp_path, "test_my_step.py", "--benchmark-json=results/mine/benchmark.json", "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    raw = json.loads((tmp_path / "results" / "mine" / "benchmark.json").read_text())
    (bench,) = raw["benchmarks"]
    info = bench["extra_info"]
    assert info["parity"] == "pass" and info["speedup"] > 0 and info["compiled"] is True
    assert info["id"].startswith("train-cpu-test_my_step_compiles_and_learns_the_same-b16-adamw.default-float32-")
    assert raw["machine_info"]["hellotorch"]["torch"]
    assert raw["hellotorch"]["profile"] == "compile_benchmark (pytest plugin)"
    report = subprocess.run(
        [sys.executable, "-m", "hellotorch", "report", "results/mine"], cwd=tmp_path, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "results" / "mine" / "summary.md").read_text()
    assert "test_my_step_compiles_and_learns_the_same" in summary and "pass" in summary
    # The parity curves went beside the JSON, so the report draws them rather than a placeholder.
    assert (tmp_path / "results" / "mine" / "loss_curves_train.png").is_file()


def test_the_plugin_stays_out_of_an_unrelated_run(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\ndef test_nothing_heavy_was_imported():\n    assert 'torch' not in sys.modules\n"
    )
    done = _pytest(tmp_path, "-q", "test_plain.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    plugins = _pytest(tmp_path, "--trace-config", "-q", "test_plain.py")
    assert "hellotorch.pytest_plugin" in plugins.stdout  # it is registered, and costs nothing


BROKEN_AND_GOOD = """
import torch


def make():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.01), torch.nn.MSELoss(), (torch.randn(8, 5), torch.randn(8, 1))


def test_good(compile_benchmark):
    assert compile_benchmark(make, backend="aot_eager", pairs=4, parity_steps=5).parity == "pass"


def test_broken_after_timing(compile_benchmark):
    calls = []

    def runs_dry():  # enough pieces to time the step; the parity check's arms find the loader dry
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError("the data loader ran dry")
        return make()

    compile_benchmark(runs_dry, backend="aot_eager", pairs=4, parity_steps=5)
"""


@pytest.mark.slow
def test_a_test_that_fails_after_timing_is_reported_failed_and_the_rest_still_read(tmp_path):
    (tmp_path / "test_two.py").write_text(BROKEN_AND_GOOD)
    (tmp_path / "results" / "mine").mkdir(parents=True)
    done = _pytest(tmp_path, "test_two.py", "--benchmark-json=results/mine/benchmark.json", "-q")
    assert done.returncode == 1, done.stdout[-3000:]  # the broken test fails; the good one passes
    raw = json.loads((tmp_path / "results" / "mine" / "benchmark.json").read_text())
    records = {bench["extra_info"].get("model"): bench["extra_info"] for bench in raw["benchmarks"]}
    assert records["test_broken_after_timing"]["status"] == "failed"
    assert "ran dry" in records["test_broken_after_timing"]["failure"]
    report = subprocess.run(
        [sys.executable, "-m", "hellotorch", "report", "results/mine"], cwd=tmp_path, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "results" / "mine" / "summary.md").read_text()
    assert "test_good" in summary and "test_broken_after_timing" in summary
