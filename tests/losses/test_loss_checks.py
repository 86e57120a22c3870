"""What the losses reject or flag: defaults, NaN/inf, scales, masks, empty."""

import keras
import numpy as np
import pytest

from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.losses import SoftLabelSigmoid
from tests.losses import reference
from tests.losses.helpers import value_and_gradients


def _without(batch, *keys):
    return {k: v for k, v in batch.items() if k not in keys}


def test_default_sources_are_those_in_the_batch_and_said_once(capsys):
    y_true, y_pred = reference.random_batch(n=5, seed=1)
    pred = _without(y_pred, "graph_embeddings")
    loss = SoftLabelContrastive()
    value = float(loss(y_true, pred))
    expected = float(
        SoftLabelContrastive(sources=("text", "clinical"))(y_true, pred)
    )
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    loss(y_true, pred)
    said = capsys.readouterr().out
    assert said.count("soft-target sources from the batch") == 1
    assert "text, clinical" in said and "absent: graph" in said


def test_default_with_every_source_equals_the_full_definition():
    y_true, y_pred = reference.random_batch(n=5, seed=2)
    value = float(SoftLabelContrastive()(y_true, y_pred))
    expected = reference.soft_label_contrastive(
        y_true, y_pred, sources=("text", "clinical", "graph")
    )
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_named_sources_stay_strict_and_suggest_auto():
    y_true, y_pred = reference.random_batch(n=3, seed=3)
    with pytest.raises(KeyError, match='sources="auto"'):
        SoftLabelContrastive(sources=("graph",))(
            y_true, _without(y_pred, "graph_embeddings")
        )


@pytest.mark.parametrize(
    "key", ["image_embeddings", "text_embeddings", "logit_scale"]
)
def test_check_finite_names_the_key(key):
    y_true, y_pred = reference.random_batch(n=4, seed=4)
    bad = dict(y_pred)
    value = np.array(bad[key], "float32", copy=True)
    value.reshape(-1)[0] = np.nan
    bad[key] = value
    # Without the check the loss is silently NaN.
    assert np.isnan(float(SoftLabelContrastive()(y_true, bad)))
    with pytest.raises(FloatingPointError, match=key):
        SoftLabelContrastive(check_finite=True)(y_true, bad)


def test_check_finite_flags_a_non_positive_scale():
    y_true, y_pred = reference.random_batch(n=4, seed=5)
    bad = dict(y_pred, logit_scale=np.float32(-3.0))
    with pytest.raises(FloatingPointError, match="logit_scale.*<= 0"):
        SoftLabelContrastive(check_finite=True)(y_true, bad)


def test_check_finite_inside_a_compiled_fit_step():
    """The check fires from inside `fit`'s compiled step on each backend."""
    from keras_clinclip.models import ContrastiveModel

    images = keras.Input((3,), name="images")
    texts = keras.Input((3,), name="texts")
    image_embeddings = keras.layers.Dense(4)(images)
    model = ContrastiveModel(
        {"images": images, "texts": texts},
        {
            "image_embeddings": image_embeddings,
            "text_embeddings": keras.layers.Dense(4)(texts),
            "logit_scale": keras.layers.Lambda(
                lambda x: keras.ops.ones_like(x[:, :1]) * 10.0
            )(image_embeddings),
        },
    )
    model.compile(
        optimizer="sgd",
        loss=SoftLabelContrastive(sources=(), check_finite=True),
    )
    x = {
        "images": np.ones((4, 3), "float32"),
        "texts": np.ones((4, 3), "float32"),
    }
    x["images"][2, 1] = np.nan
    y = {"labels": np.zeros((4, 2), "float32")}
    with pytest.raises(Exception, match="image_embeddings"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)


def test_check_finite_on_labels_and_valid_negations_inside_a_graph():
    """The checks of entries the loss rewrites also fire when compiled."""
    y_true, y_pred = reference.random_batch(n=4, k=2, seed=7)
    loss = SoftLabelContrastive(check_finite=True)
    compiled = _compiled(loss)
    labels = y_true["labels"].copy()
    labels[1, 2] = np.inf
    with pytest.raises(Exception, match="labels"):
        float(compiled(dict(y_true, labels=labels), y_pred))
    mask = np.ones_like(y_true["negation_mask"])
    negations = y_pred["negation_embeddings"].copy()
    negations[0, 1, 0] = np.nan
    with pytest.raises(Exception, match="negation_embeddings"):
        float(
            compiled(
                dict(y_true, negation_mask=mask),
                dict(y_pred, negation_embeddings=negations),
            )
        )
    # NaN labels ("not mentioned") and NaN in a masked slot are fine.
    mask[0, 1] = 0.0
    value = compiled(
        dict(y_true, negation_mask=mask),
        dict(y_pred, negation_embeddings=negations),
    )
    assert np.isfinite(float(value))


def _compiled(loss):
    """The loss as the backend's compiled function (eager on torch)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda t, p: loss(t, p))
    if backend == "jax":
        import jax

        return jax.jit(lambda t, p: loss(t, p))
    return loss


def test_non_positive_scales_are_rejected_at_construction():
    with pytest.raises(ValueError, match="max_logit_scale"):
        SoftLabelContrastive(max_logit_scale=0.0)
    with pytest.raises(ValueError, match="logit_scale"):
        GraphAlignment(logit_scale=-1.0)


@pytest.mark.parametrize("negatives", ["batch", "own"])
def test_masked_slots_add_exactly_zero_whatever_they_hold(negatives):
    y_true, y_pred = reference.random_batch(n=4, k=2, seed=6)
    mask = y_true["negation_mask"].copy()
    mask[:] = 1.0
    mask[1, 0] = 0.0
    y_true = dict(y_true, negation_mask=mask)
    loss = SoftLabelContrastive(sources=("text",), negatives=negatives)

    def fn(image, text, negations):
        pred = dict(
            y_pred,
            image_embeddings=image,
            text_embeddings=text,
            negation_embeddings=negations,
        )
        return loss(y_true, pred)

    args = [
        y_pred["image_embeddings"],
        y_pred["text_embeddings"],
        y_pred["negation_embeddings"],
    ]
    clean, clean_grads = value_and_gradients(fn, *args)
    poisoned = args[2].copy()
    poisoned[1, 0] = np.nan
    value, grads = value_and_gradients(fn, args[0], args[1], poisoned)
    assert value == pytest.approx(clean, rel=1e-6)
    for got, want in zip(grads, clean_grads):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert np.all(grads[2][1, 0] == 0.0)
    # Changing a masked slot to another finite value changes nothing.
    poisoned[1, 0] = 123.0
    value, _ = value_and_gradients(fn, args[0], args[1], poisoned)
    assert value == pytest.approx(clean, rel=1e-6)


@pytest.mark.parametrize(
    "loss", [SoftLabelContrastive(), SoftLabelSigmoid(), GraphAlignment()]
)
def test_an_empty_batch_is_a_clear_error(loss):
    empty = np.zeros((0, 8), "float32")
    y_pred = {
        "image_embeddings": empty,
        "text_embeddings": empty,
        "graph_embeddings": empty,
        "logit_scale": np.float32(10.0),
        "logit_bias": np.float32(-10.0),
    }
    with pytest.raises(ValueError, match="empty batch"):
        loss({"labels": np.zeros((0, 3), "float32")}, y_pred)


@pytest.mark.parametrize("bad", [2.0, np.inf, 0.5])
def test_labels_outside_the_convention_are_an_error_by_default(bad):
    """Issue 30, item 11: no `check_finite` needed; eager and compiled."""
    y_true, y_pred = reference.random_batch(n=4, seed=8)
    labels = y_true["labels"].copy()
    labels[2, 1] = bad
    bad_true = dict(y_true, labels=labels)
    loss = SoftLabelContrastive(sources=("clinical",))
    with pytest.raises(ValueError, match=r"labels.*row 3, column 2"):
        loss(bad_true, y_pred)
    with pytest.raises(Exception, match="CheXpert convention"):
        float(_compiled(loss)(bad_true, y_pred))
    # The check holds whatever the sources: the labels are in the batch.
    negation_labels = y_true["negation_labels"].copy()
    negation_labels[0, 1, 0] = bad
    with pytest.raises(ValueError, match="negation_labels"):
        SoftLabelContrastive(negation_soft_targets=True)(
            dict(y_true, negation_labels=negation_labels), y_pred
        )


@pytest.mark.parametrize("scale", [0.0, -3.0])
def test_a_non_positive_logit_scale_is_an_error_by_default(scale):
    y_true, y_pred = reference.random_batch(n=4, seed=9)
    bad = dict(y_pred, logit_scale=np.float32(scale))
    loss = SoftLabelSigmoid(sources=())
    bad["logit_bias"] = np.float32(-1.0)
    with pytest.raises(ValueError, match="logit_scale.*positive"):
        loss(y_true, bad)
    with pytest.raises(Exception, match="positive multiplier"):
        float(_compiled(loss)(y_true, bad))
    # NaN stays `check_finite`'s: without it the loss is silently NaN.
    nan = dict(bad, logit_scale=np.float32(np.nan))
    assert np.isnan(float(loss(y_true, nan)))
