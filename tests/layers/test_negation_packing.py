"""NegationPacking / NegationUnpacking against a numpy reference."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_clinclip.layers import NegationPacking
from keras_clinclip.layers import NegationUnpacking
from keras_clinclip.layers import buffer_rows
from keras_clinclip.layers import mask_dropped_negations
from keras_clinclip.layers import negation_capacity_for
from tests.losses.helpers import gradients


def _inputs(batch=5, k=3, length=4, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 50, size=(batch, length)).astype("int32")
    mask = rng.random((batch, length)) > 0.2
    neg_ids = rng.integers(1, 50, size=(batch, k, length)).astype("int32")
    neg_mask = rng.random((batch, k, length)) > 0.2
    valid = (rng.random((batch, k)) > 0.5).astype("float32")
    return ids, mask, neg_ids, neg_mask, valid


def _reference(ids, mask, neg_ids, neg_mask, valid, rows):
    """Reports, then the first `rows` valid slots in row-major order."""
    length = ids.shape[1]
    slots = np.flatnonzero(valid.reshape(-1) > 0)
    kept = slots[:rows]
    flat_ids = neg_ids.reshape(-1, length)
    flat_mask = neg_mask.reshape(-1, length)
    encoded = np.zeros(valid.size, "float32")
    encoded[kept] = 1.0
    positions = np.zeros(valid.size, "int32")
    positions[kept] = np.arange(len(kept))
    return (
        np.concatenate([ids, flat_ids[kept]]),
        np.concatenate([mask, flat_mask[kept]]).astype("int32"),
        positions.reshape(valid.shape),
        encoded.reshape(valid.shape),
        len(slots) - len(kept),
    )


@pytest.mark.parametrize("capacity", [1.0, 0.5, 0.2, 4, 100])
def test_packing_matches_the_reference(capacity):
    ids, mask, neg_ids, neg_mask, valid = _inputs()
    outputs = NegationPacking(capacity)(ids, mask, neg_ids, neg_mask, valid)
    packed, packed_mask, positions, encoded, overflow = [
        ops.convert_to_numpy(o) for o in outputs
    ]
    rows = buffer_rows(capacity, valid.size)
    assert packed.shape == (5 + rows, 4)
    n_valid = int(valid.sum())
    ref = _reference(ids, mask, neg_ids, neg_mask, valid, rows)
    used = 5 + min(rows, n_valid)
    # Unused buffer rows (fewer valid slots than rows) are thrown away.
    np.testing.assert_array_equal(packed[:used], ref[0])
    np.testing.assert_array_equal(packed_mask[:used], ref[1])
    np.testing.assert_array_equal(positions, ref[2])
    np.testing.assert_array_equal(encoded, ref[3])
    np.testing.assert_array_equal(overflow, np.full((5, 1), ref[4]))
    assert packed.dtype == np.int32 and encoded.dtype == np.float32


def test_unpacking_scatters_back_with_zeros_and_gradients():
    ids, mask, neg_ids, neg_mask, valid = _inputs(seed=1)
    _, _, positions, encoded, _ = NegationPacking(0.3)(
        ids, mask, neg_ids, neg_mask, valid
    )
    positions = ops.convert_to_numpy(positions)
    encoded = ops.convert_to_numpy(encoded)
    rows = buffer_rows(0.3, valid.size)
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(5 + rows, 3)).astype("float32")
    weights = rng.normal(size=(5, 3, 3)).astype("float32")
    layer = NegationUnpacking()
    reports, negations = layer(embeddings, ids, positions, encoded)
    np.testing.assert_array_equal(ops.convert_to_numpy(reports), embeddings[:5])
    expected = embeddings[5:][positions] * encoded[..., None]
    np.testing.assert_array_equal(ops.convert_to_numpy(negations), expected)

    def objective(e):
        return ops.sum(
            ops.multiply(layer(e, ids, positions, encoded)[1], weights)
        )

    (grad,) = gradients(objective, embeddings)
    reference = np.zeros_like(grad)
    for (i, k), on in np.ndenumerate(encoded):
        if on:
            reference[5 + positions[i, k]] += weights[i, k]
    np.testing.assert_allclose(grad, reference, atol=1e-6)


def test_nothing_valid_gives_all_zero_negations():
    ids, mask, neg_ids, neg_mask, valid = _inputs(seed=3)
    valid = np.zeros_like(valid)
    packed, _, positions, encoded, overflow = NegationPacking(0.5)(
        ids, mask, neg_ids, neg_mask, valid
    )
    embeddings = np.ones((int(packed.shape[0]), 2), "float32")
    _, negations = NegationUnpacking()(embeddings, ids, positions, encoded)
    assert not np.any(ops.convert_to_numpy(negations))
    assert float(ops.convert_to_numpy(overflow)[0, 0]) == 0.0


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="a TF graph"
)
def test_dynamic_batch_in_a_tf_graph():
    import tensorflow as tf

    layer = NegationPacking(0.5)
    spec = [
        tf.TensorSpec((None, 4), tf.int32),
        tf.TensorSpec((None, 4), tf.bool),
        tf.TensorSpec((None, 3, 4), tf.int32),
        tf.TensorSpec((None, 3, 4), tf.bool),
        tf.TensorSpec((None, 3), tf.float32),
    ]
    graph = tf.function(lambda *a: layer(*a), input_signature=spec)
    inputs = _inputs()
    eager = [ops.convert_to_numpy(o) for o in layer(*inputs)]
    traced = [o.numpy() for o in graph(*inputs)]
    for a, b in zip(eager, traced):
        np.testing.assert_array_equal(a, b)
    assert traced[0].shape[0] == 5 + buffer_rows(0.5, 15)


@pytest.mark.backend_independent
def test_buffer_rows_rule_and_errors():
    assert buffer_rows(0.5, 32) == 16
    assert buffer_rows(0.5625, 32) == 18
    assert buffer_rows(7 / 30, 30) == 7
    assert buffer_rows(1.0, 64) == 64
    assert buffer_rows(0.01, 10) == 1
    assert buffer_rows(40, 32) == 32
    assert buffer_rows(3, 32) == 3
    for bad in (0.0, 1.5, 0, -1, "0.5", None, True):
        with pytest.raises(ValueError, match="negation_capacity"):
            buffer_rows(bad, 8)


@pytest.mark.backend_independent
def test_capacity_for_holds_the_data_at_the_overflow_rate():
    rng = np.random.default_rng(0)
    mask = np.zeros((2000, 2), "float32")
    mask[:, 0] = rng.random(2000) < 0.36
    mask[:, 1] = mask[:, 0] * (rng.random(2000) < 0.4)
    fraction = negation_capacity_for(mask, 32, overflow_rate=0.01)
    rows = buffer_rows(fraction, 64)
    assert rows < 64 * 0.6
    # Fresh batches overflow at about the requested rate.
    counts = [
        mask[rng.choice(2000, 32, replace=False)].sum() for _ in range(2000)
    ]
    assert np.mean(np.array(counts) > rows) < 0.03
    # A looser rate never needs more rows; all-valid data needs every slot.
    assert negation_capacity_for(mask, 32, overflow_rate=0.2) <= fraction
    assert negation_capacity_for(np.ones((50, 2)), 8) == 1.0
    with pytest.raises(ValueError, match="batch_size"):
        negation_capacity_for(mask, 0)
    with pytest.raises(ValueError, match="negation_mask"):
        negation_capacity_for(np.ones(5), 2)


def test_mask_dropped_negations_folds_the_encoded_slots():
    y_true = {"negation_mask": np.array([[1.0, 1.0], [1.0, 0.0]], "float32")}
    y_pred = {"negation_encoded": np.array([[1.0, 0.0], [1.0, 0.0]])}
    folded = mask_dropped_negations(y_true, y_pred)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(folded["negation_mask"]), [[1, 0], [1, 0]]
    )
    assert y_true["negation_mask"][0, 1] == 1.0
    assert mask_dropped_negations(y_true, {}) is y_true


def test_serialization_round_trip():
    layer = NegationPacking(0.375, name="pack")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, NegationPacking)
    assert restored.capacity == 0.375
    unpack = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(NegationUnpacking())
    )
    assert isinstance(unpack, NegationUnpacking)
