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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hellotorch.compiling import CompileConfig
from hellotorch.config import FinetuneConfig, RunConfig
from hellotorch.labels import case_id, case_title
from hellotorch.models import model_config
from hellotorch.optimizers import get_optimizer_spec
from hellotorch.profilefile import is_profile_file, load_profile_file


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
    #: ``eager`` or a compile mode from :data:`hellotorch.compiling.COMPILE_MODES`.
    mode: str
    #: ``step`` (whole step compiled) or ``model`` (model alone); ``-`` for eager.
    scope: str = "-"
    backend: str = "inductor"
    #: also time a cold compile in a fresh process with an empty cache.
    cold_compile: bool = False
    #: tokens per sample for a sequence model; 0 keeps the model's default.
    seq_len: int = 0

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
            model_config=model_config(self.model, seq_len=self.seq_len or None),
        )

    def finetune_config(self) -> FinetuneConfig | None:
        return FinetuneConfig.for_task(self.task, self.model)

    def eager_twin(self) -> BenchCase:
        """The same case, run eagerly: the other arm of the paired speedup."""
        return dataclasses.replace(self, mode="eager", scope="-", backend="inductor", cold_compile=False)

    def as_dict(self) -> dict[str, str | int | bool]:
        return {**dataclasses.asdict(self), "id": self.id, "compiled": self.compiled}


@dataclass(frozen=True)
class Measurement:
    """How hard a profile measures each case."""

    #: pytest-benchmark: seconds of timed rounds per case ...
    max_time: float
    #: ... and at least this many rounds.
    min_rounds: int
    #: interleaved eager/compiled pairs for the paired speedup.
    pairs: int
    #: steps of the loss-parity curve of every compiled case.
    parity_steps: int


@dataclass(frozen=True)
class Profile:
    """A named list of cases and how hard to measure each."""

    name: str
    description: str
    cases: tuple[BenchCase, ...]
    measurement: Measurement

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
    # The models people train: one compiled case each (its eager twin is in the paired speedup).
    cases.append(_case(device, "cnn", 32, "adamw", "forloop", "default"))
    cases.append(_case(device, "gpt", 4, "adamw", "forloop", "default", seq_len=64))
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
    # The CNN: a batch sweep, fine-tuning with frozen BatchNorm statistics, LoRA on its convolutions.
    for batch in (16, 64):
        cases.append(_case(device, "cnn", batch, "adamw", "forloop", "default"))
    cases += _eager_variants(device, "cnn", 32, "adamw")
    for task in ("finetune", "lora"):
        cases.append(_case(device, "cnn", 32, "adamw", "forloop", "default", task=task))
    # The GPT: batch size and sequence length, each swept at the other's middle value; fine-tuning and LoRA.
    for batch in (2, 8):
        cases.append(_case(device, "gpt", batch, "adamw", "forloop", "default", seq_len=64))
    for seq_len in (32, 128):
        cases.append(_case(device, "gpt", 4, "adamw", "forloop", "default", seq_len=seq_len))
    cases += [dataclasses.replace(case, seq_len=64) for case in _eager_variants(device, "gpt", 4, "adamw")]
    for task in ("finetune", "lora"):
        cases.append(_case(device, "gpt", 4, "adamw", "forloop", "default", task=task, seq_len=64))
    cases.append(_case(device, "mlp", 64, "adamw", "forloop", "default", task="lora"))
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


@dataclass(frozen=True)
class ProfileSpec:
    """A registered profile: what it is for, which cases, how hard to measure them."""

    description: str
    build: Callable[[str], list[BenchCase]]
    measurement: Measurement


PROFILES: dict[str, ProfileSpec] = {
    "smoke": ProfileSpec(
        "a handful of cases, under a minute on a warm cache; used by the tests",
        _smoke,
        Measurement(max_time=0.2, min_rounds=5, pairs=10, parity_steps=20),
    ),
    "quick": ProfileSpec(
        "the default: 2 models, 3 batch sizes, 3 optimizers, train and fine-tune",
        _quick,
        Measurement(max_time=0.5, min_rounds=10, pairs=30, parity_steps=100),
    ),
    "full": ProfileSpec(
        "everything: all optimizers, transformer, max-autotune, dynamic, bf16, backends",
        _full,
        Measurement(max_time=1.0, min_rounds=10, pairs=40, parity_steps=200),
    ),
}


def build_profile(name: str, *, devices: Iterable[str] = ("cpu",), only: Iterable[str] = ()) -> Profile:
    """The cases of profile ``name`` on ``devices``, or just the ids in ``only``.

    ``ValueError`` names the known profiles, or the ids the profile lacks.
    """
    if is_profile_file(name):
        loaded = load_profile_file(name, devices=tuple(devices))
        name, description, measurement = loaded.name, loaded.description, Measurement(**loaded.measurement)
        cases = tuple(BenchCase(**fields) for fields in loaded.cases)
    elif name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}, or a profile file (.toml)")
    else:
        description, measurement = PROFILES[name].description, PROFILES[name].measurement
        cases = tuple(case for device in devices for case in PROFILES[name].build(device))
    wanted = set(only)
    if wanted:
        unknown = sorted(wanted - {case.id for case in cases})
        if unknown:
            raise ValueError(f"profile {name} has no case {', '.join(unknown)}")
        cases = tuple(case for case in cases if case.id in wanted)
    return Profile(name, description, cases, measurement)
