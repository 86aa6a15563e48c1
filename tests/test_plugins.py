"""Your own model: the example plug-in end to end, entry-point names, and every bad plug-in (exit 2, one line)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .fixtures_util import run_cli

ROOT = Path(__file__).parent.parent
EXAMPLE = "examples.tiny_audio:make_spec"


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_the_example_plugin_trains_and_fine_tunes(in_repo, tmp_path):
    code, out, err = run_cli(
        [
            "train",
            "--model",
            EXAMPLE,
            "--optimizer",
            "adamw",
            "--lr",
            "1e-3",
            "--steps",
            "40",
            "--save",
            str(tmp_path / "audio.pt"),
            "--log-every",
            "20",
        ]
    )
    assert code == 0, err
    losses = [float(line.split("loss")[1]) for line in out.splitlines() if line.startswith("step")]
    assert losses[-1] < losses[0]
    code, out, err = run_cli(["finetune", "--from", str(tmp_path / "audio.pt"), "--freeze-backbone", "--steps", "5"])
    assert code == 0, err
    assert "fine-tuning finetune cpu examples.tiny_audio:make_spec" in out


def test_the_example_plugin_passes_parity(in_repo):
    code, out, err = run_cli(
        ["parity", "--model", EXAMPLE, "--optimizer", "adamw", "--backend", "aot_eager", "--steps", "10"]
    )
    assert code == 0, out + err
    assert "verdict: PASS" in out


def _bench(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hellotorch", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_the_example_profile_file_runs_one_case_through_the_suite(tmp_path):
    case = "train-cpu-examples.tiny_audio:make_spec-b16-adamw.forloop-float32-eager"
    done = _bench("--profile", "examples/tiny_audio.toml", "--case", case, "--results", str(tmp_path), "--no-report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = tmp_path.glob("run-*")
    assert run_dir.name.endswith("-cpu-tiny_audio")
    raw = json.loads((run_dir / "benchmark.json").read_text())
    assert [b["extra_info"]["id"] for b in raw["benchmarks"]] == [case]


@pytest.mark.slow
def test_bench_takes_a_plugin_model_directly(tmp_path):
    from hellotorch.results.runs import load_run

    done = _bench("--model", EXAMPLE, "-k", "train and eager", "--results", str(tmp_path), "--no-report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = tmp_path.glob("run-*")
    assert run_dir.name.endswith("-cpu-models") and (run_dir / "models.toml").is_file()
    raw = json.loads((run_dir / "benchmark.json").read_text())
    assert [b["extra_info"]["model"] for b in raw["benchmarks"]] == [EXAMPLE]
    assert load_run(run_dir).incomplete_reason is None  # -k narrowed the plan; the run finished what it planned
    assert "1/1 cases finished" in done.stdout
    bad = _bench("--model", "nosuch:thing", "--results", str(tmp_path / "r"), timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("hellotorch bench: error: --model nosuch:thing: cannot import")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_registered_name_resolves_through_the_entry_point_group(in_repo, monkeypatch):
    import hellotorch.models

    monkeypatch.setattr(hellotorch.models, "registered_names", lambda: {"tiny_audio": EXAMPLE})
    spec = hellotorch.models.get_model_spec("tiny_audio")
    assert spec.name == "tiny_audio" and spec.default_config.num_classes == 6


BAD_PLUGINS = {
    "not importable": ("", "nosuchmodule_xyz:make", "cannot import module nosuchmodule_xyz (ModuleNotFoundError"),
    "attribute missing": ("x = 1\n", "{mod}:make", "module {mod} has no attribute make"),
    "factory raises": (
        "def make():\n    raise RuntimeError('no weights here')\n",
        "{mod}:make",
        "the factory raised RuntimeError: no weights here",
    ),
    "wrong kind": (
        "def make():\n    return 42\n",
        "{mod}:make",
        "the factory returned a int, not a hellotorch.models.ModelSpec",
    ),
    "batch does not fit": (
        "{spec}\ndef make():\n    return spec(batch=lambda c, b, s, t: (torch.randn(b, 7), torch.randn(b, 2)))\n",
        "{mod}:make",
        "its batch does not fit the model (RuntimeError",
    ),
    "loss not scalar": (
        "{spec}\ndef make():\n    return spec(loss=lambda: torch.nn.MSELoss(reduction='none'))\n",
        "{mod}:make",
        "the loss is not a scalar (got (2, 2))",
    ),
    "no colon": ("", "justaname", "unknown model 'justaname'"),
}
SPEC = textwrap.dedent("""
    import torch
    from hellotorch.models import ModelConfig, ModelSpec

    def spec(batch=None, loss=None):
        return ModelSpec(
            name="x", description="", default_config=ModelConfig(width=4, depth=1, num_classes=2),
            build_backbone=lambda c: (torch.nn.Linear(3, 4), 4),
            make_batch=batch or (lambda c, b, s, t: (torch.randn(b, 3), torch.randn(b, 2))),
            make_loss=loss or torch.nn.MSELoss, default_batch_size=2, finetune_classes=2,
        )
""")


@pytest.mark.parametrize("case", list(BAD_PLUGINS))
def test_a_bad_plugin_is_one_line_and_exit_2(case, tmp_path, monkeypatch):
    source, reference, message = BAD_PLUGINS[case]
    module = f"plugin_{case.replace(' ', '_')}"
    (tmp_path / f"{module}.py").write_text(source.replace("{spec}", SPEC))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli(["train", "--model", reference.format(mod=module), "--steps", "1"])
    assert code == 2, err
    assert message.format(mod=module) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _doc_table(heading: str) -> dict[str, list[str]]:
    """The first column -> the other cells of the table under ``heading`` in docs/plugins.md."""
    text = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    section = text.split(heading, 1)[1]
    rows = [line for line in section.split("\n\n", 2)[1].splitlines() if line.startswith("| `")]
    return {row.split("|")[1].strip().strip("`"): [c.strip() for c in row.split("|")[2:-1]] for row in rows}


def test_the_plugin_page_lists_every_model_spec_and_config_field():
    import dataclasses

    from hellotorch.models import ModelConfig, ModelSpec

    assert list(_doc_table("### `ModelSpec` fields")) == [f.name for f in dataclasses.fields(ModelSpec)]
    documented = _doc_table("### `ModelConfig` fields")
    assert {name: cells[0] for name, cells in documented.items()} == {
        f.name: str(f.default) for f in dataclasses.fields(ModelConfig)
    }


def test_the_plugin_page_lists_every_profile_file_key_with_its_default():
    from hellotorch.profiles.file import LISTS, SETTINGS
    from hellotorch.settings import MEASUREMENT_KEYS, Measurement

    assert list(_doc_table("### Lists")) == list(LISTS)
    settings = _doc_table("### Settings")
    assert set(settings) == set(SETTINGS) | set(MEASUREMENT_KEYS)
    defaults = Measurement()
    for key in MEASUREMENT_KEYS:
        value = getattr(defaults, key)
        assert settings[key][0] == (
            str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, int) else str(value)
        ), key


def test_the_plugin_page_gives_the_fixtures_signature():
    import inspect

    from hellotorch.suite.user_step import UserStepReport, measure_user_step

    text = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    for name, parameter in inspect.signature(measure_user_step).parameters.items():
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is not parameter.empty:
            assert f"{name}={parameter.default!r}".replace("'", '"') in text, name
    import dataclasses

    for field in dataclasses.fields(UserStepReport):
        assert f"`{field.name}`" in text, field.name


def test_new_model_writes_a_plug_in_that_trains_from_its_folder(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent))
    made = subprocess.run(
        [sys.executable, "-m", "hellotorch", "new-model", "my_gru", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "my_gru.py").is_file() and 'models = ["my_gru:make_spec"]' in (
        tmp_path / "my_gru.toml"
    ).read_text()
    trained = subprocess.run(
        [sys.executable, "-m", "hellotorch", "train", "--model", "my_gru:make_spec", "--steps", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert trained.returncode == 0, trained.stderr
    again = subprocess.run(
        [sys.executable, "-m", "hellotorch", "new-model", "my_gru", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert again.returncode == 2 and "not overwriting" in again.stderr
