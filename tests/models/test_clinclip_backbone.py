"""ClinCLIPBackbone: outputs, serialization, saving, fit, errors."""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_clinclip.models import ClinCLIPBackbone
from keras_clinclip.models import encode_images
from keras_clinclip.models import encode_texts
from tests.helpers import tiny_backbone
from tests.helpers import tiny_batch


def _numpy(outputs):
    return {k: ops.convert_to_numpy(v) for k, v in outputs.items()}


def _unit(x):
    x = np.asarray(x, "float64")
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def full_model():
    """A tiny model with K=2 negations and a graph branch."""
    keras.utils.set_random_seed(1)
    return tiny_backbone(num_negations=2, graph_feature_dim=8)


@pytest.fixture(scope="module")
def full_batch():
    return tiny_batch(4, num_negations=2, graph_nodes=5, seed=3)


def test_outputs_shapes_dtypes_and_negations_share_the_text_tower(
    full_model, full_batch
):
    x, _ = full_batch
    out = _numpy(full_model(x))
    assert out["image_embeddings"].shape == (4, 16)
    assert out["text_embeddings"].shape == (4, 16)
    assert out["negation_embeddings"].shape == (4, 2, 16)
    assert out["graph_embeddings"].shape == (4, 16)
    assert out["logit_scale"].shape == (4, 1)
    for value in out.values():
        assert value.dtype == np.float32
    # Not normalised: the losses normalise.
    norms = np.linalg.norm(out["text_embeddings"], axis=-1)
    assert not np.allclose(norms, 1.0)
    # Each negation embedding is the text embedding of that negated report.
    flat_ids = x["negation_token_ids"].reshape(8, -1)
    flat_mask = x["negation_padding_mask"].reshape(8, -1)
    as_reports = encode_texts(full_model, flat_ids, flat_mask, batch_size=4)
    np.testing.assert_allclose(
        _unit(out["negation_embeddings"].reshape(8, -1)),
        as_reports,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        encode_texts(
            full_model, x["token_ids"], x["padding_mask"], batch_size=4
        ),
        _unit(out["text_embeddings"]),
        atol=1e-5,
    )


def test_logit_scale_starts_at_one_over_007_and_is_clamped(full_model):
    x, _ = tiny_batch(2)
    assert full_model.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)
    layer = full_model.logit_scale_layer
    old = ops.convert_to_numpy(layer.log_scale)
    try:
        layer.log_scale.assign(math.log(500.0))
        assert full_model.logit_scale == pytest.approx(100.0)
    finally:
        layer.log_scale.assign(old)


def test_padded_tokens_and_nodes_do_not_change_embeddings(
    full_model, full_batch
):
    x, _ = full_batch
    out = _numpy(full_model(x))
    # Garbage token ids where the padding mask is off, garbage features and
    # edges on padded graph nodes: a model honouring the masks ignores them.
    noisy = dict(x)
    rng = np.random.default_rng(0)
    for ids, mask in (
        ("token_ids", "padding_mask"),
        ("negation_token_ids", "negation_padding_mask"),
    ):
        garbage = rng.integers(5, 30, size=x[ids].shape).astype("int32")
        noisy[ids] = np.where(x[mask], x[ids], garbage)
    valid = x["graph_node_mask"] > 0
    assert not valid.all()
    noisy["graph_nodes"] = np.where(
        valid[..., None], x["graph_nodes"], 50.0
    ).astype("float32")
    pair = valid[:, :, None] & valid[:, None, :]
    noisy["graph_adjacency"] = np.where(pair, x["graph_adjacency"], 1.0)
    noisy_out = _numpy(full_model(noisy))
    for key in out:
        np.testing.assert_allclose(out[key], noisy_out[key], atol=1e-5)
    # ... while changing a valid token does change the text embedding.
    changed = dict(x, token_ids=x["token_ids"].copy())
    changed["token_ids"][0, 1] = 6 if x["token_ids"][0, 1] != 6 else 7
    changed_out = _numpy(full_model(changed))
    assert (
        np.abs(
            changed_out["text_embeddings"][0] - out["text_embeddings"][0]
        ).max()
        > 1e-4
    )


def test_config_round_trip_and_keras_file(full_model, full_batch, tmp_path):
    x, _ = full_batch
    expected = _numpy(full_model(x))
    config = full_model.get_config()
    clone = ClinCLIPBackbone.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(full_model.get_weights())
    for key, value in _numpy(clone(x)).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6)

    from keras_clinclip.losses import SoftLabelContrastive

    clone.compile(
        optimizer="adam",
        loss=SoftLabelContrastive(sources=("text",), soft_weight=0.3),
    )
    clone.optimizer.build(clone.trainable_variables)
    path = os.path.join(tmp_path, "model.keras")
    clone.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ClinCLIPBackbone)
    # Recompiled on load with the same loss configuration.
    (loss,) = restored.contrastive_losses
    assert isinstance(loss, SoftLabelContrastive)
    assert loss.get_config() == clone.contrastive_losses[0].get_config()
    for key, value in _numpy(restored(x)).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6)


def test_predict_on_tf_data_ignores_extra_keys(full_model, full_batch):
    x, y = full_batch
    expected = _numpy(full_model(x))
    batch = dict(x, extra_column=np.arange(4, dtype="float32"))
    dataset = tf.data.Dataset.from_tensor_slices((batch, y)).batch(3)
    predicted = full_model.predict(dataset, verbose=0)
    assert predicted["logit_scale"].shape == (4, 1)
    for key in expected:
        np.testing.assert_allclose(predicted[key], expected[key], atol=1e-4)


def test_encode_is_normalised_and_batch_size_independent(full_model):
    x, _ = tiny_batch(5, seed=7)
    whole = encode_images(full_model, x["images"], batch_size=64)
    pieces = encode_images(full_model, x["images"], batch_size=2)
    assert whole.shape == (5, 16) and whole.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(whole, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(whole, pieces, atol=1e-5)
    texts = encode_texts(
        full_model, x["token_ids"], x["padding_mask"], batch_size=2
    )
    np.testing.assert_allclose(np.linalg.norm(texts, axis=-1), 1.0, atol=1e-5)
    assert encode_images(full_model, x["images"][:0]).shape == (0, 16)


def test_encoding_keeps_no_state_in_the_model(tmp_path):
    # The compiled branches live in the batch encoder, not in the model:
    # a model that has encoded saves and reloads as one that has not.
    from keras_clinclip.models import clinclip_batch_encoder as encoder

    model = tiny_backbone()
    x, _ = tiny_batch(3, seed=4)
    before = list(vars(model))
    first = encode_images(model, x["images"])
    assert encoder._branch(model, "image") is encoder._branch(model, "image")
    assert list(vars(model)) == before
    path = os.path.join(tmp_path, "encoded.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        encode_images(restored, x["images"]), first, atol=1e-6
    )


def test_bad_inputs_name_the_input(full_model):
    x, _ = tiny_batch(2, num_negations=2, graph_nodes=3)
    with pytest.raises(ValueError, match="`images`.*rank|`images` must be"):
        full_model(dict(x, images=x["images"][0]))
    with pytest.raises(ValueError, match="`images` must have 3 channels"):
        full_model(dict(x, images=x["images"][..., :1]))
    too_long = np.ones((2, 40), "int32")
    with pytest.raises(ValueError, match="`token_ids` has 40 tokens.*32"):
        full_model(dict(x, token_ids=too_long, padding_mask=too_long))
    no_adjacency = {k: v for k, v in x.items() if k != "graph_adjacency"}
    with pytest.raises(ValueError, match="Missing input `graph_adjacency`"):
        full_model(no_adjacency)
    no_negations = {k: v for k, v in x.items() if not k.startswith("negation")}
    with pytest.raises(ValueError, match="negation_token_ids.*num_negations"):
        full_model(no_negations)
    wrong_k = dict(x, negation_token_ids=x["negation_token_ids"][:, :1])
    with pytest.raises(ValueError, match="num_negations=2"):
        full_model(wrong_k)
    with pytest.raises(ValueError, match="`images` must have 3 channels"):
        encode_images(full_model, x["images"][..., :1])
    with pytest.raises(ValueError, match="text_pooling"):
        tiny_backbone(text_pooling="max")


def test_fit_one_epoch_reduces_the_loss():
    from keras_clinclip.losses import SoftLabelContrastive

    keras.utils.set_random_seed(0)
    model = tiny_backbone(num_negations=1)
    x, y = tiny_batch(8, num_negations=1, seed=11)
    # A handful of pairs, repeated: one epoch of 6 steps.
    x = {k: np.concatenate([v] * 6) for k, v in x.items()}
    y = {k: np.concatenate([v] * 6) for k, v in y.items()}
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=SoftLabelContrastive(sources=("text", "clinical")),
    )
    before = model.evaluate(x, y, batch_size=8, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    after = model.evaluate(x, y, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert after < 0.8 * before, (before, after)


def test_compile_defaults_to_soft_label_contrastive():
    from keras_clinclip.losses import SoftLabelContrastive

    model = tiny_backbone()
    model.compile()
    assert isinstance(model.contrastive_losses[0], SoftLabelContrastive)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    graph_model = tiny_backbone(graph_feature_dim=4)
    graph_model.compile()
    # With a graph branch, GraphAlignment is what trains the graph encoder.
    assert [type(loss).__name__ for loss in graph_model.contrastive_losses] == [
        "SoftLabelContrastive",
        "GraphAlignment",
    ]


def test_mixed_bfloat16_outputs_and_float32_loss():
    from keras_clinclip.losses import SoftLabelContrastive

    model = tiny_backbone(dtype="mixed_bfloat16")
    x, y = tiny_batch(4, seed=2)
    out = model(x)
    assert keras.backend.standardize_dtype(out["image_embeddings"].dtype) == (
        "bfloat16"
    )
    assert keras.backend.standardize_dtype(out["logit_scale"].dtype) == (
        "float32"
    )
    assert model.text_encoder.dtype_policy.name == "mixed_bfloat16"
    # Weights stay float32 under the mixed policy.
    assert all(
        keras.backend.standardize_dtype(w.dtype) == "float32"
        for w in model.trainable_weights
    )
    model.compile(optimizer="sgd", loss=SoftLabelContrastive(sources=("text",)))
    loss = model.compute_loss(x=x, y=y, y_pred=out)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert np.isfinite(float(ops.convert_to_numpy(loss)))
    config = model.get_config()
    clone = ClinCLIPBackbone.from_config(config)
    assert clone.dtype_policy.name == "mixed_bfloat16"
