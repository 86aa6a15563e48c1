"""The pytest-benchmark suite and its launcher: a plan in, a run folder out; and the pytest fixture's measuring of a user's own step."""
