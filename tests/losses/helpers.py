"""Test helpers: a gradient of a keras.ops function on each backend."""

import keras
import numpy as np


def gradients(fn, *arrays):
    """d fn(*arrays) / d arrays, as float64 numpy arrays (all backends)."""
    backend = keras.backend.backend()
    arrays = [np.asarray(a, "float32") for a in arrays]
    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.Variable(a) for a in arrays]
        with tf.GradientTape() as tape:
            value = fn(*xs)
        grads = tape.gradient(value, xs)
        return [np.asarray(g, "float64") for g in grads]
    if backend == "jax":
        import jax

        grad = jax.grad(fn, argnums=tuple(range(len(arrays))))
        grads = jax.jit(grad)(*arrays)
        return [np.asarray(g, "float64") for g in grads]
    import torch

    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    value = fn(*xs)
    value.backward()
    return [x.grad.detach().numpy().astype("float64") for x in xs]


def value_and_gradients(fn, *arrays):
    """(fn(*arrays), its gradients) as numpy; compiled once under JAX."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        arrays = [np.asarray(a, "float32") for a in arrays]
        step = jax.jit(
            jax.value_and_grad(fn, argnums=tuple(range(len(arrays))))
        )
        value, grads = step(*arrays)
        return float(value), [np.asarray(g, "float64") for g in grads]
    value = float(keras.ops.convert_to_numpy(fn(*arrays)))
    return value, gradients(fn, *arrays)
