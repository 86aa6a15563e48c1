"""The example plug-in model: a small 1-D convolutional keyword spotter on synthetic waveforms.

It is the template ``hellotorch new-model`` writes (``hellotorch/models/template.py``,
shipped in the package), importable here from the repository's root folder::

    hellotorch train --model examples.tiny_audio:make_spec --optimizer adamw --lr 1e-3 --steps 50
    hellotorch parity --model examples.tiny_audio:make_spec --optimizer adamw
    hellotorch bench --profile examples/tiny_audio.toml
"""

from hellotorch.models.template import make_spec

__all__ = ["make_spec"]
