"""Benchmark cases, and what a profile is.

A :class:`BenchCase` is one frozen dataclass of plain strings and numbers; its
``id`` is the pytest id, the results-table key and the plot label. A
:class:`Profile` lists cases and says how hard to measure them
(:class:`~hellotorch.settings.Measurement`); the named profiles live in :mod:`hellotorch.profiles.named`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from hellotorch.distributed.strategies import SINGLE_PROCESS, check_strategy
from hellotorch.labels import case_id, case_title
from hellotorch.measuring.recompile_scenarios import check_scenario
from hellotorch.models import model_config
from hellotorch.settings import Measurement
from hellotorch.training.compiling import CompileConfig
from hellotorch.training.config import FinetuneConfig, RunConfig
from hellotorch.training.optimizers import get_optimizer_spec


@dataclass(frozen=True)
class BenchCase:
    """One measured configuration of the training or fine-tuning step."""

    #: ``train`` (all parameters), ``finetune`` (frozen backbone, new head) or ``lora`` (adapters).
    task: str
    device: str
    model: str
    batch_size: int
    optimizer: str
    #: optimizer implementation: forloop, foreach, fused or default.
    implementation: str
    dtype: str
    #: ``eager`` or a compile mode from :data:`hellotorch.training.compiling.COMPILE_MODES`.
    mode: str
    #: ``step`` (whole step compiled) or ``model`` (model alone); ``-`` for eager.
    scope: str = "-"
    backend: str = "inductor"
    #: also time a cold compile in a fresh process with an empty cache.
    cold_compile: bool = False
    #: tokens per sample for a sequence model; 0 keeps the model's default.
    seq_len: int = 0
    #: the model's own settings from the profile file's ``model_options``, as sorted JSON ("": none).
    model_options: str = ""
    #: also measure compile time per cache state (cold, warm, portable; whole and regional) in fresh processes.
    cache_states: bool = False
    #: recompilation scenario (:mod:`hellotorch.measuring.recompile_scenarios`); ``none`` runs the same batch every step.
    scenario: str = "none"
    #: data-parallel strategy (:mod:`hellotorch.distributed.strategies`); ``none`` is one process.
    strategy: str = "none"
    #: processes torchrun starts (ranks); the batch size is the global batch.
    world_size: int = 1

    def __post_init__(self) -> None:
        check_scenario(self.scenario, model=self.model, mode=self.mode)
        if self.distributed or self.world_size != 1:
            check_strategy(
                self.strategy,
                world_size=self.world_size,
                device=self.device,
                model=self.model,
                batch_size=self.batch_size,
                mode=self.mode,
                scope=self.scope,
            )

    @property
    def distributed(self) -> bool:
        return self.strategy != SINGLE_PROCESS

    @property
    def compiled(self) -> bool:
        return self.mode != "eager"

    @property
    def id(self) -> str:
        return case_id(dataclasses.asdict(self))

    @property
    def title(self) -> str:
        return case_title(dataclasses.asdict(self))

    def run_config(self, *, seed: int = 0) -> RunConfig:
        compile_config = CompileConfig(
            mode=self.mode, scope=self.scope if self.compiled else "step", backend=self.backend
        )
        return RunConfig(
            model=self.model,
            optimizer=self.optimizer,
            implementation=self.implementation,
            lr=get_optimizer_spec(self.optimizer).default_lr,
            batch_size=self.batch_size,
            device=self.device,
            dtype=self.dtype,
            compile=compile_config,
            seed=seed,
            model_config=model_config(
                self.model, seq_len=self.seq_len or None, options=json.loads(self.model_options or "{}")
            ),
        )

    def finetune_config(self) -> FinetuneConfig | None:
        return FinetuneConfig.for_task(self.task, self.model)

    def eager_twin(self) -> BenchCase:
        """The same case, run eagerly: the other arm of the paired speedup."""
        # ddp-ca differs from ddp only in how it compiles: its eager arm is plain DDP.
        strategy = "ddp" if self.strategy == "ddp-ca" else self.strategy
        return dataclasses.replace(
            self,
            mode="eager",
            scope="-",
            backend="inductor",
            cold_compile=False,
            cache_states=False,
            scenario="none",
            strategy=strategy,
        )

    def single_process(self) -> BenchCase:
        """The same global step in one process, eager: the distributed cases' parity reference."""
        return dataclasses.replace(self.eager_twin(), strategy=SINGLE_PROCESS, world_size=1)

    def as_dict(self) -> dict[str, str | int | bool]:
        return {**dataclasses.asdict(self), "id": self.id, "compiled": self.compiled}


@dataclass(frozen=True)
class Profile:
    """A named list of cases and how hard to measure each."""

    name: str
    description: str
    cases: tuple[BenchCase, ...]
    measurement: Measurement
    #: which slice of a sharded plan this is (``matrix_id``, ``index``, ``count``); None: the whole plan.
    shard: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The resolved plan, whole: what crosses into the pytest child (``plan.json`` in the run folder)."""
        return {
            "name": self.name,
            "description": self.description,
            "cases": [dataclasses.asdict(case) for case in self.cases],
            "measurement": self.measurement.to_json(),
            "shard": self.shard,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """The plan a parent resolved and validated: rebuilt as it was, not resolved again."""
        return cls(
            name=data["name"],
            description=data["description"],
            cases=tuple(BenchCase(**fields) for fields in data["cases"]),
            measurement=Measurement.from_json(data["measurement"]),
            shard=data.get("shard"),
        )

    def estimated_seconds(self) -> float:
        """A rough upper estimate of the run's wall time, from the plan alone (said before a long run starts)."""
        return sum(self.case_seconds(case) for case in self.cases)

    def case_seconds(self, case: BenchCase) -> float:
        """A rough upper estimate of one case's wall time (the progress line's plan, corrected as cases finish).

        Its timed rounds; a compiled case adds a compile (about 20 s cold on
        a 2-core CPU), its pairs (up to ``max_pair_seconds``) and the parity
        arms; measuring cache states adds three fresh processes per state.
        """
        m = self.measurement
        seconds = 3.0 + 2 * m.max_time
        if case.compiled:
            seconds += 20.0 + (m.max_pair_seconds if m.speedup_ci else m.pairs * 0.05) + 4 * m.parity_steps * 0.02
            seconds += 9 * 20.0 if case.cache_states else 20.0 if case.cold_compile else 0.0
        return seconds

    @staticmethod
    def case_kind(case: BenchCase) -> str:
        """What a case's time is made of, as :meth:`case_seconds` plans it: the progress line scales each kind apart."""
        if case.distributed:
            return "distributed"
        if case.compiled and case.cache_states:
            return "cache states"
        return "compiled" if case.compiled else "eager"

    @property
    def max_time(self) -> float:
        return self.measurement.max_time

    @property
    def min_rounds(self) -> int:
        return self.measurement.min_rounds

    @property
    def pairs(self) -> int:
        return self.measurement.pairs

    @property
    def parity_steps(self) -> int:
        return self.measurement.parity_steps
