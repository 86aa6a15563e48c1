"""hellotorch: does torch.compile pay off for your training step, and does it still learn the same thing?

The library's public pieces: the model, optimizer and compile-mode registries,
the one pure :func:`train_step`, and training / fine-tuning runs built on it.
"""

from hellotorch.compiling import COMPILE_MODES, CompileConfig, SilentEagerError, bind_step
from hellotorch.models import MODELS, build_model, make_batch
from hellotorch.optimizers import OPTIMIZERS, build_optimizer
from hellotorch.step import forward_backward, train_step
from hellotorch.training import FinetuneConfig, RunConfig, prepare_finetuning, prepare_training, train

__version__ = "0.1.0"

__all__ = [
    "COMPILE_MODES",
    "MODELS",
    "OPTIMIZERS",
    "CompileConfig",
    "FinetuneConfig",
    "RunConfig",
    "SilentEagerError",
    "bind_step",
    "build_model",
    "build_optimizer",
    "forward_backward",
    "make_batch",
    "prepare_finetuning",
    "prepare_training",
    "train",
    "train_step",
]
