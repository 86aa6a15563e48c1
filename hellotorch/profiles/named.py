"""The named profiles (``smoke``, ``quick``, ``dist``, ``full``) and building a profile's cases.

A profile lists :class:`~hellotorch.profiles.cases.BenchCase` objects and says how hard
to measure them. Profiles are not full cross products: a batch-size sweep at
one optimizer and an optimizer sweep at one batch size cover the axes for a
fraction of the cold compiles (each costs 10-25 s of g++ on a 2-core CPU).
:func:`build_profile` also reads a profile file (:mod:`hellotorch.profiles.file`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from hellotorch.profiles.cases import BenchCase, Profile
from hellotorch.profiles.file import load_profile_file
from hellotorch.settings import NAMED_MEASUREMENTS, Measurement, is_profile_file


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
    from hellotorch.training.optimizers import OPTIMIZERS

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
        cases.append(_case(device, "mlp", batch, "adamw", "forloop", "default", cache_states=batch == 64))
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
    from hellotorch.training.optimizers import OPTIMIZERS

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


def _dist(device: str) -> list[BenchCase]:
    """Data-parallel steps under torchrun, 2 ranks: each strategy eager and compiled, and fine-tuning under DDP."""
    cases: list[BenchCase] = []
    ranks = {"world_size": DEFAULT_WORLD_SIZE}
    for model, batch in (("mlp", 64), ("transformer", 32)):
        for strategy, mode, scope in DIST_ARMS:
            cases.append(_case(device, model, batch, "adamw", "forloop", mode, scope=scope, strategy=strategy, **ranks))
    for mode in ("eager", "default"):
        cases.append(_case(device, "mlp", 64, "adamw", "forloop", mode, task="finetune", strategy="ddp", **ranks))
    return cases


def _compile_cost(device: str) -> list[BenchCase]:
    """What compiling costs: cache states of the MLP, transformer and GPT steps, and the recompilation scenarios."""
    cases = [
        _case(device, model, batch, "adamw", "forloop", "default", cache_states=True)
        for model, batch in (("mlp", 64), ("transformer", 32), ("gpt", 8))
    ]
    if device == "cuda":
        # CUDA graphs: their compile and the memory they hold, beside the default mode's.
        cases.append(_case(device, "mlp", 64, "adamw", "forloop", "reduce-overhead", cache_states=True))
    for scenario in ("lr-float", "lr-tensor", "last-batch", "limit"):
        cases.append(_case(device, "mlp", 64, "adamw", "forloop", "default", scenario=scenario))
    for scenario, mode in (("seq-auto", "auto-dynamic"), ("seq-mark", "auto-dynamic"), ("seq-dynamic", "dynamic")):
        cases.append(_case(device, "gpt", 8, "adamw", "forloop", mode, scenario=scenario))
    return cases


#: ranks of the ``dist`` profile's cases (``--nproc`` changes it).
DEFAULT_WORLD_SIZE = 2
#: (strategy, mode, scope) of each distributed arm.
DIST_ARMS = (
    ("ddp", "eager", "-"),
    ("ddp", "default", "step"),
    ("ddp-ca", "default", "step"),
    ("fsdp2", "eager", "-"),
    ("fsdp2", "default", "blocks"),
)


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
        NAMED_MEASUREMENTS["smoke"],
    ),
    "quick": ProfileSpec(
        "the default: 2 models, 3 batch sizes, 3 optimizers, train and fine-tune",
        _quick,
        NAMED_MEASUREMENTS["quick"],
    ),
    "compile": ProfileSpec(
        "what compiling costs: cold/warm/portable/regional compile of mlp, transformer, gpt; recompile scenarios",
        _compile_cost,
        NAMED_MEASUREMENTS["compile"],
    ),
    "dist": ProfileSpec(
        "data-parallel under torchrun: DDP and FSDP2, eager and compiled, parity against one process",
        _dist,
        NAMED_MEASUREMENTS["dist"],
    ),
    "full": ProfileSpec(
        "everything: all optimizers, transformer, max-autotune, dynamic, bf16, backends",
        _full,
        NAMED_MEASUREMENTS["full"],
    ),
}


def build_profile(
    name: str, *, devices: Iterable[str] = ("cpu",), only: Iterable[str] = (), nproc: int | None = None
) -> Profile:
    """The cases of profile ``name`` on ``devices``, or just the ids in ``only``.

    ``nproc`` sets the ranks of the profile's distributed cases. ``ValueError``
    names the known profiles, the ids the profile lacks, or a bad ``nproc``.
    """
    if is_profile_file(name):
        loaded = load_profile_file(name, devices=tuple(devices))
        name, description, measurement = loaded.name, loaded.description, loaded.measurement
        cases = tuple(BenchCase(**fields) for fields in loaded.cases)
        _check_sizes(cases, where=f"profile file {loaded.name}")
    elif name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}, or a profile file (.toml)")
    else:
        description, measurement = PROFILES[name].description, PROFILES[name].measurement
        cases = tuple(case for device in devices for case in PROFILES[name].build(device))
    if nproc is not None:
        cases = _with_ranks(name, cases, nproc)
    wanted = set(only)
    if wanted:
        unknown = sorted(wanted - {case.id for case in cases})
        if unknown:
            raise ValueError(f"profile {name} has no case {', '.join(unknown)}")
        cases = tuple(case for case in cases if case.id in wanted)
    return Profile(name, description, cases, measurement)


def _check_sizes(cases: tuple[BenchCase, ...], *, where: str) -> None:
    """Refuse, before anything runs, a case whose shape cannot fit in memory (a 10^8-token sequence)."""
    seen = set()
    for case in cases:
        shape = (case.model, case.batch_size, case.seq_len, case.model_options, case.device, case.dtype)
        if shape in seen or (case.device == "cuda" and not torch.cuda.is_available()):
            continue
        seen.add(shape)
        try:
            case.run_config()
        except ValueError as error:
            raise ValueError(f"{where}: case {case.id}: {error}") from None


def _with_ranks(name: str, cases: tuple[BenchCase, ...], nproc: int) -> tuple[BenchCase, ...]:
    if nproc < 1:
        raise ValueError(f"--nproc must be a positive number of processes, got {nproc}")
    if not any(case.distributed for case in cases):
        raise ValueError(
            f"--nproc: profile {name} has no distributed case; use --profile dist or a file with strategies"
        )
    return tuple(dataclasses.replace(case, world_size=nproc) if case.distributed else case for case in cases)
