"""Sharding a profile over machines: ``bench --shard I/N`` runs one deterministic slice of the plan.

As PyTorch's dynamo benchmarks split a sorted model list into
``--total-partitions/--partition-id`` slices for a CI matrix, the plan's
cases are split here, with no scheduler of hellotorch's own: the engine a
team already runs (a CI matrix, a Kubernetes Indexed Job, SLURM) starts N
``bench --shard I/N`` processes, and ``hellotorch merge`` puts their run
folders back together (:mod:`hellotorch.results.merge`).

The unit of the split is a case's *group*: a compiled case and its eager
twin (the other arm of its pairs) share one, so a case and the eager
variants of its step always run in the same process. Groups are dealt by
their estimated time, longest first, each to the shard with the least so far
(one compiled case measuring its cache states is most of ``quick``'s time),
so the slices are disjoint, cover the plan, end close together, and do not
depend on the order a profile lists its cases in. Every shard of one
plan agrees on a matrix id: ``--matrix-id``, or by default a hash of the
profile's name, its sorted case ids and the commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from hellotorch.errors import BadInput
from hellotorch.profiles.cases import BenchCase, Profile


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count`` of matrix ``matrix_id``."""

    index: int
    count: int
    matrix_id: str = ""

    @classmethod
    def parse(cls, text: str, *, matrix_id: str = "") -> Shard:
        """``I/N`` as a user writes it (1-based), refused in one line when it is not one."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise BadInput(f"--shard {text!r}: write I/N with 1 <= I <= N, such as 2/3")
        return cls(int(match.group(1)) - 1, int(match.group(2)), matrix_id)

    @property
    def label(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def to_json(self) -> dict:
        return {"matrix_id": self.matrix_id, "index": self.index, "count": self.count}


def group_of(case: BenchCase) -> str:
    """The id a case is split by: its eager twin's, shared by the case and the other arm of its pairs."""
    return case.eager_twin().id


def split(
    cases: tuple[BenchCase, ...], shard: Shard, seconds: Callable[[BenchCase], float] = lambda case: 1.0
) -> tuple[BenchCase, ...]:
    """The cases of ``shard``: whole groups, balanced by their estimated ``seconds``; a shard may be empty.

    Longest first, each group to the shard with the least time so far (ties:
    the group id, the lower shard), so N machines finish close together. It
    depends on the plan alone, never on the order a profile lists its cases.
    """
    load: dict[str, float] = {}
    for case in cases:
        load[group_of(case)] = load.get(group_of(case), 0.0) + seconds(case)
    totals, owner = [0.0] * shard.count, {}
    for group in sorted(load, key=lambda group: (-load[group], group)):
        index = min(range(shard.count), key=lambda index: (totals[index], index))
        owner[group] = index
        totals[index] += load[group]
    return tuple(case for case in cases if owner[group_of(case)] == shard.index)


def default_matrix_id(profile: str, cases: tuple[BenchCase, ...], commit: str) -> str:
    """What every shard of one plan computes alike: the profile, its whole case list and the code."""
    text = "\n".join([profile, commit, *sorted(case.id for case in cases)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def sharded_plan(plan: Profile, shard: Shard) -> Profile:
    """The slice of ``plan`` that ``shard`` runs, stamped with the matrix every shard of it agrees on."""
    from hellotorch.measuring.machine import git_commit

    matrix_id = shard.matrix_id or default_matrix_id(plan.name, plan.cases, git_commit())
    mine = split(plan.cases, shard, plan.case_seconds)
    if not mine:
        groups = len({group_of(case) for case in plan.cases})
        raise BadInput(f"--shard {shard.label}: the plan has {groups} groups of cases; use at most {groups} shards")
    stamp = dataclasses.replace(shard, matrix_id=matrix_id).to_json()
    return dataclasses.replace(plan, cases=mine, shard=stamp)
