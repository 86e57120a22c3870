"""Value checks that work inside compiled steps on every backend.

`assert_finite` raises a `FloatingPointError` naming the tensor when it
holds NaN or inf: at once for concrete values (eager TensorFlow, PyTorch,
NumPy), from inside the compiled step under `jax.jit` (a host callback)
and in TensorFlow graphs (`tf.debugging`). It is what the losses'
`check_finite=True` uses; it costs a reduction and a host round-trip per
checked tensor, so it is opt-in.
"""

import keras
import numpy as np


def _message(name, what):
    return (
        f"`{name}` holds {what}. Look at the model output or batch entry "
        f"`{name}` (e.g. a diverged tower, a bad image, an unclamped "
        "scale); `check_finite=False` skips this check."
    )


def _check_numpy(value, name, positive):
    value = np.asarray(value, dtype="float64")
    bad = ~np.isfinite(value)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FloatingPointError(
            _message(name, f"NaN or inf (first at index {where})")
        )
    if positive and (value <= 0).any():
        raise FloatingPointError(
            _message(name, f"a value <= 0 ({float(value.min()):g})")
        )


def _is_traced(value):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return isinstance(value, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return isinstance(value, tf.Tensor) and not hasattr(value, "numpy")
    return False


def assert_finite(value, name, positive=False):
    """Raise `FloatingPointError` naming `name` when `value` is not finite.

    Args:
        value: a tensor or array.
        name: the name used in the message (a batch or output key).
        positive: also require every value to be > 0.

    Returns:
        `value` (under TensorFlow graphs, a tensor carrying the check).

    Example:
    >>> import numpy as np
    >>> assert_finite(np.ones(3, "float32"), "image_embeddings").shape
    (3,)
    >>> try:
    ...     assert_finite(np.array([1.0, np.nan]), "text_embeddings")
    ... except FloatingPointError as error:
    ...     print(str(error).split(" holds")[0])
    `text_embeddings`
    """
    if not _is_traced(value):
        _check_numpy(keras.ops.convert_to_numpy(value), name, positive)
        return value
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        checked = tf.debugging.check_numerics(
            tf.cast(value, "float32"), _message(name, "NaN or inf")
        )
        deps = [checked]
        if positive:
            deps.append(
                tf.debugging.assert_positive(
                    checked, message=_message(name, "a value <= 0")
                )
            )
        with tf.control_dependencies(deps):
            return tf.identity(value)
    import jax

    def host_check(array):
        _check_numpy(array, name, positive)

    jax.debug.callback(host_check, value)
    return value
