"""Sharding a plan (bench --shard I/N) and merging the shards back (hellotorch merge)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hellotorch.errors import BadInput
from hellotorch.profiles.named import build_profile
from hellotorch.suite.shards import Shard, default_matrix_id, group_of, split

from .fixtures_util import FIXTURE_RUN, run_cli

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_the_split_is_deterministic_covering_disjoint_and_keeps_eager_twins_together(count):
    cases = build_profile("quick").cases
    slices = [split(cases, Shard(index, count)) for index in range(count)]
    ids = [case.id for part in slices for case in part]
    assert sorted(ids) == sorted(case.id for case in cases) and len(ids) == len(set(ids))
    for index, part in enumerate(slices):
        reordered = split(tuple(reversed(cases)), Shard(index, count))
        assert part and {case.id for case in part} == {case.id for case in reordered}  # the listing order is moot
        groups = {group_of(case) for case in part}
        others = {group_of(case) for other, rest in enumerate(slices) if other != index for case in rest}
        assert not groups & others  # a compiled case and its eager twin never land in two shards


@pytest.mark.parametrize("count", [2, 3, 4])
def test_shards_are_balanced_by_the_plans_estimate_not_by_count(count):
    plan = build_profile("quick")
    loads = [sum(map(plan.case_seconds, split(plan.cases, Shard(i, count), plan.case_seconds))) for i in range(count)]
    groups: dict[str, float] = {}
    for case in plan.cases:
        groups[group_of(case)] = groups.get(group_of(case), 0.0) + plan.case_seconds(case)
    # Greedy longest-first: no shard is more than one group's time above the lightest.
    assert max(loads) - min(loads) <= max(groups.values())
    assert max(loads) <= max(max(groups.values()), 2 * sum(loads) / count)


def test_every_shard_computes_the_same_matrix_id_and_the_plan_changes_it():
    cases = build_profile("quick").cases
    assert default_matrix_id("quick", cases, "abc") == default_matrix_id("quick", tuple(reversed(cases)), "abc")
    assert default_matrix_id("quick", cases, "abc") != default_matrix_id("quick", cases, "abd")


@pytest.mark.parametrize("text", ["0/3", "4/3", "two/3", "1-3", "", "3/0"])
def test_a_shard_that_is_not_i_of_n_is_refused(text):
    with pytest.raises(BadInput, match="--shard"):
        Shard.parse(text)


def _shards(tmp_path: Path, count: int = 3, edit=lambda index, raw: None) -> list[Path]:
    raw = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
    folders = []
    for index in range(count):
        folder = tmp_path / f"run-shard{index + 1}"
        shutil.copytree(FIXTURE_RUN, folder)
        mine = dict(raw, benchmarks=raw["benchmarks"][index::count])
        mine["hellotorch"] = dict(raw["hellotorch"], shard={"matrix_id": "m1", "index": index, "count": count})
        mine["hellotorch"].update(cases_planned=len(mine["benchmarks"]), cases_finished=len(mine["benchmarks"]))
        mine["hellotorch"]["run_id"] = f"shard-{index}"
        edit(index, mine)
        (folder / "benchmark.json").write_text(json.dumps(mine))
        folders.append(folder)
    return folders


def test_merged_shards_are_the_whole_run_again(tmp_path):
    from hellotorch.results.runs import load_run

    out = tmp_path / "merged"
    code, _, err = run_cli(["merge", *map(str, _shards(tmp_path)), "--output", str(out)])
    assert code == 0, err
    merged, whole = load_run(out), load_run(FIXTURE_RUN)
    assert sorted(r["id"] for r in merged.records) == sorted(r["id"] for r in whole.records)
    assert merged.incomplete_reason is None and (out / "summary.md").is_file()
    assert merged.meta["matrix"] == {"matrix_id": "m1", "count": 3}


@pytest.mark.parametrize(
    ("what", "make", "line"),
    [
        ("missing", lambda tmp: _shards(tmp)[::2], "shard 2/3 of matrix m1 is missing"),
        ("twice", lambda tmp: [*_shards(tmp), _shards(tmp / "again")[0]], "shard 1/3 is given twice"),
        (
            "commit",
            lambda tmp: _shards(
                tmp, edit=lambda i, raw: raw["machine_info"]["hellotorch"].update(git_commit="x" * 12) if i else 0
            ),
            "has commit",
        ),
        (
            "profile",
            lambda tmp: _shards(tmp, edit=lambda i, raw: raw["hellotorch"].update(profile="full") if i else 0),
            "has profile",
        ),
        ("not a shard", lambda tmp: [*_shards(tmp)[:2], FIXTURE_RUN], "is not a shard"),
        (
            "other matrix",
            lambda tmp: _shards(tmp, edit=lambda i, raw: raw["hellotorch"]["shard"].update(matrix_id="m2") if i else 0),
            "not of m1",
        ),
    ],
)
def test_merge_refuses_what_is_not_one_whole_matrix(tmp_path, what, make, line):
    (tmp_path / "again").mkdir()
    out = tmp_path / "merged"
    code, _, err = run_cli(["merge", *map(str, make(tmp_path)), "--output", str(out)])
    assert code == 2 and line in err and len(err.strip().splitlines()) == 1, (what, err)
    assert not out.exists()  # checked before anything is written


def test_a_case_in_two_shards_is_refused(tmp_path):
    def doubled(index, raw):
        if index == 1:
            raw["benchmarks"].append(json.loads((FIXTURE_RUN / "benchmark.json").read_text())["benchmarks"][0])

    code, _, err = run_cli(["merge", *map(str, _shards(tmp_path, edit=doubled)), "--output", str(tmp_path / "m")])
    assert code == 2 and "is in two shards" in err


@pytest.mark.slow
def test_smoke_in_two_shards_then_merged_holds_every_case_once(tmp_path):
    runs = []
    for shard in ("1/2", "2/2"):
        command = [sys.executable, "-m", "hellotorch", "bench", "--profile", "smoke", "--shard", shard]
        command += ["--results", str(tmp_path / "results"), "--no-report"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 2), done.stdout[-2000:] + done.stderr[-2000:]  # 2: a case disturbed
    runs = sorted((tmp_path / "results").glob("run-*-shard*"))
    assert len(runs) == 2
    out = tmp_path / "merged"
    code, _, err = run_cli(["merge", *map(str, runs), "--output", str(out)])
    assert code == 0, err
    merged = json.loads((out / "benchmark.json").read_text())
    ids = [bench["extra_info"]["id"] for bench in merged["benchmarks"]]
    assert sorted(ids) == sorted(case.id for case in build_profile("smoke").cases)
