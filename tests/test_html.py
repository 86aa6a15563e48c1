"""The offline HTML pages: self-contained, linked, small; and rendered by a real browser where one is installed.

The browser test runs Debian's ``chromium`` headless on each page (``apt
install chromium``; skipped with that reason where it is missing): the page
must render (a screenshot is saved) with no console message at all. Every
page forbids requests by its Content-Security-Policy, so a request it tried
would be refused and said in the console; a planted page that tries one
shows the check would catch it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from .fixtures_util import FIXTURE_RUN, edited_run, run_cli

LIMIT_BYTES = 2 * 1024 * 1024


def _pages(tmp_path: Path) -> dict[str, Path]:
    """Every command's page, made from the fixture run (report, compare, history, gate) and a small A/B table."""
    from hellotorch.results.html_pages import ab_page

    report = tmp_path / "report"
    assert run_cli(["report", str(FIXTURE_RUN), "--output", str(report), "--html"])[0] == 0
    other = edited_run(tmp_path, lambda raw: raw["machine_info"]["hellotorch"].update(threads=1), name="run-other")
    compare = tmp_path / "compare"
    assert run_cli(["compare", str(FIXTURE_RUN), str(other), "--output", str(compare), "--html"])[0] == 0
    history, history_out = tmp_path / "history.sqlite", tmp_path / "history"
    run_cli(["history", "ingest", str(FIXTURE_RUN), str(other), "--history", str(history)])
    assert run_cli(["history", "--history", str(history), "--output", str(history_out), "--html"])[0] == 0
    gate = tmp_path / "gate.html"
    run_cli(["gate", "--baseline", str(FIXTURE_RUN), "--current", str(other), "--html", str(gate), "--no-calibration"])
    table = pd.DataFrame(
        [
            {
                "case": "c1",
                "pairs": 3,
                "base_ms": 1.0,
                "head_ms": 1.3,
                "ratio": 1.3,
                "ci_low": 1.2,
                "ci_high": 1.4,
                "verdict": "REGRESSION",
            }
        ]
    )
    ab = ab_page(table, "**hellotorch ab: FAIL**: 1 regression(s)\n\n- base: main\n- head: HEAD", 0.05).write(
        tmp_path / "ab.html"
    )
    return {
        "report": report / "report.html",
        "compare": compare / "compare.html",
        "history": history_out / "history.html",
        "gate": gate,
        "ab": ab,
    }


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    return _pages(tmp_path_factory.mktemp("pages"))


def test_every_page_is_self_contained_and_small(pages):
    for name, page in pages.items():
        text = page.read_text()
        assert page.stat().st_size < LIMIT_BYTES, name
        assert 'http-equiv="Content-Security-Policy" content="default-src \'none\'' in text, name
        # No external resource: every src and href is a fragment or inline data.
        for attribute in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert attribute.startswith(("#", "data:")), (name, attribute)
        assert "<script src" not in text and "<link " not in text, name


def test_the_report_puts_the_verdict_first_and_every_link_lands(pages):
    text = pages["report"].read_text()
    sections = re.findall(r'<section id="([^"]+)"', text)
    assert sections[0] == "verdict" and {"summary", "plots", "cases", "machine"} <= set(sections)
    ids = set(re.findall(r'id="([^"]+)"', text))
    targets = set(re.findall(r'href="#([^"]+)"', text))
    assert targets and targets <= ids, targets - ids
    assert text.count('<details id="case-') == len(pd.read_csv(Path(pages["report"]).parent / "summary.csv"))
    assert text.count("<svg") >= 5  # the plots, inline


def test_the_gate_page_says_fail_first_for_a_regression(tmp_path):
    def slower(raw):
        info = next(b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["mode"] != "eager")
        for key in ("speedup", "speedup_q1", "speedup_q3", "speedup_ci_low", "speedup_ci_high", "speedup_quiet"):
            if isinstance(info.get(key), float):
                info[key] *= 0.5

    page = tmp_path / "gate.html"
    code, _, _ = run_cli(
        ["gate", "--baseline", str(FIXTURE_RUN), "--current", str(edited_run(tmp_path, slower)), "--html", str(page)]
    )
    text = page.read_text()
    assert code == 1 and "<title>hellotorch gate: FAIL</title>" in text
    assert text.index("REGRESSED") < text.index(">ok<")  # regressions sorted first


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser: install Debian's chromium (`apt install chromium`) to render the pages")


def _render(browser: str, page: Path, screenshot: Path) -> list[str]:
    """Console lines the browser logged while rendering ``page``; the screenshot saved."""
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1600",
            f"--screenshot={screenshot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if "CONSOLE" in line]


@pytest.mark.slow
def test_a_real_browser_renders_every_page_with_no_console_message_and_no_request(pages, tmp_path):
    browser = _chromium()
    for name, page in pages.items():
        assert _render(browser, page, tmp_path / f"{name}.png") == [], name
    # The check can fail: a page that tries a request is refused by its policy, and the console says so.
    planted = tmp_path / "planted.html"
    planted.write_text(pages["ab"].read_text().replace("<main>", '<main><img src="https://example.com/x.png">'))
    assert _render(browser, planted, tmp_path / "planted.png") != []
