"""The static shape of a tensor, a symbolic tensor or an array."""

import numpy as np


def static_shape(value):
    """The shape of `value` as a tuple of ints and Nones, or None.

    Keras tensors, backend tensors, numpy arrays and nested lists all
    work; a shape that is not known at all (a TensorFlow tensor of unknown
    rank) gives None.

    Args:
        value: a tensor, a `keras.KerasTensor`, an array or a list.

    Returns:
        A tuple (None for unknown dimensions), or None.

    Example:
    >>> import keras
    >>> static_shape(keras.KerasTensor((None, 4)))
    (None, 4)
    >>> static_shape([[1, 2, 3]])
    (1, 3)
    """
    shape = getattr(value, "shape", None)
    if shape is None:
        shape = np.shape(value)
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        return None
