"""Markdown tables from DataFrames, without the optional ``tabulate`` package.

``DataFrame.to_markdown`` needs ``tabulate``, which machines lent for a GPU
run may not have; a results table must still render there.
"""

from __future__ import annotations

import numbers

import pandas as pd


def _cell(value: object, floatfmt: str) -> str:
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return format(value, floatfmt)
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, *, floatfmt: str = ".3g") -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned, text left-aligned."""
    columns = [str(column) for column in frame.columns]
    rows = [[_cell(value, floatfmt) for value in row] for row in frame.itertuples(index=False)]
    numeric = [pd.api.types.is_numeric_dtype(frame[column]) for column in frame.columns]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(columns)]

    def line(cells: list[str]) -> str:
        padded = [cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join((":" if not num else "-") + "-" * w + (":" if num else "-") for w, num in zip(widths, numeric))
        + "|"
    )
    return "\n".join([line(columns), rule] + [line(row) for row in rows])
