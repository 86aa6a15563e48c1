"""``hellotorch new-model NAME``: write a working plug-in model and a profile file for you to edit.

The plug-in is the package's template (:mod:`hellotorch.models.template`, a
small keyword spotter written against the documented contract) under your
name, and the profile file benchmarks it eager and compiled. Both are read
as text from the installed package, so this works outside any checkout and
imports no torch. Existing files are never overwritten (exit 2).
"""

from __future__ import annotations

import argparse
import keyword
from importlib import resources

from hellotorch.cli.options import non_empty
from hellotorch.errors import BadInput, ExitCode

TEMPLATE_NAME = "tiny_audio"

PROFILE = """# A benchmark matrix for your plug-in: `hellotorch bench --profile {name}.toml`, from this folder.
# Every key is in docs/plugins.md (models, batch_sizes, optimizers, modes, tasks, measurement settings).
description = "{name}: two batch sizes, eager and compiled, training and fine-tuning"
models = ["{name}:make_spec"]
batch_sizes = [8, 16]
optimizers = ["adamw"]
modes = ["eager", "default"]
tasks = ["train", "finetune"]
"""


def setup_arguments(commands: argparse._SubParsersAction) -> None:
    new = commands.add_parser("new-model", help="write a working plug-in model and profile file to edit")
    new.add_argument("name", type=non_empty, help="the model's name: a Python module name (letters, digits, _)")
    new.add_argument("--output", type=non_empty, default=".", help="folder to write NAME.py and NAME.toml in")
    new.set_defaults(handler=run_new_model)


def run_new_model(args: argparse.Namespace) -> int:
    from hellotorch.files import check_output_dir, write_text_atomic

    name = args.name
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("hellotorch"):
        raise BadInput(f"new-model {name!r}: the name must be a Python module name (letters, digits, _)")
    folder = check_output_dir(args.output, option="--output")
    module, profile = folder / f"{name}.py", folder / f"{name}.toml"
    for path in (module, profile):
        if path.exists():
            raise BadInput(f"new-model: {path} exists; not overwriting it (choose another name or --output)")
    source = resources.files("hellotorch.models").joinpath("template.py").read_text()
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(module, source.replace(TEMPLATE_NAME, name))
    write_text_atomic(profile, PROFILE.format(name=name))
    print(f"hellotorch new-model: wrote {module} and {profile}. From {folder}:")
    print(f"  hellotorch train --model {name}:make_spec --optimizer adamw --lr 1e-3 --steps 50")
    print(f"  hellotorch parity --model {name}:make_spec --optimizer adamw")
    print(f"  hellotorch bench --profile {name}.toml")
    print("Edit the backbone, the batch and the loss in the module; every field is in docs/plugins.md.")
    return ExitCode.OK
