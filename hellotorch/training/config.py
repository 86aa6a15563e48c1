"""Run configurations: what defines a training or fine-tuning run, validated once, when built.

:class:`RunConfig` names a run (model, optimizer, lr, batch size, device,
dtype, compile config, seed, model shape) and refuses a bad field, an
impossible shape or a size that cannot fit, before anything is allocated.
What follows from it (specs, precision, autocast context, resolved batch
size and shape) is exposed as properties. :class:`FinetuneConfig` says how a
pretrained backbone is treated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from hellotorch.models import ModelConfig, ModelSpec, get_model_spec
from hellotorch.training.compiling import CompileConfig
from hellotorch.training.devices import (
    Precision,
    autocast_context,
    available_memory_bytes,
    build_precision,
    resolve_device,
)
from hellotorch.training.optimizers import OptimizerSpec, get_optimizer_spec
from hellotorch.training.sizing import estimate_step_bytes
from hellotorch.training.step import PrecisionContext


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run; validated when built, never again.

    What follows from the fields (the model and optimizer specs, the
    precision and its autocast context, the resolved batch size and model
    shape) is exposed as properties, computed once.
    """

    model: str = "hello"
    optimizer: str = "sgd"
    #: optimizer implementation: default, forloop, foreach or fused.
    implementation: str = "default"
    lr: float = 0.01
    #: None means the model's default batch size.
    batch_size: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    compile: CompileConfig = field(default_factory=CompileConfig)
    seed: int = 0
    #: overrides of the model's default shape (None keeps the default).
    model_config: ModelConfig | None = None

    def __post_init__(self) -> None:
        # Each lookup raises ValueError naming the valid choices.
        get_model_spec(self.model)
        get_optimizer_spec(self.optimizer, self.implementation)
        resolve_device(self.device)
        build_precision(self.dtype, device=self.device)
        self.compile.validate_for(self.device)
        if self.compile.compiled and self.compile.scope == "blocks" and self.model_spec.blocks is None:
            raise ValueError(
                f"compile scope blocks compiles each repeated block, and model {self.model} has none; "
                "use scope step or model"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch size must be positive, got {self.batch_size}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a finite positive number, got {self.lr}")
        self._check_fits()

    def _check_fits(self) -> None:
        """Refuse a shape PyTorch rejects, or one that cannot fit in memory, before allocating."""
        available = available_memory_bytes(self.device)
        needed = estimate_step_bytes(
            self.model, self.resolved_model_config, batch_size=self.resolved_batch_size, limit=available
        )
        if available is not None and needed > available:
            raise ValueError(
                f"model {self.model} (width {self.resolved_model_config.width}, depth "
                f"{self.resolved_model_config.depth}) at batch size {self.resolved_batch_size} needs about "
                f"{needed / 2**30:.1f} GiB for a step; {self.device} has {available / 2**30:.1f} GiB available"
            )

    @cached_property
    def model_spec(self) -> ModelSpec:
        return get_model_spec(self.model)

    @cached_property
    def optimizer_spec(self) -> OptimizerSpec:
        return get_optimizer_spec(self.optimizer, self.implementation)

    @cached_property
    def precision(self) -> Precision:
        return build_precision(self.dtype, device=self.device)

    @property
    def autocast(self) -> PrecisionContext:
        """The context a forward pass runs in (``nullcontext`` when no autocast applies)."""
        return autocast_context(self.precision, self.device)

    @property
    def resolved_batch_size(self) -> int:
        return self.batch_size or get_model_spec(self.model).default_batch_size

    @property
    def resolved_model_config(self) -> ModelConfig:
        return self.model_config or get_model_spec(self.model).default_config

    def case_fields(self, *, task: str = "train") -> dict[str, str | int]:
        """This run as the fields :mod:`hellotorch.labels` names a case by."""
        return {
            "task": task,
            "device": self.device,
            "model": self.model,
            "batch_size": self.resolved_batch_size,
            "optimizer": self.optimizer,
            "implementation": self.implementation,
            "dtype": self.precision.name,
            "mode": self.compile.mode,
            "scope": self.compile.scope if self.compile.compiled else "-",
            "backend": self.compile.backend,
        }


#: The adapters' rank in the benchmark matrix's and the parity matrix's LoRA task.
DEFAULT_LORA_RANK = 4


@dataclass(frozen=True)
class FinetuneConfig:
    """How the pretrained backbone is treated while the new head learns.

    Frozen (``freeze_backbone``; its BatchNorm statistics frozen too), at its
    own learning rate (``backbone_lr``), or frozen with low-rank adapters
    that learn (``lora_rank``, ``lora_alpha``: :mod:`hellotorch.training.lora`).
    """

    freeze_backbone: bool = False
    #: learning rate of the backbone's parameter group; None means the run's lr.
    backbone_lr: float | None = None
    #: rank of the LoRA adapters; 0 means no LoRA.
    lora_rank: int = 0
    #: LoRA's scale numerator (the delta is alpha / rank * B @ A); None means alpha = rank.
    lora_alpha: float | None = None

    def __post_init__(self) -> None:
        if self.freeze_backbone and self.backbone_lr is not None:
            raise ValueError("choose either --freeze-backbone or --backbone-lr, not both")
        if self.backbone_lr is not None and not (math.isfinite(self.backbone_lr) and self.backbone_lr > 0):
            raise ValueError(f"backbone learning rate must be a finite positive number, got {self.backbone_lr}")
        if self.lora_rank < 0:
            raise ValueError(f"--lora rank must be positive, got {self.lora_rank}")
        if self.lora_rank and self.backbone_lr is not None:
            raise ValueError("--lora trains adapters on a frozen backbone; it does not take --backbone-lr")
        if self.lora_alpha is not None and not self.lora_rank:
            raise ValueError("--lora-alpha needs --lora RANK")
        if self.lora_alpha is not None and not (math.isfinite(self.lora_alpha) and self.lora_alpha > 0):
            raise ValueError(f"--lora-alpha must be a finite positive number, got {self.lora_alpha}")

    @property
    def frozen(self) -> bool:
        """Whether the backbone's own weights stay exactly as pretrained."""
        return self.freeze_backbone or self.lora_rank > 0

    @property
    def alpha(self) -> float:
        return float(self.lora_alpha if self.lora_alpha is not None else self.lora_rank)

    def check_model(self, model_name: str) -> None:
        """Refuse a backbone treatment for a model that has no backbone."""
        treated = self.freeze_backbone or self.backbone_lr is not None or self.lora_rank
        if treated and not get_model_spec(model_name).has_backbone:
            raise ValueError(
                f"model {model_name} has no backbone (it is a single Linear layer); "
                "fine-tuning it trains on without --freeze-backbone, --backbone-lr or --lora"
            )

    @classmethod
    def default_for(cls, model_name: str) -> FinetuneConfig:
        """The benchmarks' and parity's fine-tuning: freeze the backbone where there is one."""
        return cls(freeze_backbone=get_model_spec(model_name).has_backbone)

    @classmethod
    def for_task(cls, task: str, model_name: str) -> FinetuneConfig | None:
        """The fine-tuning of a matrix task: none for ``train``, frozen for ``finetune``, adapters for ``lora``."""
        if task == "train":
            return None
        if task == "lora":
            return cls(lora_rank=DEFAULT_LORA_RANK)
        return cls.default_for(model_name)
