"""Pooling of a tower's output into one vector per example."""

import keras
from keras import ops

_MODES = ("auto", "avg", "max", "cls", "none")


@keras.saving.register_keras_serializable(package="keras_clinclip")
class FeaturePooling(keras.layers.Layer):
    """Pools tower features of rank 2, 3 or 4 into `(batch, channels)`.

    - rank 4 `(B, H, W, C)` (CNN feature maps): `"avg"` or `"max"` over the
      spatial axes (`"auto"` = `"avg"`);
    - rank 3 `(B, T, D)` (transformer tokens): `"cls"` takes token 0,
      `"avg"`/`"max"` pool over tokens (`"auto"` = `"cls"`);
    - rank 2 `(B, D)`: returned as is.

    Args:
        mode: one of `"auto"`, `"avg"`, `"max"`, `"cls"`, `"none"` (only
            for inputs that are already `(B, D)`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:
    >>> import numpy as np
    >>> x = np.arange(8, dtype="float32").reshape(1, 2, 2, 2)
    >>> keras.ops.convert_to_numpy(FeaturePooling("avg")(x)).tolist()
    [[3.0, 4.0]]
    """

    def __init__(self, mode="auto", **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(
                f"`mode` must be one of {_MODES}. Got mode={mode!r}."
            )
        self.mode = mode

    def _resolve(self, rank):
        if rank == 2:
            return "none"
        if self.mode == "none":
            raise ValueError(
                f"FeaturePooling(mode='none') needs (batch, dim) features; "
                f"got a rank-{rank} tensor."
            )
        if self.mode == "auto":
            return "avg" if rank == 4 else "cls"
        if self.mode == "cls" and rank != 3:
            raise ValueError(
                f"FeaturePooling(mode='cls') needs (batch, tokens, dim) "
                f"features; got a rank-{rank} tensor."
            )
        return self.mode

    def call(self, inputs):
        rank = len(inputs.shape)
        if rank not in (2, 3, 4):
            raise ValueError(
                f"FeaturePooling takes rank 2, 3 or 4 features; got shape "
                f"{tuple(inputs.shape)}."
            )
        mode = self._resolve(rank)
        if mode == "none":
            return inputs
        if mode == "cls":
            return inputs[:, 0, :]
        axes = (1, 2) if rank == 4 else (1,)
        if mode == "max":
            return ops.max(inputs, axis=axes)
        return ops.mean(inputs, axis=axes)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
