"""Backend-specific code, in one place.

- `collectives`: the cross-replica gather with gradient that the losses
  use under `tf.distribute`, JAX `DataParallel` and torch DDP;
- `compile_guard`: Keras's own `compile` given one of our whole-dict
  losses says to use `ContrastiveModel`;
- `engines`: one typed set-up per engine (`tf_setup`, `jax_setup`,
  `torch_setup`) for the recipes and `train`;
- `keras_compat`: every workaround for a Keras bug, version-gated;
- `numerics`: the losses' opt-in NaN/inf check;
- `torch_ddp`: data parallelism for Keras's torch `fit`.

Everything else in the package uses `keras.ops` only.
"""

from keras_clinclip.backend import collectives
from keras_clinclip.backend import compile_guard
from keras_clinclip.backend import engines
from keras_clinclip.backend import keras_compat
from keras_clinclip.backend.numerics import assert_finite
from keras_clinclip.backend.numerics import assert_valid
from keras_clinclip.backend.torch_ddp import torch_data_parallel

__all__ = [
    "assert_finite",
    "assert_valid",
    "collectives",
    "compile_guard",
    "engines",
    "keras_compat",
    "torch_data_parallel",
]
