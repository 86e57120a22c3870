"""Runs TensorFlow preprocessing code inside and outside `tf.data`.

Tokenisation (tensorflow-text) and image conversion are TensorFlow code
whatever the Keras backend, like KerasHub's preprocessing layers. Inside a
`tf.data` map (or any `tf.function`) they run as they are; called eagerly,
they run as a cached `tf.function` and return backend tensors.
"""

import numpy as np
from keras_hub.src.utils.tensor_utils import convert_preprocessing_outputs


def _to_tf(value):
    import tensorflow as tf

    if isinstance(value, dict):
        return {key: _to_tf(item) for key, item in value.items()}
    if isinstance(value, (tf.Tensor, tf.RaggedTensor)):
        return value
    if isinstance(value, (str, bytes)):
        return tf.constant(value)
    if isinstance(value, (list, tuple)):
        return tf.constant(
            np.array(value, dtype=object if _has_text(value) else None)
        )
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        try:
            import keras

            value = keras.ops.convert_to_numpy(value)
        except Exception:  # pragma: no cover - foreign tensor types
            value = np.asarray(value)
    return tf.convert_to_tensor(value)


def _has_text(value):
    if isinstance(value, (list, tuple)):
        return any(_has_text(item) for item in value)
    return isinstance(value, (str, bytes))


def run_tf_preprocessing(layer, method_name, inputs):
    """Calls `layer.<method_name>(inputs)` as TensorFlow code.

    Inside a `tf.function`/`tf.data` graph the method runs directly on the
    graph tensors. Eagerly, inputs (lists of strings, numpy arrays, backend
    tensors) become TensorFlow tensors, the method runs as a `tf.function`
    cached on the layer (traced once per input shape and dtype), and the
    outputs are converted to the backend's tensors.

    Args:
        layer: the object owning the method.
        method_name: the name of a method written with TensorFlow ops.
        inputs: the method's single argument.

    Returns:
        The method's outputs (graph tensors in a graph; backend tensors
        otherwise).

    Example:
    >>> class Doubler:
    ...     def double(self, x):
    ...         return x * 2
    >>> out = run_tf_preprocessing(Doubler(), "double", [1, 2])
    >>> [int(v) for v in out]
    [2, 4]
    """
    import tensorflow as tf

    method = getattr(layer, method_name)
    if tf.inside_function():
        return method(inputs)
    cache = layer.__dict__.setdefault("_clinclip_tf_functions", {})
    function = cache.get(method_name)
    if function is None:
        # Traced once per input shape: the methods read static shapes (rank,
        # channels) that a relaxed trace would hide.
        function = tf.function(method)
        cache[method_name] = function
    with tf.device("cpu"):
        outputs = function(_to_tf(inputs))
    return convert_preprocessing_outputs(outputs)
