"""The regression gate against a pinned baseline, and the run-to-run noise it allows for. Imports no torch."""
