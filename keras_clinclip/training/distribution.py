"""Engine set-up for the recipes: moved to `keras_clinclip.backend.engines`.

This module keeps the old import path for a release. The set-ups live in
`keras_clinclip.backend.engines`, the data sharding in
`keras_clinclip.data.sharding`, the torch DDP helpers in
`keras_clinclip.backend.torch_ddp` and the Keras workarounds in
`keras_clinclip.backend.keras_compat`.

Example:
>>> from keras_clinclip.training import distribution
>>> from keras_clinclip.backend import engines
>>> distribution.tf_setup is engines.tf_setup
True
"""

from keras_clinclip.backend import keras_compat
from keras_clinclip.backend.engines import JaxSetup  # noqa: F401
from keras_clinclip.backend.engines import SaveWeightsAlone  # noqa: F401
from keras_clinclip.backend.engines import Setup  # noqa: F401
from keras_clinclip.backend.engines import TFSetup  # noqa: F401
from keras_clinclip.backend.engines import TorchSetup  # noqa: F401
from keras_clinclip.backend.engines import jax_setup  # noqa: F401
from keras_clinclip.backend.engines import model_parallel_layout  # noqa: F401
from keras_clinclip.backend.engines import save_weights_alone  # noqa: F401
from keras_clinclip.backend.engines import tf_setup  # noqa: F401
from keras_clinclip.backend.engines import torch_setup  # noqa: F401
from keras_clinclip.backend.torch_ddp import all_reduce_gradients  # noqa: F401
from keras_clinclip.backend.torch_ddp import broadcast_weights  # noqa: F401
from keras_clinclip.data.sharding import local_stream  # noqa: F401
from keras_clinclip.data.sharding import take_rows  # noqa: F401


def fix_tf_distributed_fit(model, sample_batch=None):
    """Apply the Keras workarounds to a model trained under `tf.distribute`.

    Kept for existing scripts: ClinCLIP models (every
    `ContrastiveLossMixin` model) need no call, and other models can use
    `keras_clinclip.backend.keras_compat.patch_model`, which this calls.
    See that module for the bugs and the Keras versions that have them.

    Args:
        model: a Keras model created in the strategy's scope.
        sample_batch: an `(x, y)` batch with the training data's
            structure (any batch size), used for Keras's symbolic build.

    Returns:
        The model.

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.layers.Dense(1)])
    >>> fix_tf_distributed_fit(model) is model
    True
    """
    return keras_compat.patch_model(model, sample_batch=sample_batch)


def fix_tf_gradient_clipping(optimizer, num_replicas):
    """Clip the *summed* gradients under `tf.distribute` (a Keras bug).

    Kept for existing scripts: `compile` on a ClinCLIP model already does
    it (`keras_clinclip.backend.keras_compat.clip_after_reduce`).

    Args:
        optimizer: a Keras optimizer (TensorFlow backend).
        num_replicas: replicas in sync.

    Returns:
        The optimizer.

    Example:
    >>> import keras
    >>> optimizer = keras.optimizers.SGD(global_clipnorm=1.0)
    >>> fix_tf_gradient_clipping(optimizer, 1).global_clipnorm
    1.0
    """
    return keras_compat.clip_after_reduce(optimizer, num_replicas)
