"""Value checks that work inside compiled steps on every backend.

`assert_finite` raises a `FloatingPointError` naming the tensor when it
holds NaN or inf: at once for concrete values (eager TensorFlow, PyTorch,
NumPy), from inside the compiled step under `jax.jit` (a host callback)
and in TensorFlow graphs (`tf.debugging`). It is what the losses'
`check_finite=True` uses; it costs a reduction and a host round-trip per
checked tensor, so it is opt-in. `assert_valid` raises a `ValueError` where
an element-wise rule fails, by the same three routes; the losses use it,
always on, for the few values of the labels and the logit scale.
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


def _where(index):
    """` at batch row 2, column 3`: a bad entry's place, counted from 1."""
    if not index:
        return ""
    names = ("row", "column")
    parts = [
        f"{names[axis] if axis < 2 else f'axis {axis}'} {int(i) + 1}"
        for axis, i in enumerate(index)
    ]
    return " at batch " + ", ".join(parts)


def _host_array(value):
    """A concrete value as a NumPy array (no op is staged: under a trace a
    NumPy constant stays NumPy)."""
    try:
        return keras.ops.convert_to_numpy(value)
    except ValueError:  # a TensorFlow bfloat16 tensor: NumPy has no type
        import tensorflow as tf

        return tf.cast(value, "float32").numpy()


def _check_valid_numpy(value, name, is_bad, rule):
    value = np.asarray(value, dtype="float64")
    bad = np.asarray(is_bad(value))
    if bad.any():
        index = tuple(np.argwhere(bad)[0]) if value.ndim else ()
        raise ValueError(
            f"`{name}` holds {float(value[index]):g}{_where(index)}: {rule}"
        )


def assert_valid(value, name, is_bad, rule):
    """Raise `ValueError` naming `name` where `is_bad(value)` holds.

    A cheap check that is always on (the losses' label values and logit
    scale): eager values are checked at once, `jax.jit` steps through a
    host callback, TensorFlow graphs with `tf.debugging.Assert`.

    Args:
        value: a tensor or array.
        name: the entry, e.g. `y_true['labels']`.
        is_bad: an element-wise predicate written with operators only
            (`==`, `<=`, `|`, `~`), so that it runs on NumPy arrays and
            on TensorFlow tensors alike.
        rule: what the values must be, and the fix (ends the message).

    Returns:
        `value` (under TensorFlow graphs, a tensor carrying the check).

    Example:
    >>> import numpy as np
    >>> try:
    ...     assert_valid(np.array([[1.0, 2.0]]), "labels",
    ...                  lambda x: x > 1, "at most 1.")
    ... except ValueError as error:
    ...     print(error)
    `labels` holds 2 at batch row 1, column 2: at most 1.
    """
    if not _is_traced(value):
        _check_valid_numpy(_host_array(value), name, is_bad, rule)
        return value
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        flat = tf.reshape(tf.cast(value, "float32"), [-1])
        bad = is_bad(flat)
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(bad)),
            [
                f"`{name}` holds the value below: {rule}",
                tf.boolean_mask(flat, bad)[:1],
            ],
        )
        with tf.control_dependencies([check]):
            return tf.identity(value)
    import jax

    def host_check(array):
        _check_valid_numpy(array, name, is_bad, rule)

    jax.debug.callback(host_check, value)
    return value
