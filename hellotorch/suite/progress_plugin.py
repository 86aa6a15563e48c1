"""The bench child's progress: case k of N and the time left, as pytest runs the plan's cases.

Registered by the suite's conftest. ``--hellotorch-progress`` (the parent
chooses: :func:`hellotorch.progress.style_for`) picks one updating line on a
terminal (``bar``) or plain lines (``lines``, CI logs). Each case's estimate
comes from the plan (:meth:`hellotorch.profiles.cases.Profile.case_seconds`).
The bar is drawn with pytest's output capture suspended, so it reaches the
terminal; plain lines go through pytest's terminal writer, after the case's
own result line.
"""

from __future__ import annotations

import pytest

from hellotorch.progress import Progress


class CaseProgress:
    """pytest hooks around one :class:`~hellotorch.progress.Progress` over the selected cases."""

    def __init__(self, config: pytest.Config, style: str) -> None:
        self.config, self.style = config, style
        self.progress: Progress | None = None
        self.case_of: dict[str, str] = {}

    def _terminal_line(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, flush=True)

    def _uncaptured(self):
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        return capture.global_and_fixture_disabled()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        plan = self.config._hellotorch.profile
        by_id = {case.id: case for case in plan.cases}
        estimates, kinds = {}, {}
        for item in session.items:
            spec = getattr(item, "callspec", None)
            case = spec.params.get("case") if spec is not None else None
            if case is not None and case.id in by_id and item.get_closest_marker("skip") is None:
                self.case_of[item.nodeid] = case.id
                estimates[case.id] = plan.case_seconds(case)
                kinds[case.id] = plan.case_kind(case)
        if estimates:
            with self._uncaptured():
                self.progress = Progress(
                    "hellotorch bench", estimates, style=self.style, write=self._terminal_line, kinds=kinds
                )

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        if self.progress is not None and nodeid in self.case_of:
            with self._uncaptured():
                self.progress.start(self.case_of[nodeid])

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        if self.progress is not None and nodeid in self.case_of:
            with self._uncaptured():
                self.progress.finish(self.case_of[nodeid])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.progress is not None:
            with self._uncaptured():
                self.progress.close()
