"""hellotorch ab: the alternating order, the ratio's interval and verdicts, and a real A/B of two commits of a project."""

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hellotorch.ab.report import to_markdown
from hellotorch.ab.run import AbOptions, AbSamples, order, verdicts
from hellotorch.ab.sides import Side
from hellotorch.ab.stats import ratio_interval
from hellotorch.errors import BadInput

from .fixtures_util import FIXTURE_RUN, run_cli

pytest.importorskip("scipy")


def test_pairs_alternate_ab_then_ba():
    assert [name for _, name in order(3)] == ["base", "head", "head", "base", "base", "head"]
    assert [pair for pair, _ in order(2)] == [0, 0, 1, 1]


def test_the_ratio_is_the_geometric_mean_with_a_t_interval():
    ratio, low, high = ratio_interval([1.0, 1.0, 1.0], [1.05, 1.06, 1.04], confidence=0.95)
    assert ratio == pytest.approx(math.exp(sum(map(math.log, [1.05, 1.06, 1.04])) / 3))
    assert 1 < low < ratio < high < 1.09


def _samples(ratios: list[float]) -> AbSamples:
    return AbSamples(base={"case": [1e-3] * len(ratios)}, head={"case": [1e-3 * r for r in ratios]})


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [
        ([1.05, 1.06, 1.05], "REGRESSION"),
        ([1.001, 0.999, 1.0], "same"),
        ([1.10, 0.95, 1.02], "undecided"),
        ([0.90, 0.91, 0.90], "faster"),
        ([1.011, 1.012, 1.01], "same"),  # significant, but under the 2 % threshold
    ],
)
def test_verdicts(ratios, verdict):
    assert verdicts(_samples(ratios), AbOptions())["verdict"].tolist() == [verdict]


def test_a_lone_pair_far_from_the_rest_is_left_out_and_counted():
    # One process of 12 ran 13 % slow for its whole life, as one did in the fifth regression trials.
    table = verdicts(_samples([1.004, 0.997, 1.13, 1.001, 0.995, 1.003]), AbOptions())
    assert table["outliers"].tolist() == [1] and table["verdict"].tolist() == ["same"]
    assert table["ratio"].iloc[0] == pytest.approx(1.0, abs=0.002)
    # Without leaving it out the same pairs were undecided: the interval spanned 1.02.
    _, low, high = ratio_interval([1.0] * 6, [1.004, 0.997, 1.13, 1.001, 0.995, 1.003], confidence=0.95)
    assert low < 1 < 1.02 < high


@pytest.mark.parametrize(
    "ratios",
    [
        [1.06, 1.05, 1.07, 1.06, 1.05, 1.06],  # a real slowdown moves every pair: nothing is left out
        [1.0, 1.0, 1.0, 1.08, 1.08, 1.08],  # two clusters (a drift between them) are not outliers
        [1.0, 1.03, 0.97, 1.02, 0.98, 1.01],  # spread, with no lone pair: the rule changes nothing
    ],
)
def test_pairs_that_move_together_or_spread_evenly_are_all_kept(ratios):
    table = verdicts(_samples(ratios), AbOptions())
    assert table["outliers"].tolist() == [0]
    kept_all = ratio_interval([1.0] * 6, ratios, confidence=0.95)
    assert (table["ratio"].iloc[0], table["ci_low"].iloc[0], table["ci_high"].iloc[0]) == pytest.approx(kept_all)


def test_a_pair_far_from_the_rest_is_left_out_only_from_more_than_three_so_three_are_always_kept():
    three = verdicts(_samples([1.0, 1.002, 1.15]), AbOptions())
    assert three["outliers"].tolist() == [0] and three["verdict"].tolist() == ["undecided"]  # run a fourth pair
    four = verdicts(_samples([1.0, 1.002, 1.15, 0.999]), AbOptions())
    assert four["outliers"].tolist() == [1] and four["verdict"].tolist() == ["same"]


def _many(ratios_per_case: dict[str, list[float]]) -> AbSamples:
    return AbSamples(
        base={case: [1e-3] * len(ratios) for case, ratios in ratios_per_case.items()},
        head={case: [1e-3 * r for r in ratios] for case, ratios in ratios_per_case.items()},
    )


UNCHANGED = [1.0, 0.99, 1.01]


def test_a_lone_slowdown_significant_on_its_own_is_undecided_among_many_cases_until_more_pairs_show_it():
    lone = [1.05, 1.06, 1.04]  # p = 0.006 on its own: under 5 %, not under 5 % across 31 cases
    table = verdicts(_many({"slow": lone, **{f"same-{i}": UNCHANGED for i in range(30)}}), AbOptions())
    slow = table.set_index("case").loc["slow"]
    assert slow["p_slower"] < 0.05 < slow["p_slower_adjusted"] and slow["verdict"] == "undecided"
    assert (table["verdict"] != "REGRESSION").all()
    # Alone, the same pairs are a regression; among many, three more pairs make it one.
    assert verdicts(_many({"slow": lone}), AbOptions())["verdict"].tolist() == ["REGRESSION"]
    six = verdicts(_many({"slow": lone * 2, **{f"same-{i}": UNCHANGED * 2 for i in range(30)}}), AbOptions())
    assert six.set_index("case").loc["slow", "verdict"] == "REGRESSION"


def test_a_slowdown_that_moves_many_cases_is_caught_at_three_pairs():
    cases = {f"case-{i}": [1.05 + 0.01 * (i % 3), 1.06, 1.04] for i in range(31)}
    assert (verdicts(_many(cases), AbOptions())["verdict"] == "REGRESSION").all()


def test_simulated_a_a_runs_of_many_cases_rarely_flag_one_where_a_test_per_case_would_often():
    # 31 cases, 3 pairs, per-pair spread of the log ratio 4.4 % (the A/A of quick measured this median).
    import numpy as np

    rng = np.random.default_rng(20261203)
    flagged = flagged_per_case = 0
    runs = 60
    for _ in range(runs):
        cases = {f"case-{i}": list(np.exp(rng.normal(0.0, 0.044, size=3))) for i in range(31)}
        table = verdicts(_many(cases), AbOptions())
        flagged += bool((table["verdict"] == "REGRESSION").any())
        flagged_per_case += bool(((table["p_slower"] < 0.05) & (table["ratio"] > 1.02)).any())
    assert flagged <= 0.1 * runs  # the false discovery rate is held at 5 %; all nulls make it the family's rate
    assert flagged_per_case >= 0.5 * runs  # 1 - 0.95**31 = 80 % without the adjustment, less the 2 % threshold


def test_the_report_says_the_verdict_and_the_thread_count_it_was_measured_at():
    options = AbOptions(threads=1)
    table = verdicts(_samples([1.05, 1.06, 1.05]), options)
    sides = Side("base", sys.executable), Side("head", sys.executable)
    text = to_markdown(table, *sides, options, wall_s=12.0)
    assert text.startswith("**hellotorch ab: FAIL**: 1 regression(s)")
    assert "1 thread(s)" in text and "3 pair(s)" in text
    assert "default thread(s)" in to_markdown(table, *sides, AbOptions(), wall_s=12.0)


def test_an_ab_that_decided_no_case_says_undecided_not_pass():
    options = AbOptions()
    table = verdicts(_samples([1.30, 0.80, 1.05]), options)  # pairs that disagree: nothing decided
    assert set(table["verdict"]) == {"undecided"}
    text = to_markdown(table, Side("base", sys.executable), Side("head", sys.executable), options, wall_s=1.0)
    assert text.startswith("**hellotorch ab: UNDECIDED**")
    assert "one-sided 95 % bounds" in text.replace("95%", "95 %")


def test_a_case_failed_on_one_side_is_reported_failed():
    samples = _samples([1.0, 1.0, 1.0])
    samples.failed["case"] = "head: out of memory"
    assert verdicts(samples, AbOptions())["verdict"].iloc[0].startswith("FAILED (head: out of memory")


@pytest.mark.parametrize(
    ("options", "culprit"),
    [
        ({"min_pairs": 2}, "--pairs"),
        ({"max_pairs": 2, "min_pairs": 3}, "--max-pairs"),
        ({"threshold": 1.5}, "--threshold"),
    ],
)
def test_bad_options_name_their_option(options, culprit):
    with pytest.raises(BadInput, match=culprit):
        AbOptions(**options)


PLUGIN = """
import dataclasses
import torch
from torch import nn
from hellotorch.models.mlp import MLP

EXTRA_MATMULS = {extra}
SQUARE = torch.randn(128, 128)

class SlowLoss(nn.CrossEntropyLoss):
    def forward(self, scores, targets):
        for _ in range(EXTRA_MATMULS):  # the "regression" this commit brings: real work, slowed by load as the step is
            SQUARE @ SQUARE
        return super().forward(scores, targets)

def make_spec():
    return dataclasses.replace(MLP, name="abmlp", make_loss=SlowLoss)
"""

PROFILE = """
models = ["abmodel:make_spec"]
batch_sizes = [16]
modes = ["eager"]
max_time = 0.05
min_rounds = 5
"""


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _project(tmp_path, *, extra: int):
    """A user's project, two commits: the second adds ``extra`` matmuls to the loss."""
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "profile.toml").write_text(PROFILE)
    (repo / "abmodel.py").write_text(PLUGIN.format(extra=0))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    (repo / "abmodel.py").write_text(PLUGIN.format(extra=extra) + "\n")
    _git(repo, "commit", "-q", "-am", "head")
    return repo


@pytest.mark.slow
def test_ab_of_two_commits_of_a_project_measures_each_commit_in_its_own_checkout(tmp_path):
    """A user's project with a plug-in model, two commits: each side's runs come from its own commit.

    No verdict is asserted: it rests on timings (the verdict rule is tested above, on given samples).
    """
    import glob

    import pandas as pd

    from hellotorch.results.runs import load_run

    repo = _project(tmp_path, extra=60)
    commits = {
        name: subprocess.run(["git", "-C", str(repo), "rev-parse", ref], capture_output=True, text=True).stdout[:12]
        for name, ref in (("base", "HEAD~1"), ("head", "HEAD"))
    }
    out = tmp_path / "ab"
    argv = ["ab", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "--profile", "profile.toml"]
    argv += ["--output", str(out), "--history", str(tmp_path / "h.sqlite")]
    code, text, err = run_cli(argv)
    assert code in (0, 1), text + err
    table = pd.read_csv(out / "ab.csv")
    assert table["pairs"].tolist() == [3] and table["ratio"].gt(0).all()
    for name, commit in commits.items():
        for folder in glob.glob(str(out / f"{name}-*" / "run-*")):
            assert load_run(folder).machine["git_commit"].startswith(commit), (name, folder)
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == [
        "base-1",
        "base-2",
        "base-3",
        "head-1",
        "head-2",
        "head-3",
    ]
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1  # the side checkouts are gone
    code, shown, _ = run_cli(["history", "--history", str(tmp_path / "h.sqlite")])
    assert code == 0 and "abmodel:make_spec" in shown


def test_ab_refuses_a_python_without_torch(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    code, _, err = run_cli(["ab", "--base-python", str(bare / "bin" / "python"), "--output", str(tmp_path / "o")])
    assert code == 2 and "--base-python" in err and "cannot import torch" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_ab_stopped_with_sigterm_exits_130_and_leaves_no_worktree(tmp_path):
    """A cancelled CI job: the side is stopped, its checkout removed, exit 130."""
    import time

    repo = _project(tmp_path, extra=0)
    command = [sys.executable, "-m", "hellotorch", "ab", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD"]
    command += ["--profile", "profile.toml", "--output", str(tmp_path / "ab"), "--history", str(tmp_path / "h.sqlite")]
    process = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("ab/base-1/run-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the base side's bench has started its pytest
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1
    # The side's pytest was stopped with it, not left benchmarking on its own.
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "ab")], capture_output=True, text=True).stdout.split()
    assert left == [], left


def _with_reference(value: float, version: int):
    def edit(raw):
        for bench in raw["benchmarks"]:
            bench["extra_info"].update(
                step_per_reference=value, step_per_reference_pairs=100, reference_version=version
            )

    return edit


def test_the_reference_statistic_compares_steps_in_reference_units_and_never_two_units(tmp_path):
    from hellotorch.results.runs import load_run

    from .fixtures_util import edited_run

    base = load_run(edited_run(tmp_path, _with_reference(2.0, 1), name="run-base"))
    head = load_run(edited_run(tmp_path, _with_reference(2.2, 1), name="run-head"))
    other_unit = load_run(edited_run(tmp_path, _with_reference(2.0, 2), name="run-v2"))
    options = AbOptions(statistic="reference")
    same_unit, two_units = AbSamples(statistic="reference"), AbSamples(statistic="reference")
    for _ in range(3):
        same_unit.add("base", base)
        same_unit.add("head", head)
        two_units.add("base", base)
        two_units.add("head", other_unit)
    table = verdicts(same_unit, options)
    assert (table["verdict"] == "REGRESSION").all() and table["ratio"].tolist() == pytest.approx([1.1] * len(table))
    assert "base_x_ref" in table and "base_ms" not in table
    assert "reference workload" in to_markdown(
        table, Side("base", sys.executable), Side("head", sys.executable), options, wall_s=1.0
    )
    assert verdicts(two_units, options)["verdict"].str.contains("reference workload versions differ").all()


def test_the_reference_statistic_on_a_profile_without_reference_is_refused_before_any_side_runs(tmp_path):
    out = tmp_path / "ab"
    argv = ["ab", "--base", "HEAD", "--head", "HEAD", "--statistic", "reference", "--output", str(out)]
    code, _, err = run_cli([*argv, "--profile", "smoke"])
    assert code == 2 and "--statistic reference: profile 'smoke'" in err and "reference = true" in err
    assert not out.exists()
    code, _, err = run_cli(["ab", "--base", "HEAD", "--head", "HEAD", "--statistic", "mean", "--output", str(out)])
    assert code == 2 and "--statistic mean: choose one of auto, median, min, reference" in err


TRIALS_PROFILE = str(Path(__file__).resolve().parent.parent / "bench" / "trials.toml")  # reference = true


@pytest.mark.parametrize(
    ("profile", "one_interpreter", "chosen"),
    [
        (TRIALS_PROFILE, True, "reference"),  # two commits on one PyTorch: the unit cancels the process's speed
        (TRIALS_PROFILE, False, "median"),  # two interpreters may be two PyTorch versions, whose reference differs
        ("quick", True, "median"),  # a profile that does not time the reference workload
    ],
)
def test_auto_picks_the_reference_statistic_only_where_it_is_measured_and_meaningful(profile, one_interpreter, chosen):
    from hellotorch.ab.sides import choose_statistic

    assert choose_statistic("auto", profile=profile, one_interpreter=one_interpreter) == chosen
    assert choose_statistic("min", profile=profile, one_interpreter=one_interpreter) == "min"


def test_auto_reads_a_profile_file_in_the_repository_without_importing_its_plug_ins(tmp_path):
    from hellotorch.ab.sides import choose_statistic

    (tmp_path / "mine.toml").write_text('models = ["not_importable_here:spec"]\nreference = true\n')
    (tmp_path / "plain.toml").write_text('models = ["not_importable_here:spec"]\n')
    folders = (tmp_path / "elsewhere", tmp_path)
    assert choose_statistic("auto", profile="mine.toml", one_interpreter=True, folders=folders) == "reference"
    assert choose_statistic("auto", profile="plain.toml", one_interpreter=True, folders=folders) == "median"
    assert choose_statistic("auto", profile="absent.toml", one_interpreter=True, folders=folders) == "median"


def test_an_ab_that_compared_no_case_fails_closed(tmp_path, monkeypatch):
    # Every case skipped on both sides (a device this machine lacks, say) has shown nothing: not a pass.
    empty = verdicts(AbSamples(), AbOptions())
    text = to_markdown(empty, Side("base", sys.executable), Side("head", sys.executable), AbOptions(), wall_s=1.0)
    assert text.startswith("**hellotorch ab: FAIL**") and "no case was measured" in text

    import hellotorch.ab.run

    monkeypatch.setattr(hellotorch.ab.run, "run_ab", lambda *args, **kwargs: (empty, AbSamples()))
    argv = ["ab", "--base", "HEAD", "--head", "HEAD", "--output", str(tmp_path / "ab")]
    code, out, _ = run_cli([*argv, "--history", str(tmp_path / "history.sqlite"), "--statistic", "median"])
    assert code == 1 and "FAIL" in out and (tmp_path / "ab" / "ab.md").is_file()


def test_a_pair_measured_on_a_busy_machine_is_left_out_and_a_case_with_none_fit_is_not_measured():
    from hellotorch.ab.run import NOT_MEASURED

    nan = float("nan")
    samples = AbSamples(
        base={"some": [1e-3, nan, 1e-3, 1e-3], "none": [nan, 1e-3, nan]},
        head={"some": [1.2e-3, 1e-3, 1.2e-3, 1.2e-3], "none": [1e-3, nan, 1e-3]},
    )
    table = verdicts(samples, AbOptions()).set_index("case")
    assert table.loc["some", "pairs"] == 3 and table.loc["some", "disturbed"] == 1
    assert table.loc["some", "ratio"] == pytest.approx(1.2)  # the disturbed pair's 1.0 does not pull it
    assert table.loc["none", "verdict"].startswith(NOT_MEASURED) and table.loc["none", "disturbed"] == 3


def test_a_disturbed_record_enters_the_samples_as_no_value():
    from types import SimpleNamespace

    samples = AbSamples()
    record = {"id": "c", "status": "ok", "median_s": 1e-3, "host_state": "disturbed"}
    samples.add("base", SimpleNamespace(records=[record], failed=[]))
    assert all(value != value for value in samples.base["c"])  # NaN: the pair's place, no value


class FakeSides:
    """run_side stand-in: each call copies the fixture run into the side's folder, or fails as told."""

    def __init__(self, failures):
        self.failures, self.calls = list(failures), []

    def __call__(self, side, options, results, log):
        import shutil

        from hellotorch.ab.sides import SideFailed
        from hellotorch.results.runs import load_run

        self.calls.append((side.name, results.name))
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            log.write_text(failure)
            raise SideFailed(f"the {side.name} side failed: {failure}", environmental="temporarily" in failure)
        shutil.copytree(FIXTURE_RUN, results / "run-fake")
        return load_run(results / "run-fake")


def test_a_side_failed_by_the_machine_is_run_again_and_a_failure_keeps_the_finished_pairs(tmp_path, monkeypatch):
    import hellotorch.ab.run as ab_run
    from hellotorch.ab.sides import SideFailed

    monkeypatch.setattr(ab_run, "RETRY_PAUSE_S", 0.0)
    sides = FakeSides([None, "libgomp: Thread creation failed: Resource temporarily unavailable"])
    monkeypatch.setattr(ab_run, "run_side", sides)
    base, head = Side("base", sys.executable), Side("head", sys.executable)
    options = AbOptions(min_pairs=3, max_pairs=3)
    ab_run.run_ab(base, head, options, repo=tmp_path, out=tmp_path / "ab", progress=lambda line: None)
    assert len(sides.calls) == 7  # 6 sides, one of them twice
    # A failure the machine did not cause stops the A/B, naming the pair and how to go on; the pairs stay.
    stopping = FakeSides([None, None, None, "error: no such profile"])
    monkeypatch.setattr(ab_run, "run_side", stopping)
    out = tmp_path / "ab2"
    with pytest.raises(SideFailed, match=r"pair 2: .*--resume"):
        ab_run.run_ab(base, head, options, repo=tmp_path, out=out, progress=lambda line: None)
    resumed = FakeSides([])
    monkeypatch.setattr(ab_run, "run_side", resumed)
    table, _ = ab_run.run_ab(base, head, options, repo=tmp_path, out=out, progress=lambda line: None)
    assert len(resumed.calls) == 3 and len(table) > 0  # 3 finished sides kept, 3 measured


def test_resume_refuses_another_ab(tmp_path):
    from hellotorch.cli.ab import REQUEST, _check_resumable
    from hellotorch.errors import BadInput

    request = {"sides": [["base", "py", "abc"], ["head", "py", "def"]], "options": {"profile": "quick", "max_pairs": 3}}
    (tmp_path / REQUEST).write_text(json.dumps(request))
    _check_resumable(tmp_path, {**request, "options": {"profile": "quick", "max_pairs": 6}})  # more pairs: fine
    with pytest.raises(BadInput, match="profile was 'quick' there and is 'full' now"):
        _check_resumable(tmp_path, {**request, "options": {"profile": "full", "max_pairs": 3}})
