"""The functional core of the pairwise losses: pure functions on tensors.

A pairwise loss compares the r *local rows* (this replica's studies) with
the N_g *gathered columns* (every replica's; N_g = r on one device). With
V, U the unit image and report (or graph) embeddings and s the logit scale,
the logits are L = s V U^T. The tensors travel in two named tuples:

- `Rows`: indexed by the local rows. A chunk of rows takes a slice of
  every field.
- `Columns`: the gathered columns and the scalars (s, b, lambda). Every
  chunk sees all of them.

`gather_columns` builds the columns from the rows (open_clip's
`gather_features`); `info_nce_rows` and `sigmoid_rows` give the per-row
losses of the rows against the columns; `losses.chunking.chunked_rows`
runs a row function over blocks of rows with rematerialisation. The
classes in `keras_clinclip.losses` read the batch dicts and call these.

Shapes: r local rows, N_g gathered rows, d embedding width, K negated
reports per study, f target-feature width (S = F_rows F_cols^T), C + 1
clinical-feature width (`targets.clinical_features`).
"""

from typing import NamedTuple

from keras import ops

from keras_clinclip.backend import collectives
from keras_clinclip.losses.targets import l2_normalize

# Large negative logit for masked columns: exp() underflows to exactly 0 in
# float32 while staying finite (0 * it is 0, not NaN).
MASK_VALUE = -1e9


class Rows(NamedTuple):
    """The local rows: every field is indexed by them (None: not used).

    Fields:
        v: (r, d) unit image embeddings V.
        u: (r, d) unit embeddings of their own reports (or graphs) U.
        features: (r, f) target features of the rows, each source scaled
            by its weight (S = features Columns.features^T), or None when
            the targets are hard.
        clinical: (r, C + 1) clinical features of the rows, for the soft
            targets of negated reports, or None.
        negations: (r, K, d) unit negated reports of each row's own report
            (`negatives="own"`), or None.
        negation_valid: (r, K) 1 for a real negated report, 0 for padding.
        negation_clinical: (r, K, C + 1) clinical features of the own
            negated reports, or None.
    """

    v: object
    u: object
    features: object = None
    clinical: object = None
    negations: object = None
    negation_valid: object = None
    negation_clinical: object = None


class Columns(NamedTuple):
    """The gathered columns and the scalars shared by every row block.

    Fields:
        v: (N_g, d) unit image embeddings of every replica.
        u: (N_g, d) unit report (or graph) embeddings of every replica.
        scale: the logit scale s, a scalar tensor.
        soft_weight: lambda, a Python float or a scalar tensor.
        bias: the sigmoid bias b (scalar tensor) or None.
        features: (N_g, f) target features of the columns, or None.
        negations: (N_g K, d) every valid-or-not negated report of the
            batch (`negatives="batch"`), or None.
        negation_valid: (1, N_g K) 1 for a real negated report.
        negation_clinical: (N_g K, C + 1) their clinical features, or None.
    """

    v: object
    u: object
    scale: object
    soft_weight: object = 0.0
    bias: object = None
    features: object = None
    negations: object = None
    negation_valid: object = None
    negation_clinical: object = None


def mask_negations(negations, mask):
    """Zero the masked-out negation slots, then L2-normalise.

    Masked slots may hold anything (padding, NaN): a select (unlike a
    product) passes no NaN, so they add exactly 0 to the loss and to its
    gradient.

    Args:
        negations: (N, K, d) negated-report embeddings.
        mask: (N, K) 1 for a real negated report, 0 for a padded slot.

    Returns:
        (N, K, d) float32 unit embeddings, zero in the masked slots.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> x = np.array([[[3.0, 4.0], [np.nan, 1.0]]], "float32")
    >>> y = mask_negations(x, np.array([[1.0, 0.0]], "float32"))
    >>> keras.ops.convert_to_numpy(y).astype("float64").round(3).tolist()
    [[[0.6, 0.8], [0.0, 0.0]]]
    """
    mask = ops.cast(mask, "float32")
    kept = ops.where(
        ops.greater(mask, 0.0)[..., None],
        ops.cast(negations, "float32"),
        0.0,
    )
    return l2_normalize(kept)


def gather_columns(
    rows,
    scale,
    soft_weight=0.0,
    bias=None,
    col_features=None,
    negatives="batch",
):
    """Every replica's columns, with a gradient through the embeddings.

    The images and reports are gathered (`backend.collectives.all_gather`,
    an identity on one device and under JAX). With `negatives="batch"` the
    rows' own negated reports move into the columns: each image then meets
    every negated report of the global batch. Targets, masks and labels are
    gathered under stop-gradient.

    Args:
        rows: the local `Rows`.
        scale: the logit scale s (scalar tensor).
        soft_weight: lambda (float or scalar tensor).
        bias: the sigmoid bias b, or None.
        col_features: (r, f) local target features of the columns (the
            unweighted features), or None.
        negatives: `"batch"` (gather the negated reports as columns) or
            `"own"`/None (keep them in the rows).

    Returns:
        `(rows, columns)`: the `Rows` (without the negated reports when
        they became columns) and the `Columns`.

    Example:
    >>> import numpy as np
    >>> rows = Rows(v=np.eye(2, dtype="float32"), u=np.eye(2, dtype="float32"))
    >>> rows, columns = gather_columns(rows, scale=np.float32(10.0))
    >>> tuple(columns.u.shape), columns.negations is None
    ((2, 2), True)
    """
    gather = collectives.all_gather
    columns = Columns(
        v=gather(rows.v),
        u=gather(rows.u),
        scale=scale,
        soft_weight=soft_weight,
        bias=bias,
    )
    if col_features is not None:
        # The targets' columns carry no gradient.
        features = ops.stop_gradient(gather(col_features))
        columns = columns._replace(features=features)
    if rows.negations is None or negatives != "batch":
        return rows, columns
    d = ops.shape(rows.negations)[-1]
    # (N_g, K, d) -> (N_g K, d): study-major, as the mask below.
    negations = ops.reshape(gather(rows.negations), (-1, d))
    valid = ops.stop_gradient(gather(rows.negation_valid))
    negation_clinical = None
    if rows.negation_clinical is not None:
        c = ops.shape(rows.negation_clinical)[-1]
        negation_clinical = ops.reshape(gather(rows.negation_clinical), (-1, c))
    columns = columns._replace(
        negations=negations,
        negation_valid=ops.reshape(valid, (1, -1)),
        negation_clinical=negation_clinical,
    )
    rows = rows._replace(
        negations=None, negation_valid=None, negation_clinical=None
    )
    return rows, columns


def target_similarity(rows, columns):
    """S of the rows against every column, (r, N_g), or None (hard)."""
    if rows.features is None:
        return None
    return ops.matmul(rows.features, ops.transpose(columns.features))


def negation_logits(rows, columns):
    """(logits, valid) of the negated-report columns, or (None, None).

    `negatives="batch"`: (r, N_g K) against every negated report;
    `"own"`: (r, K) against the row's own.
    """
    s = columns.scale
    if columns.negations is not None:
        logits = s * ops.matmul(rows.v, ops.transpose(columns.negations))
        return logits, ops.greater(columns.negation_valid, 0.0)
    if rows.negations is not None:
        # Each image against its own K negated reports.
        logits = s * ops.sum(rows.v[:, None, :] * rows.negations, axis=-1)
        return logits, ops.greater(rows.negation_valid, 0.0)
    return None, None


def negation_similarity(rows, columns):
    """Clinical S between the rows and the negated reports, or None."""
    if rows.clinical is None:
        return None
    if columns.negation_clinical is not None:
        return ops.matmul(
            rows.clinical, ops.transpose(columns.negation_clinical)
        )
    if rows.negation_clinical is not None:
        # (r, K): each row against its own negated reports.
        return ops.sum(
            rows.clinical[:, None, :] * rows.negation_clinical, axis=-1
        )
    return None


def info_nce_rows(rows, columns, temperature, square=False):
    """Per-row symmetric InfoNCE with soft targets (`SoftLabelContrastive`).

    With Y = (1 - lambda) I + lambda P and the rows of Y summing to 1,

        -sum_j Y_ij log softmax_j(L_i.)
            = lse_j(L_i.) - (1 - lambda) L_ii - lambda sum_j P_ij L_ij,

    so neither Y nor a log-softmax matrix is ever built. Negated reports
    are extra columns of the image rows with target 0 (or clinical soft
    target mass, when `rows.clinical` is given).

    Args:
        rows: the local `Rows`.
        columns: the `Columns`.
        temperature: tau of the target softmax P = softmax_rows(S / tau).
        square: True when the rows are the whole batch (one replica, one
            block): the text -> image logits are then L's columns and no
            second matmul is needed.

    Returns:
        (r,) float32: (image -> text + text -> image) / 2 of each row.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> eye = np.eye(3, dtype="float32")
    >>> rows, columns = gather_columns(Rows(v=eye, u=eye), np.float32(10.0))
    >>> losses = info_nce_rows(rows, columns, temperature=0.1, square=True)
    >>> keras.ops.convert_to_numpy(losses).astype("float64").round(4).tolist()
    [0.0001, 0.0001, 0.0001]
    """
    v, u, s = rows.v, rows.u, columns.scale
    # L_ii, the matching pair: local on both sides.
    positive = s * ops.sum(v * u, axis=-1)
    # Image i against every report: L_i. (r, N_g).
    logits = s * ops.matmul(v, ops.transpose(columns.u))
    i2t_lse = ops.logsumexp(logits, axis=-1)
    # Report i against every image.
    if square:
        t2i_lse = ops.logsumexp(logits, axis=0)
    else:
        t2i_logits = s * ops.matmul(u, ops.transpose(columns.v))
        t2i_lse = ops.logsumexp(t2i_logits, axis=-1)
    # Negated reports: extra columns of the image rows (target 0).
    neg_logits, valid = negation_logits(rows, columns)
    if neg_logits is not None:
        neg_logits = ops.where(valid, neg_logits, MASK_VALUE)
        i2t_lse = ops.logaddexp(i2t_lse, ops.logsumexp(neg_logits, -1))
    similarity = target_similarity(rows, columns)
    if similarity is None:
        # Hard targets (Y = I): CLIP's InfoNCE.
        return 0.5 * ((i2t_lse - positive) + (t2i_lse - positive))

    # Soft part: P = softmax_rows(S / tau), under stop-gradient.
    w = columns.soft_weight
    scaled = similarity / temperature
    neg_similarity = None
    if neg_logits is not None:
        neg_similarity = negation_similarity(rows, columns)
    # Row lse of S / tau: P_ij = exp(S_ij / tau - a_i).
    scaled_lse = ops.logsumexp(scaled, axis=-1, keepdims=True)
    if neg_similarity is None:
        i2t_soft = ops.sum(ops.exp(scaled - scaled_lse) * logits, axis=-1)
    else:
        # Negated reports share the image row's target softmax; the text
        # rows' targets stay P.
        neg_scaled = ops.where(valid, neg_similarity / temperature, MASK_VALUE)
        joint_lse = ops.logaddexp(
            scaled_lse, ops.logsumexp(neg_scaled, -1, keepdims=True)
        )
        i2t_soft = ops.sum(
            ops.exp(scaled - joint_lse) * logits, axis=-1
        ) + ops.sum(ops.exp(neg_scaled - joint_lse) * neg_logits, axis=-1)
    if square:
        # Text j's target over images is row j of P; S is symmetric, so
        # P_ji = exp(S_ij / tau - a_j): a column reduction of L, with no
        # transposed N x N matrix (slow on CPU).
        t2i_soft = ops.sum(
            ops.exp(scaled - ops.transpose(scaled_lse)) * logits, axis=0
        )
    else:
        t2i_soft = ops.sum(ops.exp(scaled - scaled_lse) * t2i_logits, -1)
    i2t = i2t_lse - (1.0 - w) * positive - w * i2t_soft
    t2i = t2i_lse - (1.0 - w) * positive - w * t2i_soft
    return 0.5 * (i2t + t2i)


def pair_targets(similarity, temperature):
    """Q_ij = exp((min(S_ij, 1) - 1) / tau) in (0, 1], SigLIP's soft targets.

    Q is the target softmax's P_ij / P_ii (S_ii = 1 for every source): a
    pair as similar as the study to itself gets 1, dissimilar pairs decay
    to 0.

    Args:
        similarity: S, any shape.
        temperature: tau.

    Returns:
        Q, the shape of `similarity`.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> q = pair_targets(np.array([1.0, 0.9], "float32"), 0.1)
    >>> keras.ops.convert_to_numpy(q).astype("float64").round(3).tolist()
    [1.0, 0.368]
    """
    shifted = ops.minimum(similarity, 1.0) - 1.0
    return ops.exp(shifted / temperature)


def sigmoid_rows(rows, columns, temperature):
    """Per-row pairwise sigmoid loss with soft targets (`SoftLabelSigmoid`).

    With L = s V U^T + b, y log sig(L) + (1 - y) log sig(-L) =
    log sig(-L) + y L, and with Y = (1 - lambda) I + lambda Q a row sums to

        sum_j log sig(-L_ij) + (1 - lambda) L_ii + lambda sum_j Q_ij L_ij.

    Args:
        rows: the local `Rows`.
        columns: the `Columns` (with `bias`).
        temperature: tau of Q (`pair_targets`).

    Returns:
        (r,) float32: minus the summed log-likelihood of each row.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> eye = np.eye(2, dtype="float32")
    >>> rows, columns = gather_columns(
    ...     Rows(v=eye, u=eye), np.float32(10.0), bias=np.float32(-5.0))
    >>> losses = sigmoid_rows(rows, columns, temperature=0.1)
    >>> keras.ops.convert_to_numpy(losses).astype("float64").round(4).tolist()
    [0.0134, 0.0134]
    """
    v, s, b = rows.v, columns.scale, columns.bias
    logits = s * ops.matmul(v, ops.transpose(columns.u)) + b
    positive = s * ops.sum(v * rows.u, -1) + b
    # Every pair as a negative first; the targets add y L below.
    total = ops.sum(ops.log_sigmoid(-logits), axis=-1)
    w = columns.soft_weight
    similarity = target_similarity(rows, columns)
    if similarity is None:
        total = total + positive
    else:
        soft = ops.sum(pair_targets(similarity, temperature) * logits, -1)
        total = total + (1.0 - w) * positive + w * soft
    neg_logits, valid = negation_logits(rows, columns)
    if neg_logits is not None:
        neg_logits = neg_logits + b
        loglike = ops.log_sigmoid(-neg_logits)
        neg_similarity = negation_similarity(rows, columns)
        if neg_similarity is not None:
            targets = w * pair_targets(neg_similarity, temperature)
            loglike = loglike + targets * neg_logits
        total = total + ops.sum(ops.where(valid, loglike, 0.0), axis=-1)
    return -total
