"""Negation-balanced batches: the same number of negations in every batch.

With random batches, the number of valid negation slots in a batch varies
(on the IU training split at batch 32 and K = 1: 11.3 on average, 18 at
the 99th percentile), so a static negation buffer
(`ClinCLIPBackbone(negation_capacity=...)`) must be sized for the rare
full batch and is mostly empty. Balanced batches fix the count instead.

The rows are grouped by their number of valid slots (0 to K, a stratum
each), and every pass places each stratum's rows evenly along the pass:
the `j`-th of a stratum's `n` rows goes to the relative position
`(j + 1/2) / n`, and the positions of all strata are merged in that order
(ties: more slots first). Which row of a stratum fills which of its
places is a fresh random draw every pass, so every row is still seen
exactly once per pass, in a new order; only the mix is fixed. Then any
run of consecutive rows (a batch, or one replica's slice of it) holds
about its share of each stratum: on IU at batch 32, K = 1, every batch
has 11 or 12 studies with a negation, never more than 12.

The pattern of slot counts along a pass is the same in every pass, so the
largest number of valid slots in any batch is known exactly before
training (`max_batch_slots`), and a buffer of that size never overflows
(`balanced_negation_capacity`). Only rows skipped while reading
(`on_error="skip"`) shift the pattern; an overflow is then counted by the
model, never silent.
"""

import math

import numpy as np


def slot_counts(negation_mask):
    """Valid negation slots per study: `(N, K)` mask -> `(N,)` ints.

    Example:
    >>> slot_counts([[1, 0], [1, 1], [0, 0]]).tolist()
    [1, 2, 0]
    """
    mask = np.asarray(negation_mask, dtype=np.float32)
    if mask.ndim != 2:
        raise ValueError(
            "`negation_mask` must be a (studies, K) array; got shape "
            f"{mask.shape}."
        )
    return (mask > 0).sum(axis=1).astype(np.int64)


def balanced_layout(counts):
    """Where each stratum's rows go in a balanced pass.

    Args:
        counts: `(N,)` ints, valid negation slots of each row (in the
            pipeline's row order).

    Returns:
        `(rank, source)`: `rank` `(N,)` the stratum index of each row
        (strata sorted by slot count, most slots first), and `source`
        `(N,)`: pass position `t` takes the `source[t]`-th row of the rows
        sorted by `rank` (each stratum's rows in a random order per pass).

    Example:
    >>> rank, source = balanced_layout([1, 0, 0, 1, 0, 0])
    >>> rank.tolist(), source.tolist()
    ([0, 1, 1, 0, 1, 1], [2, 0, 3, 4, 1, 5])
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    values = np.unique(counts)[::-1]
    rank = np.searchsorted(-values, -counts)
    keys, sources = [], []
    offset = 0
    for index in range(len(values)):
        size = int(np.sum(rank == index))
        keys.append((np.arange(size) + 0.5) / size)
        sources.append(offset + np.arange(size))
        offset += size
    keys = np.concatenate(keys) if keys else np.zeros(0)
    sources = np.concatenate(sources) if sources else np.zeros(0, np.int64)
    # Stable: at equal keys the stratum with more slots comes first.
    merged = np.argsort(keys, kind="stable")
    return rank.astype(np.int64), sources[merged].astype(np.int64)


def balanced_slots(counts):
    """The slot count at each position of a balanced pass.

    Args:
        counts: `(N,)` valid negation slots of each row.

    Returns:
        `(N,)` ints, the same for every pass.

    Example:
    >>> balanced_slots([1, 0, 0, 1, 0, 0]).tolist()
    [0, 1, 0, 0, 1, 0]
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    rank, source = balanced_layout(counts)
    grouped = counts[np.argsort(rank, kind="stable")]
    return grouped[source]


def max_batch_slots(slots, batch_size):
    """The most valid slots in one batch of consecutive positions.

    Args:
        slots: `(N,)` slot count at each position of a pass (e.g.
            `balanced_slots(slot_counts(dataset.negation_mask))`).
        batch_size: rows per batch (per replica when a batch is split:
            replicas take consecutive slices).

    Returns:
        int, the maximum over the pass's batches (the last, partial batch
        included).

    Example:
    >>> max_batch_slots([1, 0, 1, 1, 0, 0], 2)
    2
    """
    slots = np.asarray(slots, dtype=np.int64).reshape(-1)
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size}.")
    if len(slots) == 0:
        return 0
    padded = np.zeros(math.ceil(len(slots) / batch_size) * batch_size, int)
    padded[: len(slots)] = slots
    return int(padded.reshape(-1, batch_size).sum(axis=1).max())


def balanced_negation_capacity(negation_mask, batch_size):
    """The `negation_capacity` that balanced batches never overflow.

    Args:
        negation_mask: `(N, K)` 0/1 negation mask of the training rows, in
            the order the pipeline reads them.
        batch_size: studies per batch the model sees (per replica under
            `tf.distribute` and torch DDP, global under JAX).

    Returns:
        A float in (0, 1]: `C / (batch_size * K)`, `C` the most valid
        slots of any batch (at least 1).

    Example:
    >>> mask = np.zeros((96, 1), "float32")
    >>> mask[:34] = 1.0
    >>> balanced_negation_capacity(mask, 32) * 32
    12.0
    """
    mask = np.asarray(negation_mask, dtype=np.float32)
    counts = slot_counts(mask)
    rows = max_batch_slots(balanced_slots(counts), batch_size)
    return max(rows, 1) / (int(batch_size) * mask.shape[1])


def balanced_order(tf, positions, counts, pass_seed, shuffle=True):
    """A pass's row order, balanced by stratum (a `tf.int64` vector).

    Args:
        tf: the tensorflow module.
        positions: `(N,)` int row indices to order.
        counts: `(N,)` valid slots of each of those rows.
        pass_seed: int64 scalar tensor, the pass's seed: the rows of a
            stratum are permuted by `stateless_uniform` keyed on it.
        shuffle: False keeps each stratum's rows in their given order.

    Returns:
        `(N,)` int64 tensor: `positions` in the pass's order.

    Example:
    >>> import tensorflow as tf
    >>> order = balanced_order(tf, [10, 11, 12, 13], [0, 0, 1, 1],
    ...                        tf.constant(3, tf.int64))
    >>> sorted(order.numpy().tolist())
    [10, 11, 12, 13]
    """
    rank, source = balanced_layout(counts)
    key = tf.constant(rank.astype(np.float64))
    if shuffle:
        key += tf.random.stateless_uniform(
            [len(rank)],
            tf.stack([pass_seed, tf.constant(0, tf.int64)]),
            dtype=tf.float64,
        )
    grouped = tf.gather(
        tf.constant(np.asarray(positions, np.int64)),
        tf.argsort(key, stable=True),
    )
    return tf.gather(grouped, tf.constant(source))


def pass_order(tf, positions, counts, pass_seed, shuffle=True):
    """A pass's row order: balanced when `counts` is given, else random.

    Args:
        tf: the tensorflow module.
        positions: `(N,)` int row indices to order.
        counts: None, or `(N,)` valid slots of each row (balanced order,
            see `balanced_order`).
        pass_seed: int64 scalar tensor, the pass's seed.
        shuffle: False keeps the given order (within each stratum).

    Returns:
        `(N,)` int64 tensor: a stateless function of `pass_seed`.

    Example:
    >>> import tensorflow as tf
    >>> order = pass_order(tf, [0, 1, 2, 3], [1, 1, 0, 0],
    ...                    tf.constant(7, tf.int64), shuffle=False)
    >>> order.numpy().tolist()
    [0, 2, 1, 3]
    """
    if counts is not None:
        return balanced_order(tf, positions, counts, pass_seed, shuffle)
    order = tf.constant(np.asarray(positions, np.int64))
    if shuffle:
        noise = tf.random.stateless_uniform(
            [len(order)], tf.stack([pass_seed, tf.constant(0, tf.int64)])
        )
        order = tf.gather(order, tf.argsort(noise))
    return order
