"""A tiny functional ContrastiveModel producing the losses' dict."""

import keras
import numpy as np

from keras_clinclip.models import ContrastiveModel


class ScaleOutput(keras.layers.Layer):
    """exp(t) with t learnable (init log 10), broadcast to (batch, 1)."""

    def build(self, input_shape):
        self.t = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(np.log(10.0)),
            name="t",
        )

    def call(self, x):
        return keras.ops.ones_like(x[:, :1]) * keras.ops.exp(self.t)


class BiasOutput(keras.layers.Layer):
    """A learnable bias b (init -2), broadcast to (batch, 1)."""

    def build(self, input_shape):
        self.b = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(-2.0), name="b"
        )

    def call(self, x):
        return keras.ops.ones_like(x[:, :1]) * self.b


def tiny_model(d=4, k=2, seed=0, bias=False):
    keras.utils.set_random_seed(seed)
    image = keras.Input((6,), name="image")
    text = keras.Input((5,), name="text")
    negations = keras.Input((k, 5), name="negations")
    graph = keras.Input((3,), name="graph")
    text_tower = keras.layers.Dense(d, name="text_tower")
    outputs = {
        "image_embeddings": keras.layers.Dense(d, name="image_tower")(image),
        "text_embeddings": text_tower(text),
        "negation_embeddings": text_tower(negations),
        "graph_embeddings": keras.layers.Dense(d, name="graph_tower")(graph),
        "logit_scale": ScaleOutput(name="scale")(image),
    }
    if bias:
        outputs["logit_bias"] = BiasOutput(name="bias")(image)
    return ContrastiveModel(
        {"image": image, "text": text, "negations": negations, "graph": graph},
        outputs,
    )


def tiny_data(n=8, k=2, c=4, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "image": rng.normal(size=(n, 6)).astype("float32"),
        "text": rng.normal(size=(n, 5)).astype("float32"),
        "negations": rng.normal(size=(n, k, 5)).astype("float32"),
        "graph": rng.normal(size=(n, 3)).astype("float32"),
    }
    labels = rng.choice([1.0, 0.0, -1.0, np.nan], size=(n, c))
    neg_labels = np.repeat(labels[:, None], k, axis=1).copy()
    neg_labels[..., 0] = 0.0
    y = {
        "labels": labels.astype("float32"),
        "negation_mask": (rng.random((n, k)) > 0.3).astype("float32"),
        "negation_labels": neg_labels.astype("float32"),
    }
    return x, y


def assert_same_step(reference, other, label):
    """Two (weights, history) results of one fit step agree (1e-5)."""
    (ref_weights, ref_history), (weights, history) = reference, other
    worst = max(np.abs(a - b).max() for a, b in zip(ref_weights, weights))
    print(f"max weight difference, {label}", worst)
    print("loss", ref_history.history["loss"], label, history.history["loss"])
    np.testing.assert_allclose(
        history.history["loss"], ref_history.history["loss"], rtol=1e-5
    )
    assert worst < 1e-5, (label, worst)
