"""Tiny towers and batches shared by the tests of every area.

Everything here is small enough for a CPU test (32x32 images, a 1-layer
BERT with a 40-word vocabulary, 16-d embeddings) and follows the batch
contract of `docs/architecture.md`.
"""

import numpy as np

from keras_clinclip.models.clinclip_tiny import TINY_VOCABULARY
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_backbone
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_image_encoder
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_preprocessor
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_text_encoder
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_tokenizer

VOCABULARY = list(TINY_VOCABULARY)

REPORT_WORDS = VOCABULARY[5:38]

# The tiny models ship in the package (`keras_clinclip.models.clinclip_tiny`)
# so that docstrings and docs can use them; the tests use the short names.
tiny_tokenizer = tiny_clinclip_tokenizer
tiny_preprocessor = tiny_clinclip_preprocessor
tiny_image_encoder = tiny_clinclip_image_encoder
tiny_text_encoder = tiny_clinclip_text_encoder
tiny_backbone = tiny_clinclip_backbone


def tiny_batch(
    batch_size=4,
    num_negations=0,
    sequence_length=16,
    image_size=32,
    graph_nodes=0,
    graph_feature_dim=8,
    num_classes=14,
    seed=0,
):
    """A random `(x, y)` batch in the contract of `docs/architecture.md`.

    Args:
        batch_size: B.
        num_negations: K; adds `negation_token_ids`/`negation_padding_mask`
            to `x` and `negation_mask`/`negation_labels` to `y` when > 0.
        sequence_length: L.
        image_size: H = W (3 channels, roughly normalised floats).
        graph_nodes: M; adds the graph arrays when > 0.
        graph_feature_dim: F.
        num_classes: C (labels in {1, 0, -1, NaN}).
        seed: numpy seed.

    Returns:
        `(x, y)` dicts of numpy arrays.

    Example:
    >>> x, y = tiny_batch(2, num_negations=1, graph_nodes=3)
    >>> x["negation_token_ids"].shape, y["labels"].shape
    ((2, 1, 16), (2, 14))
    """
    rng = np.random.default_rng(seed)
    vocab = len(VOCABULARY)

    def tokens(shape):
        lengths = rng.integers(3, sequence_length + 1, size=shape)
        ids = rng.integers(5, vocab, size=shape + (sequence_length,))
        positions = np.arange(sequence_length)
        mask = positions < lengths[..., None]
        ids[..., 0] = 2
        ids = np.where(mask, ids, 0)
        last = np.clip(lengths - 1, 0, sequence_length - 1)[..., None]
        np.put_along_axis(ids, last, 3, axis=-1)
        return ids.astype("int32"), mask

    token_ids, padding_mask = tokens((batch_size,))
    x = {
        "images": rng.normal(
            size=(batch_size, image_size, image_size, 3)
        ).astype("float32"),
        "token_ids": token_ids,
        "padding_mask": padding_mask,
    }
    labels = rng.choice(
        np.array([1.0, 0.0, -1.0, np.nan], "float32"),
        size=(batch_size, num_classes),
        p=[0.2, 0.3, 0.1, 0.4],
    ).astype("float32")
    y = {"labels": labels}
    if num_negations:
        neg_ids, neg_mask = tokens((batch_size, num_negations))
        x["negation_token_ids"] = neg_ids
        x["negation_padding_mask"] = neg_mask
        y["negation_mask"] = np.ones((batch_size, num_negations), "float32")
        # Each negated report: the source labels with one positive (or
        # uncertain) finding turned negative, as `reports` negates them.
        negation_labels = np.repeat(labels[:, None], num_negations, axis=1)
        for i in range(batch_size):
            findings = np.flatnonzero(np.isin(labels[i], (1.0, -1.0)))
            for k in range(num_negations):
                if len(findings):
                    negation_labels[i, k, findings[k % len(findings)]] = 0.0
        y["negation_labels"] = negation_labels
    if graph_nodes:
        x["graph_nodes"] = rng.normal(
            size=(batch_size, graph_nodes, graph_feature_dim)
        ).astype("float32")
        adjacency = (
            rng.random((batch_size, graph_nodes, graph_nodes)) < 0.4
        ).astype("float32")
        x["graph_adjacency"] = np.maximum(
            adjacency, np.swapaxes(adjacency, 1, 2)
        )
        counts = rng.integers(1, graph_nodes + 1, size=batch_size)
        x["graph_node_mask"] = (
            np.arange(graph_nodes)[None] < counts[:, None]
        ).astype("float32")
    return x, y
