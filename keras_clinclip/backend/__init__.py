"""Backend-specific code, in one place: value checks, the Keras
workarounds (`keras_compat`) and data parallelism for PyTorch's `fit`.
Everything else in the package uses `keras.ops` only."""

from keras_clinclip.backend import collectives
from keras_clinclip.backend import keras_compat
from keras_clinclip.backend.numerics import assert_finite
from keras_clinclip.backend.torch_ddp import torch_data_parallel

__all__ = [
    "assert_finite",
    "collectives",
    "keras_compat",
    "torch_data_parallel",
]
