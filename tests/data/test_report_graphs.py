"""Compact report graphs in the records, dense per batch (issue #26)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import make_dataset
from keras_clinclip.data import records as rec
from keras_clinclip.data import synthetic_pairs
from keras_clinclip.data.report_graphs import ReportGraphs
from tests.data.test_pipeline import HashPreprocessor

pytestmark = pytest.mark.backend_independent

REPORTS = [
    "Small left pleural effusion. Mild cardiomegaly. No edema.",
    "No acute cardiopulmonary process.",
    "Moderate right pneumothorax with partial collapse of the right lung.",
    "Bilateral patchy opacities, possibly pneumonia. Stable cardiomegaly.",
    "",
]
GRAPH_KEYS = ("graph_nodes", "graph_adjacency", "graph_node_mask")


@pytest.fixture(scope="module")
def dense():
    return rec.graph_columns(REPORTS)


def _assert_same(graphs, dense, rows=slice(None)):
    for key, value in graphs.dense().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, dense[key][rows])


def test_round_trip_select_concatenate_and_trim_are_exact(dense):
    graphs = ReportGraphs.from_dense(*(dense[k] for k in GRAPH_KEYS))
    _assert_same(graphs, dense)
    assert graphs.node_ids.dtype == np.uint16
    # Per study (the vocabulary is shared): under 2% of the dense bytes.
    per_study = sum(dense[k].nbytes for k in GRAPH_KEYS) / len(REPORTS)
    rows = graphs.nbytes - graphs.vocabulary.nbytes
    assert rows / len(REPORTS) < per_study / 50
    records = {"id": list("abcde"), "graphs": graphs}
    picked = rec.select(records, [3, 0, 3])["graphs"]
    _assert_same(picked, dense, [3, 0, 3])
    mask = np.array([True, False, True, False, True])
    _assert_same(graphs[mask], dense, mask)
    # Parts with their own vocabularies share one after concatenation.
    both = rec.concatenate(
        [rec.select(records, [4, 1]), rec.select(records, [2, 0])]
    )["graphs"]
    _assert_same(both, dense, [4, 1, 2, 0])
    assert len(both.vocabulary) == len(np.unique(both.vocabulary, axis=0))
    stored = ReportGraphs.from_columns(graphs.to_columns())
    _assert_same(stored, dense)
    used = int(dense["graph_node_mask"].sum(axis=1).max())
    trimmed = graphs.trimmed()
    assert trimmed.max_nodes == used < graphs.max_nodes
    for key, value in trimmed.dense().items():
        expected = dense[key][:, :used]
        if key == "graph_adjacency":
            expected = expected[:, :, :used]
        np.testing.assert_array_equal(value, expected)


def test_non_binary_adjacency_is_refused(dense):
    adjacency = dense["graph_adjacency"].copy()
    adjacency[0, 0, 1] = 0.5
    with pytest.raises(ValueError, match="graph_adjacency must hold only 0"):
        ReportGraphs.from_dense(
            dense["graph_nodes"], adjacency, dense["graph_node_mask"]
        )


def _batches(dataset, count):
    out = []
    for x, y in dataset.take(count):
        merged = {**x, **{f"y_{k}": v for k, v in y.items()}}
        out.append({k: v.numpy() for k, v in merged.items()})
    return out


def test_make_dataset_gives_the_same_batches_from_compact_graphs():
    # The endless stream from a step (what `train` reads: every column
    # gathered from one table) with shuffling and augmentation.
    records = synthetic_pairs(12, seed=3, image_size=32, num_negations=1)
    compact = {k: v for k, v in records.items() if k not in GRAPH_KEYS}
    compact["graphs"] = ReportGraphs.from_dense(
        *(records[k] for k in GRAPH_KEYS)
    )
    kwargs = dict(
        batch_size=4,
        training=True,
        options=PipelineOptions(seed=5, start_step=2),
    )
    dense_ds = make_dataset(records, HashPreprocessor(), **kwargs)
    compact_ds = make_dataset(compact, HashPreprocessor(), **kwargs)
    assert compact_ds.element_spec == dense_ds.element_spec
    expected, got = _batches(dense_ds, 4), _batches(compact_ds, 4)
    assert len(got) == len(expected) >= 3
    for want, have in zip(expected, got):
        assert sorted(have) == sorted(want)
        assert want["graph_adjacency"].any()
        for key in want:
            np.testing.assert_array_equal(have[key], want[key], err_msg=key)
    # graphs=False leaves the compact graphs out too.
    x, _ = next(
        iter(
            make_dataset(
                compact,
                HashPreprocessor(),
                options=PipelineOptions(graphs=False),
            )
        )
    )
    assert not any(key.startswith("graph") for key in x)
    assert tf.is_tensor(x["images"])
