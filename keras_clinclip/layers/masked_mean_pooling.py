"""Mean over the valid positions of a padded sequence."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_clinclip")
class MaskedMeanPooling(keras.layers.Layer):
    """Averages `(batch, length, dim)` features over the valid positions.

    This is the sentence-transformers pooling of all-MiniLM-L6-v2: the sum
    of the token features where `mask` is true, divided by the number of
    valid tokens (at least 1e-9, so an all-padding row gives zeros rather
    than NaN). It is also used for graph nodes.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(batch, length, dim)`.
        padding_mask: bool or int tensor `(batch, length)`, true at valid
            positions; `None` averages all positions.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> mask = np.array([[True, True, False]])
    >>> keras.ops.convert_to_numpy(MaskedMeanPooling()(x, mask)).tolist()
    [[2.0]]
    """

    def call(self, features, padding_mask=None):
        if padding_mask is None:
            return ops.mean(features, axis=1)
        weights = ops.cast(padding_mask, features.dtype)[:, :, None]
        total = ops.sum(features * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), 1e-9)
        return total / count

    def compute_output_shape(self, features_shape, padding_mask_shape=None):
        return (features_shape[0], features_shape[2])
