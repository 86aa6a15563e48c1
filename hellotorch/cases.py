"""Benchmark cases and the named profiles that list them.

A :class:`BenchCase` is one frozen dataclass of plain strings and numbers; its
``id`` is the pytest id, the results-table key and the plot label. A
:class:`Profile` (``smoke``, ``quick``, ``full``) lists cases and says how hard
to measure them. Profiles are not full cross products: a batch-size sweep at
one optimizer and an optimizer sweep at one batch size cover the axes for a
fraction of the cold compiles (each costs 10-25 s of g++ on a 2-core CPU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from hellotorch.compiling import CompileConfig
from hellotorch.models import get_model_spec
from hellotorch.optimizers import get_optimizer_spec
from hellotorch.training import FinetuneConfig, RunConfig


@dataclass(frozen=True)
class BenchCase:
    """One measured configuration of the training or fine-tuning step."""

    #: ``train`` (all parameters) or ``finetune`` (frozen backbone, new head).
    task: str
    device: str
    model: str
    batch_size: int
    optimizer: str
    #: optimizer implementation: forloop, foreach, fused or default.
    implementation: str
    dtype: str
    #: ``eager`` or a compile mode from :data:`hellotorch.compiling.COMPILE_MODES`.
    mode: str
    #: ``step`` (whole step compiled) or ``model`` (model alone); ``-`` for eager.
    scope: str = "-"
    backend: str = "inductor"
    #: also time a cold compile in a fresh process with an empty cache.
    cold_compile: bool = False

    @property
    def compiled(self) -> bool:
        return self.mode != "eager"

    @property
    def id(self) -> str:
        how = "eager" if not self.compiled else f"{self.mode}.{self.scope}"
        if self.compiled and self.backend != "inductor":
            how += f".{self.backend}"
        return (
            f"{self.task}-{self.device}-{self.model}-b{self.batch_size}-"
            f"{self.optimizer}.{self.implementation}-{self.dtype}-{how}"
        )

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
        )

    def finetune_config(self) -> FinetuneConfig | None:
        if self.task != "finetune":
            return None
        return FinetuneConfig(freeze_backbone=get_model_spec(self.model).has_backbone)

    def eager_twin(self) -> BenchCase:
        """The same case, run eagerly: the other arm of the paired speedup."""
        return dataclasses.replace(self, mode="eager", scope="-", backend="inductor", cold_compile=False)

    def as_dict(self) -> dict[str, str | int | bool]:
        return {**dataclasses.asdict(self), "id": self.id, "compiled": self.compiled}


@dataclass(frozen=True)
class Profile:
    """A named list of cases and how long to measure each."""

    name: str
    description: str
    cases: tuple[BenchCase, ...]
    #: pytest-benchmark: seconds of timed rounds per case, and at least this many rounds.
    max_time: float
    min_rounds: int
    #: interleaved eager/compiled pairs for the paired speedup.
    pairs: int
    #: steps of the loss-parity curve of every compiled case.
    parity_steps: int


def _case(device: str, model: str, batch: int, optimizer: str, impl: str, mode: str = "eager", **kw) -> BenchCase:
    scope = kw.pop("scope", "step" if mode != "eager" else "-")
    return BenchCase(
        task=kw.pop("task", "train"),
        device=device,
        model=model,
        batch_size=batch,
        optimizer=optimizer,
        implementation=impl,
        dtype=kw.pop("dtype", "float32"),
        mode=mode,
        scope=scope,
        **kw,
    )


def _eager_variants(device: str, model: str, batch: int, optimizer: str, task: str = "train") -> list[BenchCase]:
    """Every implementation of an optimizer, eager: the fair baseline is the fastest."""
    from hellotorch.optimizers import OPTIMIZERS

    impls = [impl for impl in OPTIMIZERS[optimizer].implementations if impl != "default"]
    return [_case(device, model, batch, optimizer, impl, task=task) for impl in impls]


def _smoke(device: str) -> list[BenchCase]:
    return [
        _case(device, "hello", 10, "sgd", "forloop"),
        _case(device, "hello", 10, "sgd", "forloop", "default"),
        _case(device, "mlp", 32, "sgd", "forloop", task="finetune"),
        _case(device, "mlp", 32, "sgd", "forloop", "default", scope="model", task="finetune"),
    ]


def _quick(device: str) -> list[BenchCase]:
    cases: list[BenchCase] = []
    # The tutorial model: pure framework overhead.
    cases += _eager_variants(device, "hello", 10, "sgd")
    cases.append(_case(device, "hello", 10, "sgd", "forloop", "default"))
    # Batch-size sweep at AdamW, whole step compiled; the middle size is cold-compiled too.
    for batch in (16, 64, 256):
        cases += _eager_variants(device, "mlp", batch, "adamw")
        cases.append(_case(device, "mlp", batch, "adamw", "forloop", "default", cold_compile=batch == 64))
    # Compile scope: the model alone.
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", "default", scope="model"))
    # Optimizer sweep at batch 64.
    for optimizer in ("sgd", "adam"):
        cases += _eager_variants(device, "mlp", 64, optimizer)
        cases.append(_case(device, "mlp", 64, optimizer, "forloop", "default"))
    # Fine-tuning: frozen backbone, new head.
    cases += _eager_variants(device, "mlp", 64, "adamw", task="finetune")
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", "default", task="finetune"))
    return cases


def _full(device: str) -> list[BenchCase]:
    from hellotorch.optimizers import OPTIMIZERS

    cases = _quick(device)
    cases += _eager_variants(device, "linear", 4, "sgd")
    cases.append(_case(device, "linear", 4, "sgd", "forloop", "default", cold_compile=True))
    for optimizer in OPTIMIZERS:
        if optimizer in ("sgd", "adam", "adamw"):
            continue  # already in quick
        cases += _eager_variants(device, "mlp", 64, optimizer)
        cases.append(_case(device, "mlp", 64, optimizer, "forloop", "default"))
    for batch in (8, 32, 64):
        cases += _eager_variants(device, "transformer", batch, "adamw")
        cases.append(_case(device, "transformer", batch, "adamw", "forloop", "default", cold_compile=batch == 32))
    cases.append(_case(device, "transformer", 32, "adamw", "forloop", "default", scope="model"))
    cases += _eager_variants(device, "transformer", 32, "adamw", task="finetune")
    cases.append(_case(device, "transformer", 32, "adamw", "forloop", "default", task="finetune"))
    # Modes: autotuning, compile-once dynamic shapes, CUDA graphs where there is CUDA.
    autotune = "max-autotune" if device == "cuda" else "max-autotune-no-cudagraphs"
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", autotune))
    for batch in (16, 64, 256):
        cases.append(_case(device, "mlp", batch, "adamw", "forloop", "dynamic"))
    if device == "cuda":
        cases.append(_case(device, "mlp", 64, "adamw", "forloop", "reduce-overhead"))
    # bf16 autocast (emulated on a CPU without native bf16: its timings mean little there).
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", dtype="bfloat16"))
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", "default", dtype="bfloat16"))
    # Backend ablation: how much is Dynamo/AOTAutograd, how much Inductor.
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", "default", backend="aot_eager"))
    return cases


PROFILE_BUILDERS = {
    "smoke": ("a handful of cases, under a minute on a warm cache; used by the tests", _smoke, 0.2, 5, 10, 20),
    "quick": ("the default: 2 models, 3 batch sizes, 3 optimizers, train and fine-tune", _quick, 0.5, 10, 30, 100),
    "full": ("everything: all optimizers, transformer, max-autotune, dynamic, bf16, backends", _full, 1.0, 10, 40, 200),
}


def build_profile(name: str, *, devices: Iterable[str] = ("cpu",), only: Iterable[str] = ()) -> Profile:
    """The cases of profile ``name`` on ``devices``, or just the ids in ``only``.

    ``ValueError`` names the known profiles, or the ids the profile lacks.
    """
    if name not in PROFILE_BUILDERS:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILE_BUILDERS)}")
    description, builder, max_time, min_rounds, pairs, parity_steps = PROFILE_BUILDERS[name]
    cases = tuple(case for device in devices for case in builder(device))
    wanted = set(only)
    if wanted:
        unknown = sorted(wanted - {case.id for case in cases})
        if unknown:
            raise ValueError(f"profile {name} has no case {', '.join(unknown)}")
        cases = tuple(case for case in cases if case.id in wanted)
    return Profile(name, description, cases, max_time, min_rounds, pairs, parity_steps)
