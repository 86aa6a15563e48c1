"""The engine examples in examples/engines/: they validate against their schemas, and they run here.

The GitHub Actions workflow is checked with check-jsonschema's built-in
workflow schema; the Kubernetes Jobs with kubernetes-validate's offline
schemas (check-jsonschema has no built-in Kubernetes schema). The slow tests
then run each example's own commands on this machine, on a small eager plan
(``tests/engine_profile.toml``, three groups of the hello model): the workflow's steps as its jobs would run
them (artifacts copied as upload/download would), the Indexed Job's pods
with ``JOB_COMPLETION_INDEX`` set as Kubernetes sets it, and the submitit
script with submitit's local executor, the code path SLURM runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hellotorch.profiles.named import build_profile

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).parent.parent
ENGINES = ROOT / "examples" / "engines"
PROFILE = Path(__file__).parent / "engine_profile.toml"
WORKFLOW = ENGINES / "github-actions.yml"
INDEXED_JOB = ENGINES / "kubernetes-indexed-job.yaml"
MERGE_JOB = ENGINES / "kubernetes-merge-job.yaml"


def tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]' installs it)")
    return found


def test_the_github_workflows_validate_against_their_schema():
    workflows = [WORKFLOW, *sorted((ROOT / ".github" / "workflows").glob("*.yml"))]
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, workflows)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_workflow_is_refused_by_the_schema(tmp_path):
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["shard"]["strategy"]["matrix"] = "1, 2, 3"  # a string where a mapping belongs
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1


def test_the_kubernetes_jobs_validate_against_their_schemas(tmp_path):
    validate = tool("kubernetes-validate")
    done = subprocess.run([validate, "--strict", str(INDEXED_JOB), str(MERGE_JOB)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = yaml.safe_load(INDEXED_JOB.read_text())
    broken["spec"]["completionMode"] = {"indexed": True}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = subprocess.run([validate, "--strict", str(path)], capture_output=True, text=True)
    assert done.returncode != 0


def test_the_examples_shard_as_many_ways_as_they_say():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = yaml.safe_load(INDEXED_JOB.read_text())
    env = {item["name"]: item["value"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"] == list(
        range(1, int(workflow["env"]["SHARDS"]) + 1)
    )
    assert job["spec"]["completions"] == int(env["SHARDS"]) == job["spec"]["parallelism"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.update(HELLOTORCH_PROGRESS="lines", **extra)
    return env


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _expand(script: str, values: dict[str, str]) -> str:
    """GitHub's ``${{ ... }}`` expressions, as the runner would fill them in."""
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda match: values[match.group(1)], script)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.slow
def test_the_github_workflow_runs_its_shards_merge_and_gate_here(tmp_path):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    shards = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    base_env = {**workflow["env"], "PROFILE": str(PROFILE), "MATRIX_ID": "engine-test"}
    downloads = tmp_path / "merge-job"
    for shard in shards:  # each matrix job, one after another (one machine), in a workspace of its own
        workspace = tmp_path / f"shard-job-{shard}"
        workspace.mkdir()
        step = next(step for step in workflow["jobs"]["shard"]["steps"] if step.get("id") == "bench")
        output = workspace / "github-output"
        env = _env(tmp_path, **base_env, GITHUB_OUTPUT=str(output), RUNNER_TEMP=str(workspace))
        done = _bash(_expand(step["run"], {"matrix.shard": str(shard)}), workspace, env)
        assert done.returncode == 0 and _outputs(output)["status"] == "0", done.stdout[-2000:] + done.stderr[-2000:]
        for run in workspace.glob("shards/run-*"):  # upload-artifact shard-N, download-artifact pattern shard-*
            shutil.copytree(run, downloads / "shards" / f"shard-{shard}" / run.name)
    # The merge job: merged, gated (against a baseline pinned from the merged run), summarised.
    steps = {step.get("name"): step for step in workflow["jobs"]["merge"]["steps"]}
    output, summary = downloads / "github-output", downloads / "summary.md"
    env = _env(tmp_path, **base_env, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
    done = _bash(steps["Merge the shards"]["run"], downloads, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 shards of matrix engine-test" in done.stdout
    subprocess.run(
        [sys.executable, "-m", "hellotorch", "baseline", "merged", "--output", "baseline.json"],
        cwd=downloads,
        check=True,
    )
    env["BASELINE"] = "baseline.json"
    for name in ("Gate against the baseline", "Job summary"):
        done = _bash(steps[name]["run"], downloads, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "error" not in done.stderr, done.stderr
    assert _outputs(output)["status"] == "0"
    merged = json.loads((downloads / "merged" / "benchmark.json").read_text())
    assert len(merged["benchmarks"]) == len(build_profile(str(PROFILE)).cases)
    assert "hellotorch gate" in summary.read_text() and (downloads / "gate.html").is_file()


def _pod_script(manifest: Path, index: int | None, results: Path, local: Path) -> tuple[str, dict[str, str]]:
    """A container's command as its pod runs it: the shared volume and the pod's /tmp mapped to folders here."""
    container = yaml.safe_load(manifest.read_text())["spec"]["template"]["spec"]["containers"][0]
    places = {"/results": str(results), "/tmp/": f"{local}/"}
    script = re.sub(r"/results|/tmp/", lambda match: places[match.group(0)], container["args"][0])
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)  # the pod's emptyDir: here, the machine's cache
    if index is not None:
        env["JOB_COMPLETION_INDEX"] = str(index)
    return script, env


@pytest.mark.slow
def test_the_indexed_job_runs_its_pods_and_the_merge_job_here(tmp_path):
    results = tmp_path / "shared-volume"
    completions = yaml.safe_load(INDEXED_JOB.read_text())["spec"]["completions"]
    for index in range(completions):
        local = tmp_path / f"pod-{index}"
        local.mkdir()
        script, env = _pod_script(INDEXED_JOB, index, results, local)
        env["PROFILE"] = str(PROFILE)
        done = subprocess.run(["/bin/sh", "-c", script], env=_env(tmp_path, **env), capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert not list(results.rglob("*.sqlite")), "a shard wrote SQLite to the shared volume"
    local = tmp_path / "merge-pod"
    local.mkdir()
    script, env = _pod_script(MERGE_JOB, None, results, local)
    done = subprocess.run(["/bin/sh", "-c", script], env=_env(tmp_path, **env), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    matrix = results / env["MATRIX_ID"]
    merged = json.loads((matrix / "merged" / "benchmark.json").read_text())
    assert len(merged["benchmarks"]) == len(build_profile(str(PROFILE)).cases)
    assert (matrix / "history.sqlite").is_file()


@pytest.mark.slow
def test_submitit_runs_the_shards_through_its_local_executor_and_merges_them(tmp_path):
    pytest.importorskip("submitit")
    script = ENGINES / "slurm_submitit.py"
    command = [sys.executable, str(script), "--profile", str(PROFILE), "--shards", "3", "--results", str(tmp_path)]
    done = subprocess.run(
        [*command, "--matrix-id", "sub"], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [f"shard {n}/3: exit 0" in done.stdout for n in (1, 2, 3)] == [True] * 3
    merged = json.loads((tmp_path / "sub" / "merged" / "benchmark.json").read_text())
    unsharded = sorted(case.id for case in build_profile(str(PROFILE)).cases)
    assert sorted(b["extra_info"]["id"] for b in merged["benchmarks"]) == unsharded  # each case once
    # One shard's folder gone: the merge names it, exit 2.
    shutil.rmtree(next((tmp_path / "sub").glob("shard-2")))
    left = [str(run) for run in (tmp_path / "sub").glob("shard-*/run-*")]
    refused = subprocess.run(
        [sys.executable, "-m", "hellotorch", "merge", *left, "--output", str(tmp_path / "m2")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "shard 2/3 of matrix sub is missing" in refused.stderr
