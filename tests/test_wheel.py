"""The README's own examples, run as a new user runs them: hellotorch installed from a wheel, outside any checkout.

The wheel is built from this checkout and installed into a fresh virtual
environment (its other dependencies, torch among them, come from the
environment running the tests, so nothing is downloaded). Every command then
runs from a folder that is not the checkout, as the README shows it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"


def _run(command, cwd, env, timeout=600):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv holding the wheel of this checkout; its bin folder and an environment that finds it first."""
    base = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(base)],
        base,
        os.environ,
    )
    (wheel,) = base.glob("hellotorch-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base, os.environ)
    site = next((venv / "lib").glob("python*/site-packages"))
    # The test environment's packages (torch, pandas, pytest-benchmark) without its editable hellotorch.
    packages = [path for path in sys.path if path.endswith(("site-packages", "dist-packages"))]
    (site / "test-environment.pth").write_text("".join(f"{path}\n" for path in packages))
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        base,
        os.environ,
    )
    # pytest is the test environment's; its command, as a user's venv would have it.
    (venv / "bin" / "pytest").write_text(f'#!/bin/sh\nexec "{python}" -m pytest "$@"\n')
    (venv / "bin" / "pytest").chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "PYTHONPATH"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    work = base / "work"
    work.mkdir()
    return work, env


@pytest.mark.slow
def test_the_wheel_is_what_runs(installed):
    work, env = installed
    done = _run(["python", "-c", "import hellotorch; print(hellotorch.__file__)"], work, env)
    assert str(ROOT) not in done.stdout and "site-packages" in done.stdout


@pytest.mark.slow
def test_the_readme_plug_in_lines_run_from_an_installed_wheel(installed):
    work, env = installed
    _run(["hellotorch", "new-model", "mymodel"], work, env)
    _run(
        ["hellotorch", "train", "--model", "mymodel:make_spec", "--optimizer", "adamw", "--lr", "1e-3", "--steps", "3"],
        work,
        env,
    )


@pytest.mark.slow
def test_the_readme_fixture_example_runs_from_an_installed_wheel(installed):
    work, env = installed
    text = README.read_text()
    block = text.split("<!-- plugin-example:start -->", 1)[1].split("<!-- plugin-example:end -->", 1)[0]
    (work / "test_my_step.py").write_text(re.search(r"```python\n(.*?)```", block, re.S).group(1))
    commands = re.search(r"```sh\n(mkdir -p results/mine.*?)```", text, re.S).group(1)
    for line in commands.strip().splitlines():
        _run(line.split("#")[0].split(), work, env)
    assert "test_my_step_compiles_and_learns_the_same" in (work / "results" / "mine" / "summary.md").read_text()


@pytest.mark.slow
def test_the_readme_ab_line_runs_in_a_users_project_from_an_installed_wheel(installed, tmp_path):
    from .test_ab import _project

    work, env = installed
    repo = _project(tmp_path, extra=0)
    # As the README writes it (its -k picks cases of `quick`; this project's own profile is smaller), no --output:
    # the A/B lands in the project's results/ folder, which each side, running in its own worktree, must not lose.
    done = subprocess.run(
        ["hellotorch", "ab", "--base", "HEAD~1", "--head", "HEAD", "--profile", "profile.toml"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    (folder,) = (repo / "results").glob("ab-*")
    assert (folder / "ab.md").is_file() and len(list(folder.glob("base-*/run-*"))) == 3
