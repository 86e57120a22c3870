"""SoftLabelSigmoid: numpy reference and keras-hub's SigLIP loss."""

import keras
import numpy as np
import pytest
from keras_hub.src.models.siglip.siglip_loss import SigLIPLoss

from keras_clinclip.losses import SoftLabelSigmoid
from tests.losses import reference
from tests.losses.helpers import value_and_gradients


def _batch(n=6, seed=0, negations=True):
    y_true, y_pred = reference.random_batch(n=n, seed=seed)
    y_pred["logit_bias"] = np.float32(-3.0)
    if not negations:
        del y_pred["negation_embeddings"]
    return y_true, y_pred


def test_hard_targets_equal_keras_hub_siglip():
    y_true, y_pred = _batch(n=7, negations=False)
    ours = float(SoftLabelSigmoid(sources=())(y_true, y_pred))
    v = reference.normalize(y_pred["image_embeddings"])
    u = reference.normalize(y_pred["text_embeddings"])
    logits = (10.0 * v @ u.T - 3.0).astype("float32")
    m1_diag1 = (2 * np.eye(7) - 1).astype("float32")
    theirs = float(SigLIPLoss()(m1_diag1, logits))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    weight_zero = SoftLabelSigmoid(soft_weight=0.0)(y_true, y_pred)
    np.testing.assert_allclose(float(weight_zero), theirs, rtol=1e-5)


@pytest.mark.parametrize(
    "config",
    [
        dict(sources=()),
        dict(sources=("text",)),
        dict(sources=("clinical", "graph"), soft_weight=0.7),
        dict(sources=("text", "clinical", "graph"), negatives="own"),
        dict(sources=("clinical",), negation_soft_targets=True),
    ],
    ids=["hard", "text", "clinical_graph", "own", "neg_soft"],
)
def test_matches_numpy_reference(config):
    y_true, y_pred = _batch(seed=1)
    value = float(SoftLabelSigmoid(**config)(y_true, y_pred))
    expected = reference.soft_label_sigmoid(
        y_true,
        y_pred,
        sources=config["sources"],
        soft_weight=config.get("soft_weight", 0.5),
        negatives=config.get("negatives", "batch"),
        negation_soft_targets=config.get("negation_soft_targets", False),
    )
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_chunked_equals_unchunked_and_bias_is_required():
    y_true, y_pred = _batch(n=7, seed=2)

    def loss_fn(loss):
        return lambda image: loss(y_true, dict(y_pred, image_embeddings=image))

    image = y_pred["image_embeddings"]
    full, (g_full,) = value_and_gradients(loss_fn(SoftLabelSigmoid()), image)
    chunked, (g_chunk,) = value_and_gradients(
        loss_fn(SoftLabelSigmoid(chunk_size=3)), image
    )
    np.testing.assert_allclose(chunked, full, rtol=1e-6)
    np.testing.assert_allclose(g_chunk, g_full, rtol=1e-5, atol=1e-7)
    del y_pred["logit_bias"]
    with pytest.raises(KeyError, match="logit_bias"):
        SoftLabelSigmoid()(y_true, y_pred)


def test_low_precision_and_config_round_trip():
    y_true, y_pred = _batch(seed=3)
    low = {
        k: keras.ops.cast(np.asarray(v) * 100.0, "float16")
        for k, v in y_pred.items()
    }
    loss = SoftLabelSigmoid(target_temperature=0.2, negatives="own")
    value = loss(y_true, low)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert np.isfinite(float(value))
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, SoftLabelSigmoid)
    assert restored.get_config() == loss.get_config()
    np.testing.assert_allclose(float(restored(y_true, low)), float(value))
