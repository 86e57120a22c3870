"""SoftLabelContrastive against the numpy reference, on every backend."""

import keras
import numpy as np
import pytest

from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.losses import soft_targets
from tests.losses import reference
from tests.losses.helpers import gradients
from tests.losses.helpers import value_and_gradients

ALL = ("text", "clinical", "graph")

CONFIGS = {
    "clip": dict(sources=()),
    "text": dict(sources=("text",)),
    "clinical": dict(sources=("clinical",)),
    "graph": dict(sources=("graph",)),
    "all": dict(sources=ALL),
    "weighted": dict(
        sources=ALL, source_weights={"text": 2.0, "clinical": 1.0, "graph": 0.5}
    ),
    "uncertain_half": dict(sources=("clinical",), uncertain_value=0.5),
    "all_neg_batch": dict(sources=ALL, negatives="batch"),
    "all_neg_own": dict(sources=ALL, negatives="own"),
    "neg_soft_batch": dict(
        sources=("text", "clinical"), negation_soft_targets=True
    ),
    "neg_soft_own": dict(
        sources=("clinical",), negatives="own", negation_soft_targets=True
    ),
    "soft_weight_1": dict(sources=ALL, soft_weight=1.0, target_temperature=0.5),
    "soft_weight_0": dict(sources=ALL, soft_weight=0.0),
}


def _reference(config, y_true, y_pred):
    weights = config.get("source_weights")
    return reference.soft_label_contrastive(
        y_true,
        y_pred,
        sources=config.get("sources", ALL),
        weights=weights,
        temperature=config.get("target_temperature", 0.1),
        soft_weight=config.get("soft_weight", 0.5),
        uncertain_value=config.get("uncertain_value", 1.0),
        negatives=config.get("negatives", "batch"),
        negation_soft_targets=config.get("negation_soft_targets", False),
    )


def _drop_negations(y_true, y_pred):
    y_pred = {k: v for k, v in y_pred.items() if k != "negation_embeddings"}
    return y_true, y_pred


CASES = [(name, True) for name in sorted(CONFIGS)] + [
    (name, False)
    for name in sorted(CONFIGS)
    if not CONFIGS[name].get("negation_soft_targets")
]


@pytest.mark.parametrize("name,with_negations", CASES)
def test_matches_numpy_reference(name, with_negations):
    config = CONFIGS[name]
    y_true, y_pred = reference.random_batch(seed=len(name))
    if not with_negations:
        y_true, y_pred = _drop_negations(y_true, y_pred)
    value = float(SoftLabelContrastive(**config)(y_true, y_pred))
    expected = _reference(config, y_true, y_pred)
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("negatives", ["batch", "own"])
def test_all_normal_batch_and_scale_clamp(negatives):
    y_true, y_pred = reference.random_batch(seed=3, all_normal=True, scale=500)
    config = dict(sources=ALL, negatives=negatives)
    value = float(SoftLabelContrastive(**config)(y_true, y_pred))
    np.testing.assert_allclose(
        value, _reference(config, y_true, y_pred), rtol=1e-5, atol=1e-5
    )
    # The clamp is at 100: scale 500 gives the loss of scale 100.
    y_pred["logit_scale"] = np.float32(100.0)
    same = float(SoftLabelContrastive(**config)(y_true, y_pred))
    np.testing.assert_allclose(value, same, rtol=1e-6)


def test_single_study():
    y_true, y_pred = reference.random_batch(n=1, seed=4)
    value = float(SoftLabelContrastive()(y_true, y_pred))
    np.testing.assert_allclose(
        value, _reference({}, y_true, y_pred), rtol=1e-5, atol=1e-6
    )
    y_true, y_pred = _drop_negations(y_true, y_pred)
    assert abs(float(SoftLabelContrastive()(y_true, y_pred))) < 1e-6


@pytest.mark.parametrize(
    "config", [dict(sources=()), dict(sources=ALL, soft_weight=0.0)]
)
def test_hard_targets_equal_plain_info_nce(config):
    y_true, y_pred = reference.random_batch(n=7, seed=5)
    y_true, y_pred = _drop_negations(y_true, y_pred)
    value = float(SoftLabelContrastive(**config)(y_true, y_pred))
    expected = reference.plain_info_nce(
        y_pred["image_embeddings"], y_pred["text_embeddings"], 10.0
    )
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_soft_targets_helper_matches_reference():
    y_true, y_pred = reference.random_batch(n=5, seed=6)
    got = keras.ops.convert_to_numpy(
        soft_targets(y_true, y_pred, target_temperature=0.2, soft_weight=0.3)
    )
    sim = reference.similarity(y_true, y_pred, ALL)
    np.testing.assert_allclose(
        got, reference.targets(sim, 5, 0.2, 0.3), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(got.sum(axis=1), np.ones(5), rtol=1e-6)


@pytest.mark.parametrize(
    "config",
    [
        dict(negation_soft_targets=True),
        dict(sources=("text", "graph"), negatives="own"),
    ],
    ids=["all_batch_soft_negations", "own"],
)
@pytest.mark.parametrize("n,chunk", [(7, 3), (8, 4)], ids=["tail", "even"])
def test_chunked_equals_unchunked(config, n, chunk):
    """Same value and gradient in row blocks as in one (all inputs)."""
    y_true, y_pred = reference.random_batch(n=n, seed=7)
    keys = ("image_embeddings", "text_embeddings", "negation_embeddings")

    def loss_fn(loss):
        def fn(*embeddings):
            return loss(y_true, dict(y_pred, **dict(zip(keys, embeddings))))

        return fn

    args = [y_pred[k] for k in keys]
    full_value, full_grads = value_and_gradients(
        loss_fn(SoftLabelContrastive(**config)), *args
    )
    chunk_value, chunk_grads = value_and_gradients(
        loss_fn(SoftLabelContrastive(chunk_size=chunk, **config)), *args
    )
    np.testing.assert_allclose(chunk_value, full_value, rtol=1e-6)
    np.testing.assert_allclose(
        full_value, _reference(config, y_true, y_pred), rtol=1e-5
    )
    for g_full, g_chunk in zip(full_grads, chunk_grads):
        assert np.abs(g_full).max() > 0
        np.testing.assert_allclose(g_chunk, g_full, rtol=1e-5, atol=1e-7)


def test_gradient_finite_differences_and_stop_gradient():
    """Autodiff equals finite differences of the reference with frozen
    targets, and differs from those of the reference with live targets."""
    y_true, y_pred = reference.random_batch(n=4, d=5, k=1, seed=8)
    config = dict(sources=("text", "clinical"), soft_weight=0.8)
    loss = SoftLabelContrastive(**config)

    def fn(text):
        pred = dict(y_pred, text_embeddings=text)
        return loss(y_true, pred)

    text = y_pred["text_embeddings"].astype("float64")
    (grad,) = gradients(fn, text)
    frozen = reference.similarity(y_true, y_pred, config["sources"])

    def ref(t, freeze):
        pred = dict(y_pred, text_embeddings=t)
        if not freeze:
            return reference.soft_label_contrastive(y_true, pred, **_kw(config))
        # Same maths, with the targets of the unperturbed batch.
        original = reference.similarity
        reference.similarity = lambda *a, **k: frozen
        try:
            return reference.soft_label_contrastive(y_true, pred, **_kw(config))
        finally:
            reference.similarity = original

    eps = 1e-5
    fd_frozen = np.zeros_like(text)
    fd_live = np.zeros_like(text)
    for index in np.ndindex(*text.shape):
        for freeze, out in ((True, fd_frozen), (False, fd_live)):
            plus, minus = text.copy(), text.copy()
            plus[index] += eps
            minus[index] -= eps
            out[index] = (ref(plus, freeze) - ref(minus, freeze)) / (2 * eps)
    np.testing.assert_allclose(grad, fd_frozen, rtol=2e-3, atol=2e-4)
    assert np.abs(fd_live - fd_frozen).max() > 1e-2


def _kw(config):
    return dict(
        sources=config["sources"], soft_weight=config.get("soft_weight", 0.5)
    )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_inputs_give_finite_float32(dtype):
    y_true, y_pred = reference.random_batch(n=6, seed=9)
    low = {
        k: keras.ops.cast(v * 300.0, dtype) if k != "logit_scale" else v
        for k, v in y_pred.items()
    }
    low["logit_scale"] = keras.ops.cast(1e4, dtype)
    loss = SoftLabelContrastive()
    value = loss(y_true, low)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert np.isfinite(float(value))
    ref_pred = {
        k: keras.ops.convert_to_numpy(keras.ops.cast(v, "float32"))
        for k, v in low.items()
    }
    np.testing.assert_allclose(
        float(value), _reference({}, y_true, ref_pred), rtol=1e-4
    )


def test_soft_weight_schedule_reads_training_step():
    y_true, y_pred = reference.random_batch(n=5, seed=10)
    schedule = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=0.0, decay_steps=10, end_learning_rate=1.0
    )
    loss = SoftLabelContrastive(soft_weight=schedule)
    with pytest.raises(KeyError, match="training_step"):
        loss(y_true, y_pred)
    value = float(loss(y_true, dict(y_pred, training_step=np.float32(5))))
    expected = _reference({"soft_weight": 0.5}, y_true, y_pred)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    restored = SoftLabelContrastive.from_config(loss.get_config())
    value = float(restored(y_true, dict(y_pred, training_step=np.float32(10))))
    expected = _reference({"soft_weight": 1.0}, y_true, y_pred)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_errors_name_the_missing_key_option_and_present_keys():
    y_true, y_pred = reference.random_batch(n=3, seed=11)
    pred = {k: v for k, v in y_pred.items() if k != "graph_embeddings"}
    with pytest.raises(KeyError) as info:
        SoftLabelContrastive(sources=("text", "clinical", "graph"))(
            y_true, pred
        )
    message = str(info.value)
    assert "graph_embeddings" in message and "sources" in message
    assert "image_embeddings" in message  # the keys present
    assert 'sources="auto"' in message  # the way out
    with pytest.raises(KeyError, match="labels"):
        SoftLabelContrastive(sources=("clinical",))({}, y_pred)
    true = {k: v for k, v in y_true.items() if k != "negation_mask"}
    with pytest.raises(KeyError, match="negation_mask"):
        SoftLabelContrastive(sources=())(true, y_pred)
    with pytest.raises(KeyError, match="logit_scale"):
        pred = {k: v for k, v in y_pred.items() if k != "logit_scale"}
        SoftLabelContrastive(sources=())(y_true, pred)
    bad = dict(y_pred, text_embeddings=y_pred["text_embeddings"][:2])
    with pytest.raises(ValueError, match=r"\(3, 8\).*\(2, 8\)"):
        SoftLabelContrastive(sources=())(y_true, bad)
    with pytest.raises(ValueError, match="sources"):
        SoftLabelContrastive(sources=("words",))
    with pytest.raises(ValueError, match="clinical"):
        SoftLabelContrastive(sources=("text",), negation_soft_targets=True)
    with pytest.raises(TypeError, match="dict"):
        SoftLabelContrastive()(y_true, y_pred["image_embeddings"])


def test_auto_sources_use_what_is_there():
    y_true, y_pred = reference.random_batch(n=4, seed=12)
    pred = {k: v for k, v in y_pred.items() if k != "graph_embeddings"}
    value = float(SoftLabelContrastive(sources="auto")(y_true, pred))
    expected = _reference({"sources": ("text", "clinical")}, y_true, pred)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_config_round_trip():
    loss = SoftLabelContrastive(
        sources=("text", "clinical"),
        source_weights=[1.0, 3.0],
        target_temperature=0.3,
        soft_weight=0.25,
        uncertain_value=0.5,
        negatives="own",
        negation_soft_targets=True,
        max_logit_scale=50.0,
        chunk_size=16,
        name="slc",
    )
    config = loss.get_config()
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, SoftLabelContrastive)
    assert restored.get_config() == config
    y_true, y_pred = reference.random_batch(n=5, seed=13)
    np.testing.assert_allclose(
        float(restored(y_true, y_pred)), float(loss(y_true, y_pred))
    )
