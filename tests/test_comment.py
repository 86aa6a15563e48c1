"""Pull-request comment bodies (gate --comment, ab's comment.md): regressions first, under GitHub's limit."""

from __future__ import annotations

import pandas as pd

from hellotorch.results.comment import ATTENTION, LIMIT_CHARS, UNCHANGED, CommentRow, comment_body

from .fixtures_util import FIXTURE_RUN, edited_run, run_cli


def _slower(case_index: int):
    def edit(raw: dict) -> None:
        compiled = [b for b in raw["benchmarks"] if b["extra_info"]["mode"] != "eager"]
        info = compiled[case_index]["extra_info"]
        for key in ("speedup", "speedup_q1", "speedup_q3", "speedup_ci_low", "speedup_ci_high", "speedup_quiet"):
            if isinstance(info.get(key), float):
                info[key] *= 0.5

    return edit


def _table_rows(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("| `")]


def _gate_comment(tmp_path, current) -> tuple[int, str]:
    """The gate of ``current`` against the fixture run: its exit code and its comment body."""
    comment = tmp_path / "comment.md"
    argv = ["gate", "--baseline", str(FIXTURE_RUN), "--current", str(current), "--comment", str(comment)]
    code, _, err = run_cli([*argv, "--no-calibration"])
    assert comment.is_file(), err
    return code, comment.read_text()


def test_a_planted_regression_is_the_first_row_of_the_gate_comment(tmp_path):
    code, body = _gate_comment(tmp_path, edited_run(tmp_path, _slower(3)))
    assert code == 1
    assert body.startswith("**hellotorch gate: FAIL**")
    first = _table_rows(body)[0]
    assert "REGRESSED" in first and "-50.0%" in first
    assert "<details><summary>Unchanged:" in body  # the rest folded away
    assert len(body) < LIMIT_CHARS


def test_a_passing_gate_folds_every_unchanged_case(tmp_path):
    code, body = _gate_comment(tmp_path, FIXTURE_RUN)
    assert code == 0 and "Needs attention" not in body and body.count("<details>") == 1


def test_a_huge_comparison_stays_under_githubs_limit_and_says_what_it_left_out():
    rows = [
        CommentRow(f"case-{n:05d}-" + "x" * 60, "1.000x", "1.001x", "+0.1%", "-10%", "ok", UNCHANGED)
        for n in range(5000)
    ]
    rows.append(CommentRow("the-regression", "1.5x", "1.0x", "-33.3%", "-10%", "REGRESSED", ATTENTION))
    body = comment_body("**hellotorch gate: FAIL**", rows, whole="gate.html")
    assert len(body) <= LIMIT_CHARS
    assert "the-regression" in _table_rows(body)[0]
    assert "left out to stay under GitHub's comment limit (the whole table: gate.html)" in body


def test_cells_cannot_break_the_table():
    body = comment_body("h", [CommentRow("a|b", "1", "2", "x\ny", "-", "ok", ATTENTION)])
    assert "`a\\|b`" in body and "x y" in body


def test_the_ab_comment_puts_regressions_and_undecided_cases_first():
    from hellotorch.ab.report import comment
    from hellotorch.ab.sides import AbOptions, Side

    table = pd.DataFrame(
        [
            {
                "case": "same-case",
                "pairs": 3,
                "base_ms": 10.0,
                "head_ms": 10.1,
                "ratio": 1.01,
                "ci_low": 0.99,
                "ci_high": 1.03,
                "verdict": "same",
            },
            {
                "case": "slow-case",
                "pairs": 3,
                "base_ms": 10.0,
                "head_ms": 13.0,
                "ratio": 1.3,
                "ci_low": 1.25,
                "ci_high": 1.35,
                "verdict": "REGRESSION",
            },
        ]
    )
    body = comment(table, Side("base", "python3"), Side("head", "python3"), AbOptions(profile="quick"), 60.0)
    rows = _table_rows(body)
    assert "slow-case" in rows[0] and "+30.0%" in rows[0] and "same-case" in rows[1]


def test_a_quick_ab_comment_stays_under_the_limit_with_its_planted_regression_on_top():
    from hellotorch.ab.report import comment
    from hellotorch.ab.run import AbOptions, verdicts
    from hellotorch.ab.sides import Side
    from hellotorch.profiles.named import build_profile

    from .test_ab import UNCHANGED, _many

    ids = [case.id for case in build_profile("quick").cases]
    planted = ids[7]
    table = verdicts(_many({case: [1.3, 1.31, 1.29] if case == planted else UNCHANGED for case in ids}), AbOptions())
    body = comment(table, Side("base", "python3"), Side("head", "python3"), AbOptions(profile="quick"), 600.0)
    assert len(body.encode()) < 64 * 1024
    first = _table_rows(body)[0]
    assert planted in first and "REGRESSION" in first
    assert f"Unchanged: {len(ids) - 1} comparison(s)" in body
