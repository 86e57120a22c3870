"""The functional core on explicit tensors, against the numpy reference."""

import functools

import keras
import numpy as np
import pytest

from keras_clinclip.losses import chunking
from keras_clinclip.losses import functional
from keras_clinclip.losses import targets
from tests.losses import reference


def _rows(y_true, y_pred, sources, with_negations=True, clinical=False):
    """The local rows of a batch, built by hand from the target helpers."""
    features = {
        name: targets.source_features(name, y_true, y_pred, 1.0)
        for name in sources
    }
    row_f, col_f = targets.mixed_features(sources, None, features)
    rows = functional.Rows(
        v=targets.l2_normalize(y_pred["image_embeddings"]),
        u=targets.l2_normalize(y_pred["text_embeddings"]),
        features=row_f,
    )
    if with_negations:
        rows = rows._replace(
            negations=functional.mask_negations(
                y_pred["negation_embeddings"], y_true["negation_mask"]
            ),
            negation_valid=keras.ops.convert_to_tensor(y_true["negation_mask"]),
        )
    if clinical:
        rows = rows._replace(
            clinical=features["clinical"],
            negation_clinical=targets.clinical_features(
                targets.clinical_vectors(y_true["negation_labels"])
            ),
        )
    return rows, col_f


def _numpy(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


@pytest.mark.parametrize("negatives", ["batch", "own"])
@pytest.mark.parametrize("square", [True, False])
def test_info_nce_rows_is_the_reference(negatives, square):
    y_true, y_pred = reference.random_batch(n=6, seed=20)
    sources = ("text", "clinical")
    rows, col_f = _rows(y_true, y_pred, sources, clinical=True)
    rows, columns = functional.gather_columns(
        rows,
        scale=keras.ops.convert_to_tensor(10.0),
        soft_weight=0.4,
        col_features=col_f,
        negatives=negatives,
    )
    # "batch" moves the negated reports into the columns; "own" keeps them.
    assert (columns.negations is None) == (negatives == "own")
    assert (rows.negations is None) == (negatives == "batch")
    losses = functional.info_nce_rows(rows, columns, 0.1, square=square)
    expected = reference.soft_label_contrastive(
        y_true,
        y_pred,
        sources=sources,
        soft_weight=0.4,
        negatives=negatives,
        negation_soft_targets=True,
    )
    np.testing.assert_allclose(_numpy(losses).mean(), expected, rtol=1e-5)


def test_sigmoid_rows_is_the_reference():
    y_true, y_pred = reference.random_batch(n=5, seed=21)
    y_pred = dict(y_pred, logit_bias=np.float32(-3.0))
    rows, col_f = _rows(y_true, y_pred, ("text",))
    rows, columns = functional.gather_columns(
        rows,
        scale=keras.ops.convert_to_tensor(10.0),
        soft_weight=0.5,
        bias=keras.ops.convert_to_tensor(-3.0),
        col_features=col_f,
    )
    losses = functional.sigmoid_rows(rows, columns, 0.1)
    expected = reference.soft_label_sigmoid(y_true, y_pred, sources=("text",))
    np.testing.assert_allclose(_numpy(losses).mean(), expected, rtol=1e-5)


def test_masked_negation_slots_are_exact_zeros():
    negations = np.full((2, 2, 3), np.nan, "float32")
    negations[0, 0] = [0.0, 3.0, 4.0]
    mask = np.array([[1.0, 0.0], [0.0, 0.0]], "float32")
    out = _numpy(functional.mask_negations(negations, mask))
    np.testing.assert_allclose(out[0, 0], [0.0, 0.6, 0.8], rtol=1e-6)
    assert np.all(out[0, 1] == 0.0) and np.all(out[1] == 0.0)


@pytest.mark.parametrize("n,chunk", [(7, 3), (8, 4)], ids=["tail", "even"])
def test_chunked_rows_equal_one_block(n, chunk):
    y_true, y_pred = reference.random_batch(n=n, seed=22)
    rows, col_f = _rows(y_true, y_pred, ("text", "graph"))
    rows, columns = functional.gather_columns(
        rows,
        scale=keras.ops.convert_to_tensor(10.0),
        soft_weight=0.5,
        col_features=col_f,
    )
    row_fn = functools.partial(functional.info_nce_rows, temperature=0.1)
    full = _numpy(row_fn(rows, columns))
    blocks = _numpy(chunking.chunked_rows(row_fn, rows, columns, n, chunk))
    assert blocks.shape == (n,)
    # Per-row values are differences of float32 terms near 10.
    np.testing.assert_allclose(blocks, full, rtol=1e-5, atol=1e-5)
