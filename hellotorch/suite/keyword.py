"""``bench -k``: a pytest ``-k`` expression, checked before anything starts and matched against case ids alone."""

from __future__ import annotations

from collections.abc import Sequence

from hellotorch.errors import BadInput


def check_keyword(keyword: str | None) -> None:
    """Refuse a malformed ``-k`` expression before anything starts, as pytest would parse it."""
    if keyword is None:
        return
    try:
        from _pytest.mark.expression import Expression  # pytest's own -k grammar (private: checked if present)
    except ImportError:
        return  # pytest will refuse it itself (exit 2 all the same)
    try:
        Expression.compile(keyword)
    except Exception as error:  # ParseError in older pytest, SyntaxError in newer
        message = getattr(error, "msg", None) or str(error)
        raise BadInput(f"-k {keyword!r} is not a pytest -k expression: {message}") from None


def select_by_keyword(keyword: str, case_ids: Sequence[str]) -> list[str]:
    """The case ids a ``-k`` expression selects, matched against the case id alone.

    pytest's own ``-k`` also matches the names of the suite's parent folders,
    so ``-k hello`` would select every case of a suite installed under
    ``hellotorch/``; matching here keeps ``-k`` about cases. The grammar and
    the case-insensitive substring rule are pytest's.
    """
    from _pytest.mark.expression import Expression

    expression = Expression.compile(keyword)

    def matches(case: str) -> bool:
        return expression.evaluate(lambda name, *_, **__: name.lower() in case.lower())

    return [case for case in case_ids if matches(case)]
