"""SoftLabelContrastive: InfoNCE with dynamic soft targets and negations."""

import keras

from keras_clinclip.losses import functional
from keras_clinclip.losses.pairwise_loss import PairwiseSoftTargetLoss


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
    `docs/losses.md` for the reasons and for distribution. The maths is
    `keras_clinclip.losses.functional.info_nce_rows`; the base class
    `PairwiseSoftTargetLoss` reads and checks the batch dicts.

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
        logit_scale: None (default) to read `y_pred["logit_scale"]`, or
            a fixed positive scale s.
        max_logit_scale: clamp of the logit scale s (None: no clamp).
        chunk_size: compute the rows in blocks of this many rows with
            rematerialisation: O(N * chunk) extra memory, same value and
            gradient. Needs a static batch size.
        check_finite: raise a `FloatingPointError` naming the entry
            (e.g. `y_pred['image_embeddings']`) that holds NaN/inf, or a
            logit scale <= 0, inside the compiled step on every backend.
            Opt-in: it costs a host round-trip per entry. Masked-out
            negation slots are exempt (they add exactly zero to the loss
            and its gradient whatever they hold). Always checked, whatever
            this option: labels outside {1, 0, -1, NaN} and a logit scale
            <= 0 are a `ValueError` naming the entry and the batch row.
        name: name of the loss.
        reduction: Keras reduction of the per-study losses.
        dtype: ignored (the loss always computes in float32).

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

    def row_losses(self, rows, columns, square=False):
        return functional.info_nce_rows(
            rows, columns, self.target_temperature, square=square
        )
