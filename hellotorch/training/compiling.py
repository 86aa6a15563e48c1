"""Ways to run the training step: eager, or compiled by mode, scope and backend.

A compiler here is a named ``fn -> fn``. :func:`bind_step` binds a model,
optimizer, loss and precision into ``step(batch) -> loss`` and compiles the
whole step (``scope="step"``, PyTorch's recommendation), the model alone
(``scope="model"``) or each of the model's repeated blocks
(``scope="blocks"``: PyTorch's regional-compilation recipe, and the order
FSDP2 recipes use: compile each block, then shard it). Every compiled step starts from
``torch.compiler.reset()``; after its first call :meth:`BoundStep.graph_stats`
reports what Dynamo captured, and :meth:`BoundStep.check_captured` turns a
step that captured no graph (it would run eagerly, silently) into an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch._dynamo.utils import counters

from hellotorch.models import Batch
from hellotorch.training.step import PrecisionContext, forward_backward, train_step


@dataclass(frozen=True)
class CompileMode:
    """A named ``torch.compile`` configuration."""

    name: str
    #: the ``mode=`` argument of ``torch.compile`` (None for its default).
    mode: str | None
    #: ``dynamic=`` argument: False compiles each shape fresh, True once for all,
    #: None static first and dynamic after a shape changes (automatic dynamic shapes).
    dynamic: bool | None
    #: whether the mode replays CUDA graphs (outputs are overwritten on replay).
    cudagraphs: bool = False


#: ``eager`` is the baseline: no compile at all.
COMPILE_MODES: dict[str, CompileMode | None] = {
    "eager": None,
    "default": CompileMode("default", None, dynamic=False),
    "reduce-overhead": CompileMode("reduce-overhead", "reduce-overhead", dynamic=False, cudagraphs=True),
    "max-autotune": CompileMode("max-autotune", "max-autotune", dynamic=False, cudagraphs=True),
    "max-autotune-no-cudagraphs": CompileMode(
        "max-autotune-no-cudagraphs", "max-autotune-no-cudagraphs", dynamic=False
    ),
    # Compile once with symbolic shapes; later batch sizes reuse the graph.
    "dynamic": CompileMode("dynamic", None, dynamic=True),
    # PyTorch's default: static, then dynamic for the axis that changed, after one recompile.
    "auto-dynamic": CompileMode("auto-dynamic", None, dynamic=None),
}
SCOPES = ("step", "model", "blocks")
BACKENDS = ("inductor", "aot_eager", "eager")


@dataclass(frozen=True)
class CompileConfig:
    """How a step is run: eager, or compiled with a mode, scope and backend."""

    mode: str = "eager"
    scope: str = "step"
    backend: str = "inductor"
    #: make Inductor draw random numbers as eager does (dropout parity).
    fallback_random: bool = False

    def __post_init__(self) -> None:
        if self.mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {self.mode!r}; choose one of: {', '.join(COMPILE_MODES)}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown compile scope {self.scope!r}; choose one of: {', '.join(SCOPES)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown compile backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")

    @property
    def compiled(self) -> bool:
        return self.mode != "eager"

    @property
    def uses_cudagraphs(self) -> bool:
        spec = COMPILE_MODES[self.mode]
        return bool(spec and spec.cudagraphs and self.backend == "inductor")

    def validate_for(self, device: str) -> None:
        """Refuse combinations that cannot mean anything on ``device``."""
        if device == "cpu" and self.uses_cudagraphs:
            raise ValueError(f"compile mode {self.mode} uses CUDA graphs and needs --device cuda")


def start_compile(config: CompileConfig) -> dict:
    """Forget every earlier compile and return ``torch.compile``'s keyword arguments.

    Each compiled case starts from ``torch.compiler.reset()`` so no graph,
    guard or recompile count leaks from one case into the next.
    """
    torch.compiler.reset()
    counters.clear()
    spec = COMPILE_MODES[config.mode]
    options = {"mode": spec.mode, "dynamic": spec.dynamic, "backend": config.backend}
    if config.backend != "inductor":
        options.pop("mode")  # modes are Inductor options
    return options


def compile_blocks(blocks: nn.Module, options: dict) -> None:
    """Compile each block's ``forward`` in place (regional compilation).

    In place, so parameter names keep no ``_orig_mod.`` and hooks registered
    on the block (FSDP2's all-gathers) stay outside the compiled region. The
    bound ``forward`` is compiled rather than the module: Dynamo skips the
    frames of ``torch.nn``'s own layers (``nn.TransformerEncoderLayer.compile()``
    captures nothing), not a bound method's.
    """
    for block in blocks:
        if "forward" not in vars(block):  # not compiled yet
            block.forward = torch.compile(block.forward, **options)


def _needs_blocks(blocks: nn.Module | None) -> nn.Module:
    if blocks is None:
        raise ValueError("compile scope blocks needs a model with repeated blocks")
    return blocks


class SilentEagerError(RuntimeError):
    """A compiled step that captured no graph and would run eagerly unannounced."""


@dataclass(frozen=True)
class GraphStats:
    """What Dynamo did, read from its counters."""

    unique_graphs: int
    graph_breaks: int
    recompiles: int
    #: Inductor FX-graph cache outcome of the compile: hit, miss, mixed or none.
    compile_cache: str


class BoundStep:
    """``step(batch) -> loss`` over one model and optimizer, eager or compiled."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: nn.Module,
        *,
        precision: PrecisionContext = contextlib.nullcontext,
        config: CompileConfig = CompileConfig(),
        blocks: nn.Module | None = None,
        dynamo_settings: dict[str, object] | None = None,
    ) -> None:
        self.model = model
        self.config = config
        #: Dynamo settings in force while the compiled step is built and runs (a strategy's), and only then.
        self._dynamo_settings = dict(dynamo_settings or {}) if config.compiled else {}
        self._graphs_after_first: int | None = None
        self._optimizer = optimizer
        self._loss_fn = loss_fn
        self._precision = precision
        self.run_model: nn.Module = model
        self._fn: Callable[[Batch], torch.Tensor] = self._eager
        if not config.compiled:
            return
        # Some settings (compiled autograd) are read when torch.compile is called, others while tracing.
        with self._settings():
            options = start_compile(config)
            if config.scope == "model":
                self.run_model = torch.compile(model, **options)
            elif config.scope == "blocks":
                compile_blocks(_needs_blocks(blocks), options)
            else:
                self._fn = torch.compile(self._eager, **options)

    def _settings(self) -> contextlib.ExitStack:
        settings = contextlib.ExitStack()
        if self.config.fallback_random:
            settings.enter_context(torch._inductor.config.patch(fallback_random=True))
        if self._dynamo_settings:
            settings.enter_context(torch._dynamo.config.patch(**self._dynamo_settings))
        return settings

    def _eager(self, batch: Batch) -> torch.Tensor:
        return train_step(self.run_model, batch, self._optimizer, self._loss_fn, precision=self._precision)

    def __call__(self, batch: Batch) -> torch.Tensor:
        with self._settings():
            loss = self._fn(batch)
        if self.config.uses_cudagraphs:
            # The next CUDA-graph replay overwrites this buffer; keep a copy.
            loss = loss.clone()
        if self._graphs_after_first is None and self.config.compiled:
            self._graphs_after_first = int(counters["stats"]["unique_graphs"])
        return loss

    def graph_stats(self) -> GraphStats:
        if not self.config.compiled:
            return GraphStats(0, 0, 0, "none")
        graphs = int(counters["stats"]["unique_graphs"])
        hits = int(counters["inductor"]["fxgraph_cache_hit"])
        misses = int(counters["inductor"]["fxgraph_cache_miss"])
        cache = "none" if not hits + misses else "hit" if not misses else "miss" if not hits else "mixed"
        return GraphStats(
            unique_graphs=graphs,
            graph_breaks=int(sum(counters["graph_break"].values())),
            recompiles=max(0, graphs - (self._graphs_after_first or graphs)),
            compile_cache=cache,
        )

    def check_captured(self) -> GraphStats:
        """After the first call: raise if compiling captured nothing."""
        stats = self.graph_stats()
        if self.config.compiled and stats.unique_graphs == 0:
            raise SilentEagerError(
                f"torch.compile (mode {self.config.mode}, scope {self.config.scope}) captured no graph: "
                "the step would run eagerly without saying so"
            )
        return stats


def bind_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    *,
    precision: PrecisionContext = contextlib.nullcontext,
    config: CompileConfig = CompileConfig(),
    blocks: nn.Module | None = None,
    dynamo_settings: dict[str, object] | None = None,
) -> BoundStep:
    """Bind the pieces of a training step, compiling it as ``config`` says.

    ``blocks`` is the model's container of repeated blocks (scope ``blocks``);
    ``dynamo_settings`` are ``torch._dynamo.config`` values the compiled step
    runs under.
    """
    return BoundStep(
        model, optimizer, loss_fn, precision=precision, config=config, blocks=blocks, dynamo_settings=dynamo_settings
    )


def bind_forward_backward(
    model: nn.Module,
    loss_fn: nn.Module,
    *,
    precision: PrecisionContext = contextlib.nullcontext,
    config: CompileConfig = CompileConfig(),
    blocks: nn.Module | None = None,
) -> Callable[[Batch], torch.Tensor]:
    """Forward and backward only (gradients left in ``.grad``), compiled like a step.

    The parity check uses it to compare gradients before any optimizer step.
    """
    if not config.compiled:
        return lambda batch: forward_backward(model, batch, loss_fn, precision=precision)
    options = start_compile(config)
    if config.scope == "model":
        compiled_model = torch.compile(model, **options)
        fn = lambda batch: forward_backward(compiled_model, batch, loss_fn, precision=precision)  # noqa: E731
    elif config.scope == "blocks":
        compile_blocks(_needs_blocks(blocks), options)
        fn = lambda batch: forward_backward(model, batch, loss_fn, precision=precision)  # noqa: E731
    else:
        fn = torch.compile(lambda batch: forward_backward(model, batch, loss_fn, precision=precision), **options)
    if not config.fallback_random:
        return fn

    def with_eager_random(batch: Batch) -> torch.Tensor:
        with torch._inductor.config.patch(fallback_random=True):
            return fn(batch)

    return with_eager_random
