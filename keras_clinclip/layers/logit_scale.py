"""CLIP's learnable temperature, as a positive multiplier."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_clinclip")
class LogitScale(keras.layers.Layer):
    """Learnable logit scale `s = min(exp(t), max_scale)`.

    CLIP learns the log-temperature `t`, initialised at `log(1 / 0.07)`,
    and multiplies cosine similarities by `s = exp(t)`, clamped at 100 so
    that training stays stable. The layer takes any tensor whose first axis
    is the batch and returns `s` repeated to shape `(batch, 1)`: a per-batch
    scalar that batches cleanly in `predict` and broadcasts row-wise
    against `(batch, n)` logits. The variable and the output are float32
    whatever the dtype policy.

    Args:
        initial_value: float. The initial multiplier `exp(t)`
            (default `1 / 0.07`).
        max_scale: float. The clamp on the multiplier (default 100).
        trainable: bool. Whether `t` is learned.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:
    >>> import numpy as np
    >>> layer = LogitScale()
    >>> s = keras.ops.convert_to_numpy(layer(np.zeros((3, 5), "float32")))
    >>> s.shape, round(float(s[0, 0]), 4)
    ((3, 1), 14.2857)
    """

    def __init__(
        self,
        initial_value=1.0 / 0.07,
        max_scale=100.0,
        trainable=True,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(trainable=trainable, **kwargs)
        if not initial_value > 0:
            raise ValueError(
                f"`initial_value` must be positive. Got {initial_value}."
            )
        if not max_scale > 0:
            raise ValueError(f"`max_scale` must be positive. Got {max_scale}.")
        self.initial_value = float(initial_value)
        self.max_scale = float(max_scale)

    def build(self, input_shape):
        self.log_scale = self.add_weight(
            name="log_scale",
            shape=(),
            initializer=keras.initializers.Constant(
                math.log(self.initial_value)
            ),
            trainable=self.trainable,
            dtype="float32",
        )
        self.built = True

    def scale(self):
        """The clamped multiplier as a float32 scalar tensor."""
        return ops.minimum(ops.exp(self.log_scale), self.max_scale)

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        return ops.broadcast_to(ops.reshape(self.scale(), (1, 1)), (batch, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update(
            {
                "initial_value": self.initial_value,
                "max_scale": self.max_scale,
            }
        )
        return config
