"""GraphAlignment against the numpy reference."""

import keras
import numpy as np
import pytest

from keras_clinclip.losses import GraphAlignment
from tests.losses import reference


def _as_text(y_pred):
    """The reference of InfoNCE between images and graphs."""
    pred = dict(y_pred, text_embeddings=y_pred["graph_embeddings"])
    pred.pop("negation_embeddings", None)
    return pred


def test_hard_targets_are_info_nce_between_images_and_graphs():
    y_true, y_pred = reference.random_batch(n=6, d=4, dg=4, seed=0)
    value = float(GraphAlignment()(y_true, y_pred))
    expected = reference.plain_info_nce(
        y_pred["image_embeddings"], y_pred["graph_embeddings"], 10.0
    )
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    fixed = float(GraphAlignment(logit_scale=5.0)({}, _as_text(y_pred)))
    expected = reference.plain_info_nce(
        y_pred["image_embeddings"], y_pred["graph_embeddings"], 5.0
    )
    np.testing.assert_allclose(fixed, expected, rtol=1e-6)


def test_soft_targets_match_reference():
    y_true, y_pred = reference.random_batch(n=6, d=4, dg=4, seed=1)
    loss = GraphAlignment(sources=("clinical", "text"), soft_weight=0.6)
    value = float(loss(y_true, y_pred))
    # Soft targets from the report text and labels; columns are graphs.
    sim = reference.similarity(y_true, y_pred, ("clinical", "text"))
    targets = reference.targets(sim, 6, 0.1, 0.6)
    v = reference.normalize(y_pred["image_embeddings"])
    g = reference.normalize(y_pred["graph_embeddings"])
    logits = 10.0 * v @ g.T
    i2g = [-targets[i] @ reference.log_softmax(logits[i]) for i in range(6)]
    g2i = [-targets[j] @ reference.log_softmax(logits[:, j]) for j in range(6)]
    np.testing.assert_allclose(
        value, np.mean((np.array(i2g) + np.array(g2i)) / 2), rtol=1e-5
    )


def test_errors_and_config_round_trip():
    y_true, y_pred = reference.random_batch(n=4, d=4, dg=4, seed=2)
    pred = {k: v for k, v in y_pred.items() if k != "graph_embeddings"}
    with pytest.raises(KeyError, match="graph_embeddings"):
        GraphAlignment()(y_true, pred)
    loss = GraphAlignment(sources=("clinical",), logit_scale=20.0)
    config = loss.get_config()
    assert "negatives" not in config and "weight" not in config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, GraphAlignment)
    assert restored.get_config() == config
    np.testing.assert_allclose(
        float(restored(y_true, y_pred)), float(loss(y_true, y_pred))
    )


def test_sources_is_the_first_parameter():
    y_true, y_pred = reference.random_batch(n=5, d=4, dg=4, seed=3)
    positional = GraphAlignment(("clinical",))
    assert positional.get_config()["sources"] == ["clinical"]
    np.testing.assert_allclose(
        float(positional(y_true, y_pred)),
        float(GraphAlignment(sources=("clinical",))(y_true, y_pred)),
    )
