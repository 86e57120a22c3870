"""Negation-balanced batches: even strata, exact capacity, whole passes."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import balance
from keras_clinclip.data import make_dataset
from keras_clinclip.data import synthetic_pairs
from keras_clinclip.layers import negation_capacity_for
from keras_clinclip.layers.negation_packing import buffer_rows
from tests.data.test_pipeline import HashPreprocessor
from tests.data.test_pipeline import _key

independent = pytest.mark.backend_independent


def _windows(slots, size):
    count = len(slots) // size
    return np.asarray(slots[: count * size]).reshape(count, size)


@independent
def test_every_stratum_is_spread_evenly_over_any_batch_size():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, k = int(rng.integers(20, 1500)), int(rng.integers(1, 4))
        size = int(rng.integers(2, 64))
        mask = rng.random((n, k)) < rng.uniform(0.02, 0.9)
        counts = balance.slot_counts(mask)
        slots = balance.balanced_slots(counts)
        # A reordering of the rows: nothing added or lost.
        assert sorted(slots.tolist()) == sorted(counts.tolist())
        if n < size:
            continue
        windows = _windows(slots, size)
        for value in np.unique(counts):
            expected = size * np.mean(counts == value)
            deviation = np.abs((windows == value).sum(axis=1) - expected)
            assert deviation.max() < 2.0, (n, k, size, value)
        if k == 1:
            # Two strata: every batch holds floor or ceil of its share.
            share = size * counts.mean()
            assert windows.sum(axis=1).max() <= math.ceil(share - 1e-9)
            assert windows.sum(axis=1).min() >= math.floor(share + 1e-9)


@independent
def test_balanced_capacity_is_smaller_than_the_random_batches_one():
    rng = np.random.default_rng(1)
    mask = (rng.random((3000, 1)) < 0.35).astype("float32")
    balanced = negation_capacity_for(mask, 32, balanced=True)
    random = negation_capacity_for(mask, 32)
    assert balanced * 32 == math.ceil(32 * mask.mean())
    assert random * 32 >= balanced * 32 + 4


@independent
def test_the_order_is_a_new_permutation_with_the_same_pattern_each_pass():
    counts = np.array([2, 0, 1, 0, 0, 1, 0, 2, 0, 0, 1, 0])
    positions = np.arange(100, 112)
    pattern = balance.balanced_slots(counts)
    orders = []
    for seed in range(4):
        order = balance.balanced_order(
            tf, positions, counts, tf.constant(seed, tf.int64)
        ).numpy()
        assert sorted(order.tolist()) == positions.tolist()
        np.testing.assert_array_equal(counts[order - 100], pattern)
        orders.append(order.tolist())
    assert len({tuple(order) for order in orders}) > 1
    # Stateless: the same seed gives the same order.
    again = balance.balanced_order(
        tf, positions, counts, tf.constant(0, tf.int64)
    ).numpy()
    assert again.tolist() == orders[0]


@independent
def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="negation_mask"):
        balance.slot_counts(np.ones(3))
    with pytest.raises(ValueError, match="batch_size"):
        balance.max_batch_slots([1, 0], 0)


def _records(n=40, with_negation=12):
    records = synthetic_pairs(n, seed=0, image_size=32, num_negations=1)
    records["report"] = [f"report {i}" for i in range(n)]
    records["split"] = ["train"] * n
    chosen = set(np.random.default_rng(0).choice(n, with_negation, False))
    records["negations"] = [
        [f"negated {i}"] if i in chosen else [] for i in range(n)
    ]
    return records


def _pass(dataset, batches):
    keys, valid = [], []
    for x, y in dataset.take(batches):
        keys.append(x["token_ids"][:, 0].numpy().tolist())
        valid.append(y["negation_mask"].numpy().sum())
        np.testing.assert_array_equal(x["negation_mask"], y["negation_mask"])
    return keys, valid


@pytest.mark.parametrize("start_step", [0, None])
def test_balanced_batches_hold_every_row_once_and_never_overflow(start_step):
    records = _records()
    dataset = make_dataset(
        records,
        HashPreprocessor(),
        batch_size=8,
        image_size=32,
        training=True,
        negations=NegationOptions(balance=True, mask_input=True),
        options=PipelineOptions(seed=5, start_step=start_step),
    )
    capacity = negation_capacity_for(dataset.negation_mask, 8, balanced=True)
    rows = buffer_rows(capacity, 8)
    wanted = sorted(_key(text) for text in records["report"])
    passes = []
    for _ in range(2):
        if start_step is None:
            keys, valid = _pass(dataset, 5)
        else:
            keys, valid = _pass(dataset.skip(5 * len(passes)), 5)
        assert sorted(sum(keys, [])) == wanted
        # 12 of 40 studies have a negation: 2 or 3 in every batch of 8.
        assert set(valid) <= {2.0, 3.0} and max(valid) <= rows == 3
        passes.append(keys)
    assert passes[0] != passes[1]


def test_random_batches_vary_more():
    records = _records(200, 60)
    valid = []
    dataset = make_dataset(
        records,
        HashPreprocessor(),
        batch_size=10,
        image_size=32,
        training=True,
        options=PipelineOptions(start_step=0),
    )
    assert dataset.negation_mask.shape == (200, 1)
    for _, y in dataset.take(20):
        valid.append(float(y["negation_mask"].numpy().sum()))
    # Random batches: more spread than balanced ones' {3}.
    assert max(valid) - min(valid) >= 2
