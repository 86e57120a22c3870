"""`ReportGraphs`: the report graphs of a records dict, stored compactly.

The dense graph arrays of N studies (`graph_nodes` float32 (N, M, F),
`graph_adjacency` float32 (N, M, M), `graph_node_mask` float32 (N, M))
take about 13 KB a study at M = 27 and F = 96 (3.4 GiB for MIMIC-CXR's
228,000 studies). Few distinct node feature vectors exist (one per kind
of finding, anatomy or modifier with its status, side and severity), and
the adjacency and the mask are 0/1, so `ReportGraphs` keeps

- `vocabulary` float32 (V, F): the distinct node feature rows;
- `node_ids` uint16 (N, M) (uint32 past 65,535 rows): each slot's row;
- `adjacency_bits` uint8 (N, M, ceil(M / 8)) and `mask_bits` uint8
  (N, ceil(M / 8)): the 0/1 arrays packed 8 to a byte (`np.packbits`),

about 200 bytes a study, and gives the dense arrays back exactly
(`dense`). `make_dataset` carries the compact columns and makes them
dense per batch.
"""

import numpy as np

_PREFIX = "graph_"
_FIELDS = ("vocabulary", "node_ids", "adjacency_bits", "mask_bits")


def _binary(values, name):
    values = np.asarray(values)
    if not ((values == 0) | (values == 1)).all():
        raise ValueError(
            f"{name} must hold only 0 and 1 to be stored as bits; keep "
            "such graphs as dense arrays."
        )
    return np.packbits(values != 0, axis=-1)


def _id_dtype(size):
    return np.uint16 if size <= np.iinfo(np.uint16).max + 1 else np.uint32


class ReportGraphs:
    """The report graphs of N studies, compact; dense on request.

    Args:
        vocabulary: float32 (V, F), the distinct node feature rows.
        node_ids: int (N, M), the vocabulary row of each node slot.
        adjacency_bits: uint8 (N, M, ceil(M / 8)), the packed adjacency.
        mask_bits: uint8 (N, ceil(M / 8)), the packed node mask.
        max_nodes: M.

    Example:
    >>> nodes = np.zeros((2, 3, 4), np.float32)
    >>> nodes[:, 0, 1] = 1.0
    >>> adjacency = np.zeros((2, 3, 3), np.float32)
    >>> adjacency[1, 0, 2] = 1.0
    >>> mask = np.array([[1, 0, 0], [1, 1, 1]], np.float32)
    >>> graphs = ReportGraphs.from_dense(nodes, adjacency, mask)
    >>> len(graphs), graphs.max_nodes, graphs.feature_dim
    (2, 3, 4)
    >>> dense = graphs[[1]].dense()
    >>> bool((dense["graph_adjacency"] == adjacency[[1]]).all())
    True
    """

    def __init__(
        self, vocabulary, node_ids, adjacency_bits, mask_bits, max_nodes
    ):
        self.vocabulary = np.asarray(vocabulary, np.float32)
        self.node_ids = np.asarray(node_ids)
        self.adjacency_bits = np.asarray(adjacency_bits, np.uint8)
        self.mask_bits = np.asarray(mask_bits, np.uint8)
        self.max_nodes = int(max_nodes)
        n = len(self.node_ids)
        if not (len(self.adjacency_bits) == len(self.mask_bits) == n):
            raise ValueError(
                "ReportGraphs: node_ids, adjacency_bits and mask_bits must "
                f"have one row per study; got {n}, "
                f"{len(self.adjacency_bits)} and {len(self.mask_bits)}."
            )

    @classmethod
    def from_dense(cls, nodes, adjacency, node_mask):
        """The compact form of dense graph arrays.

        Args:
            nodes: float (N, M, F).
            adjacency: 0/1 (N, M, M).
            node_mask: 0/1 (N, M).

        Returns:
            A `ReportGraphs`.

        Example:
        >>> graphs = ReportGraphs.from_dense(
        ...     np.ones((1, 2, 3)), np.zeros((1, 2, 2)), np.ones((1, 2)))
        >>> graphs.vocabulary.tolist(), graphs.node_ids.tolist()
        ([[1.0, 1.0, 1.0]], [[0, 0]])
        """
        nodes = np.ascontiguousarray(nodes, np.float32)
        n, m, f = nodes.shape
        rows = nodes.reshape(n * m, f)
        # One bytes key a row: `np.unique` on them is exact and fast.
        keys = rows.view(np.dtype((np.void, 4 * f))).reshape(-1)
        _, first, inverse = np.unique(
            keys, return_index=True, return_inverse=True
        )
        return cls(
            rows[first],
            inverse.reshape(n, m).astype(_id_dtype(len(first))),
            _binary(adjacency, "graph_adjacency"),
            _binary(node_mask, "graph_node_mask"),
            m,
        )

    @classmethod
    def concatenate(cls, parts):
        """The graphs of `parts` one after the other (one vocabulary).

        Example:
        >>> a = ReportGraphs.from_dense(
        ...     np.ones((1, 2, 3)), np.zeros((1, 2, 2)), np.ones((1, 2)))
        >>> b = ReportGraphs.from_dense(
        ...     np.zeros((1, 2, 3)), np.zeros((1, 2, 2)), np.ones((1, 2)))
        >>> both = ReportGraphs.concatenate([a, b])
        >>> both.dense()["graph_nodes"][:, 0, 0].tolist()
        [1.0, 0.0]
        """
        sizes = {part.max_nodes for part in parts}
        if len(sizes) != 1:
            raise ValueError(
                f"ReportGraphs.concatenate: node slots differ {sorted(sizes)}."
            )
        vocabulary = np.concatenate([part.vocabulary for part in parts])
        offsets = np.cumsum([0] + [len(part.vocabulary) for part in parts])
        ids = np.concatenate(
            [
                part.node_ids.astype(np.int64) + offset
                for part, offset in zip(parts, offsets)
            ]
        )
        f = vocabulary.shape[1]
        keys = np.ascontiguousarray(vocabulary).view(np.dtype((np.void, 4 * f)))
        _, first, inverse = np.unique(
            keys.reshape(-1), return_index=True, return_inverse=True
        )
        return cls(
            vocabulary[first],
            inverse.reshape(-1)[ids].astype(_id_dtype(len(first))),
            np.concatenate([part.adjacency_bits for part in parts]),
            np.concatenate([part.mask_bits for part in parts]),
            sizes.pop(),
        )

    @classmethod
    def from_columns(cls, columns):
        """The graphs stored by `to_columns` (None when absent).

        Example:
        >>> graphs = ReportGraphs.from_dense(
        ...     np.ones((1, 2, 3)), np.zeros((1, 2, 2)), np.ones((1, 2)))
        >>> len(ReportGraphs.from_columns(graphs.to_columns()))
        1
        """
        if _PREFIX + "node_ids" not in columns:
            return None
        return cls(
            *(columns[_PREFIX + field] for field in _FIELDS),
            int(columns[_PREFIX + "max_nodes"]),
        )

    def to_columns(self):
        """The arrays as a dict of `graph_*` columns (for `save_columns`).

        Example:
        >>> graphs = ReportGraphs.from_dense(
        ...     np.ones((1, 2, 3)), np.zeros((1, 2, 2)), np.ones((1, 2)))
        >>> sorted(graphs.to_columns())[:2]
        ['graph_adjacency_bits', 'graph_mask_bits']
        """
        out = {_PREFIX + field: getattr(self, field) for field in _FIELDS}
        out[_PREFIX + "max_nodes"] = np.asarray(self.max_nodes)
        return out

    @property
    def feature_dim(self):
        """F, the node feature width."""
        return int(self.vocabulary.shape[1])

    @property
    def nbytes(self):
        """The bytes of the arrays."""
        return sum(getattr(self, field).nbytes for field in _FIELDS)

    def __len__(self):
        return len(self.node_ids)

    def __getitem__(self, index):
        """The graphs at `index` (ints, a boolean mask or a slice)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool:
                index = np.nonzero(index)[0]
        return ReportGraphs(
            self.vocabulary,
            self.node_ids[index],
            self.adjacency_bits[index],
            self.mask_bits[index],
            self.max_nodes,
        )

    def trimmed(self):
        """The graphs without the node slots that no study uses.

        Example:
        >>> graphs = ReportGraphs.from_dense(
        ...     np.ones((1, 4, 3)), np.zeros((1, 4, 4)), [[1, 1, 0, 0]])
        >>> graphs.trimmed().max_nodes
        2
        """
        mask = np.unpackbits(self.mask_bits, axis=-1, count=self.max_nodes)
        used = mask[:, ::-1].argmax(axis=1) if len(mask) else np.zeros(0)
        used = self.max_nodes - used
        used[~mask.any(axis=1)] = 0
        m = max(int(used.max(initial=1)), 1)
        if m == self.max_nodes:
            return self
        adjacency = np.unpackbits(
            self.adjacency_bits, axis=-1, count=self.max_nodes
        )[:, :m, :m]
        return ReportGraphs(
            self.vocabulary,
            self.node_ids[:, :m],
            np.packbits(adjacency, axis=-1),
            np.packbits(mask[:, :m], axis=-1),
            m,
        )

    def dense(self):
        """The dense arrays `graph_nodes`, `graph_adjacency`,
        `graph_node_mask` (float32), as the toolkit writes them.

        Example:
        >>> graphs = ReportGraphs.from_dense(
        ...     np.ones((1, 2, 3)), np.eye(2)[None], np.ones((1, 2)))
        >>> graphs.dense()["graph_adjacency"].tolist()
        [[[1.0, 0.0], [0.0, 1.0]]]
        """
        m = self.max_nodes
        return {
            "graph_nodes": self.vocabulary[self.node_ids.astype(np.int64)],
            "graph_adjacency": np.unpackbits(
                self.adjacency_bits, axis=-1, count=m
            ).astype(np.float32),
            "graph_node_mask": np.unpackbits(
                self.mask_bits, axis=-1, count=m
            ).astype(np.float32),
        }


def dense_batch(tf, vocabulary, node_ids, adjacency_bits, mask_bits, m):
    """The dense graph tensors of a batch of compact rows (in `tf.data`).

    Args:
        tf: the tensorflow module.
        vocabulary: a float32 (V, F) tensor.
        node_ids: (B, M) ids; adjacency_bits: uint8 (B, M, ceil(M / 8));
        mask_bits: uint8 (B, ceil(M / 8)); m: M.

    Returns:
        `(nodes, adjacency, node_mask)`: float32 (B, M, F), (B, M, M),
        (B, M), equal to `ReportGraphs.dense` of the same rows.

    Example:
    >>> import tensorflow as tf
    >>> graphs = ReportGraphs.from_dense(
    ...     np.ones((1, 2, 3)), np.eye(2)[None], np.ones((1, 2)))
    >>> out = dense_batch(tf, tf.constant(graphs.vocabulary),
    ...                   graphs.node_ids, graphs.adjacency_bits,
    ...                   graphs.mask_bits, 2)
    >>> out[1].numpy().tolist()
    [[[1.0, 0.0], [0.0, 1.0]]]
    """
    weights = tf.constant([128, 64, 32, 16, 8, 4, 2, 1], tf.uint8)

    def unpack(bits):
        bits = tf.convert_to_tensor(bits, tf.uint8)
        on = tf.bitwise.bitwise_and(bits[..., None], weights) > 0
        shape = tf.concat([tf.shape(bits)[:-1], [-1]], axis=0)
        flat = tf.reshape(on, shape)[..., :m]
        return tf.cast(flat, tf.float32)

    ids = tf.cast(node_ids, tf.int32)
    return tf.gather(vocabulary, ids), unpack(adjacency_bits), unpack(mask_bits)
