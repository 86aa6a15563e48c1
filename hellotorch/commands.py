"""Subcommands beyond train/finetune/env: parity, bench, report, compare, gate."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the analysis subcommands to the ``hellotorch`` parser."""
