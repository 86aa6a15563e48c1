"""A pull-request comment body: case, base → head, Δ %, the limit applied, verdict; regressions first.

``gate --comment`` and ``ab --comment`` write it, in the row style users
know from Bencher and PyTorch's HUD: what needs a reader's attention on top
(regressions, failures, cases not judged), then what moved, and the cases
that did not change folded into a ``<details>`` block. GitHub refuses a
comment over 65,536 characters; the body is kept under
:data:`LIMIT_CHARS`, dropping the folded rows first and saying how many
were left out and where the whole table is.
"""

from __future__ import annotations

from dataclasses import dataclass

#: GitHub's limit is 65,536 characters; a margin for the footer and what a workflow adds.
LIMIT_CHARS = 60_000

#: the order a reader needs them in.
ATTENTION, CHANGED, UNCHANGED = 0, 1, 2


@dataclass(frozen=True)
class CommentRow:
    """One comparison: a case (and what was compared), its two values, the change, the limit, the verdict."""

    case: str
    base: str
    head: str
    change: str
    limit: str
    verdict: str
    #: ATTENTION (a regression, a failure, not judged), CHANGED or UNCHANGED.
    rank: int


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[CommentRow]) -> list[str]:
    lines = ["| case | base → head | Δ | limit | verdict |", "|:--|:--|--:|--:|:--|"]
    lines += [
        f"| `{_cell(row.case)}` | {_cell(row.base)} → {_cell(row.head)} | {_cell(row.change)} | "
        f"{_cell(row.limit)} | {_cell(row.verdict)} |"
        for row in rows
    ]
    return lines


def comment_body(headline: str, rows: list[CommentRow], *, notes: list[str] = (), whole: str = "") -> str:
    """The Markdown body, under :data:`LIMIT_CHARS`; ``whole`` names where the full table is (an artifact)."""
    ordered = sorted(rows, key=lambda row: row.rank)
    shown = {rank: [row for row in ordered if row.rank == rank] for rank in (ATTENTION, CHANGED, UNCHANGED)}
    left_out = 0
    while True:
        text = _render(headline, shown, notes, left_out, whole)
        if len(text) <= LIMIT_CHARS:
            return text
        # Fold away the least needed rows first: unchanged, then changed, then (never empty) attention.
        for rank in (UNCHANGED, CHANGED, ATTENTION):
            if shown[rank] and (rank != ATTENTION or len(shown[rank]) > 1):
                drop = max(1, len(shown[rank]) // 4)
                shown[rank] = shown[rank][:-drop]
                left_out += drop
                break
        else:
            return text[:LIMIT_CHARS]


def _render(headline: str, shown: dict[int, list[CommentRow]], notes, left_out: int, whole: str) -> str:
    lines = [headline, ""]
    lines += [f"- {note}" for note in notes]
    if notes:
        lines.append("")
    if shown[ATTENTION]:
        lines += [f"**Needs attention ({len(shown[ATTENTION])})**", "", *_table(shown[ATTENTION]), ""]
    if shown[CHANGED]:
        lines += [f"**Changed within the limits ({len(shown[CHANGED])})**", "", *_table(shown[CHANGED]), ""]
    if shown[UNCHANGED]:
        lines += [
            "<details><summary>Unchanged: " + f"{len(shown[UNCHANGED])} comparison(s)</summary>",
            "",
            *_table(shown[UNCHANGED]),
            "",
            "</details>",
            "",
        ]
    if left_out:
        where = f" (the whole table: {whole})" if whole else ""
        lines.append(f"_{left_out} row(s) left out to stay under GitHub's comment limit{where}._")
    return "\n".join(lines).rstrip() + "\n"
