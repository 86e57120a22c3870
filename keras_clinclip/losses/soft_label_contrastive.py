"""SoftLabelContrastive: InfoNCE with dynamic soft targets and negations."""

import keras
from keras import ops

from keras_clinclip.losses.pairwise_loss import PairwiseSoftTargetLoss
from keras_clinclip.losses.soft_targets import MASK_VALUE


@keras.saving.register_keras_serializable(package="keras_clinclip")
class SoftLabelContrastive(PairwiseSoftTargetLoss):
    """Symmetric InfoNCE with soft targets and negation hard negatives.

    With V, U the L2-normalised image and report embeddings, s the logit
    scale clamped at `max_logit_scale` and L = s V U^T:

    - S = the weighted mean of the similarity `sources` ("text": report
      embeddings, recomputed each batch; "clinical": cosine of the CheXpert
      label vectors; "graph": graph embeddings), under stop-gradient;
    - Y = (1 - soft_weight) I + soft_weight softmax_rows(S / temperature);
    - image -> text: -(1/N) sum_ij Y_ij log softmax_j(L_i.), each image row
      also carrying negated reports as extra columns with target 0
      (`negatives="batch"`: every valid negation of the batch; `"own"`: the
      image's own);
    - text -> image: -(1/N) sum_ji Y_ji log softmax_i(L_ij);
    - the loss is the mean of both directions, in float32.

    With `sources=()` or `soft_weight=0` this is exactly CLIP's InfoNCE. See
    `docs/losses.md` for the reasons and for distribution.

    Args:
        sources: `"auto"` (default: the similarity sources whose inputs
            are in the batch, announced once on the first call), or a list
            of `"text"`, `"clinical"`, `"graph"` (each then required: a
            missing input is a `KeyError` naming it); `()` for plain CLIP.
        source_weights: None (equal weights), a list matching `sources`, or a
            dict `{source: weight}`.
        target_temperature: temperature of the target softmax over S.
        soft_weight: mass of the soft part of the targets in [0, 1]; a float,
            a callable of the training step, or a Keras
            `LearningRateSchedule` (the step comes from
            `y_pred["training_step"]`, which `ContrastiveModel` provides).
        uncertain_value: clinical value of uncertain (-1) labels.
        negatives: `"batch"`, `"own"` or None (ignore negations). Used when
            `y_pred["negation_embeddings"]` (N, K, d) is present, with
            `y_true["negation_mask"]` (N, K).
        negation_soft_targets: give negated reports clinical soft-target mass
            from `y_true["negation_labels"]` (N, K, C); needs the clinical
            source.
        max_logit_scale: clamp of the logit scale s (None: no clamp).
        chunk_size: compute the rows in blocks of this many rows with
            rematerialisation: O(N * chunk) extra memory, same value and
            gradient. Needs a static batch size.
        check_finite: raise a `FloatingPointError` naming the entry
            (e.g. `y_pred['image_embeddings']`) that holds NaN/inf, or a
            logit scale <= 0, inside the compiled step on every backend.
            Opt-in: it costs a host round-trip per entry. Masked-out
            negation slots are exempt (they add exactly zero to the loss
            and its gradient whatever they hold).
        name: name of the loss.
        reduction: Keras reduction of the per-study losses.
        dtype: ignored (the loss always computes in float32); kept for
            Keras compatibility.

    Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y_pred = {
    ...     "image_embeddings": rng.normal(size=(4, 8)).astype("float32"),
    ...     "text_embeddings": rng.normal(size=(4, 8)).astype("float32"),
    ...     "logit_scale": np.float32(10.0),
    ... }
    >>> y_true = {"labels": np.array(
    ...     [[1, 0], [0, 1], [-1, np.nan], [0, 0]], "float32")}
    >>> loss = SoftLabelContrastive(sources=("text", "clinical"))
    >>> value = float(loss(y_true, y_pred))
    >>> value > 0
    True
    """

    def row_losses(self, parts, static, start, stop):
        # -sum_j Y_ij log softmax_j(L_i.) = lse_i(L) - sum_j Y_ij L_ij since
        # the rows of Y sum to 1, and with Y = (1 - w) I + w P that is
        # lse_i - (1 - w) L_ii - w sum_j P_ij L_ij: no N x N target or
        # log-softmax matrix is ever built.
        rows = parts["rows"][start:stop]
        text_rows = parts["cols_local"][start:stop]
        scale = parts["scale"]
        # L_ii, the matching pair: local on both sides.
        positive = scale * ops.sum(rows * text_rows, axis=-1)
        logits = scale * ops.matmul(rows, ops.transpose(parts["cols_all"]))
        i2t_lse = ops.logsumexp(logits, axis=-1)
        # Text -> image rows. When these rows are the whole batch (one
        # replica, no chunks) they are L's columns: no second matmul.
        square = static.get("square", False)
        if square:
            t2i_lse = ops.logsumexp(logits, axis=0)
        else:
            t2i_logits = scale * ops.matmul(
                text_rows, ops.transpose(parts["rows_all"])
            )
            t2i_lse = ops.logsumexp(t2i_logits, axis=-1)
        # Negated reports: extra columns of the image rows (target 0).
        neg_logits, valid = self.negation_logits(
            parts, rows, scale, start, stop
        )
        if neg_logits is not None:
            neg_logits = ops.where(valid, neg_logits, MASK_VALUE)
            i2t_lse = ops.logaddexp(i2t_lse, ops.logsumexp(neg_logits, -1))
        similarity = self.row_similarity(parts, static, start, stop)
        if similarity is None:
            return 0.5 * ((i2t_lse - positive) + (t2i_lse - positive))

        # Soft part: P = softmax_rows(S / tau), under stop-gradient.
        weight = self.soft_weight_value(parts, static)
        scaled = similarity / self.target_temperature
        neg_similarity = None
        if neg_logits is not None:
            neg_similarity = self.negation_similarity(
                parts, static, start, stop
            )
        # Row lse of S / tau: P_ij = exp(S_ij / tau - a_i).
        scaled_lse = ops.logsumexp(scaled, axis=-1, keepdims=True)
        if neg_similarity is None:
            i2t_soft = ops.sum(ops.exp(scaled - scaled_lse) * logits, axis=-1)
        else:
            # Negated reports share the image row's target softmax; the
            # text rows' targets stay P.
            neg_scaled = ops.where(
                valid, neg_similarity / self.target_temperature, MASK_VALUE
            )
            joint_lse = ops.logaddexp(
                scaled_lse, ops.logsumexp(neg_scaled, -1, keepdims=True)
            )
            i2t_soft = ops.sum(
                ops.exp(scaled - joint_lse) * logits, axis=-1
            ) + ops.sum(ops.exp(neg_scaled - joint_lse) * neg_logits, axis=-1)
        if square:
            # Text j's target over images is row j of P; S is symmetric, so
            # P_ji = exp(S_ij / tau - a_j): a column reduction of L, with
            # no transposed N x N matrix (slow on CPU).
            t2i_soft = ops.sum(
                ops.exp(scaled - ops.transpose(scaled_lse)) * logits, axis=0
            )
        else:
            t2i_soft = ops.sum(
                ops.exp(scaled - scaled_lse) * t2i_logits, axis=-1
            )
        i2t = i2t_lse - (1.0 - weight) * positive - weight * i2t_soft
        t2i = t2i_lse - (1.0 - weight) * positive - weight * t2i_soft
        return 0.5 * (i2t + t2i)
