"""SoftLabelSigmoid: SigLIP's pairwise sigmoid loss with soft targets."""

import keras

from keras_clinclip.losses import functional
from keras_clinclip.losses.pairwise_loss import PairwiseSoftTargetLoss


@keras.saving.register_keras_serializable(package="keras_clinclip")
class SoftLabelSigmoid(PairwiseSoftTargetLoss):
    """SigLIP's pairwise sigmoid loss with soft targets in [0, 1].

    With L = s V U^T + b (s the clamped logit scale, b the bias), every
    image-report pair is an independent binary decision with target Y_ij:

        loss = -(1/N) sum_ij [Y_ij log sigmoid(L_ij)
                              + (1 - Y_ij) log sigmoid(-L_ij)].

    The soft targets come from the same similarity S as in
    `SoftLabelContrastive`, but per pair instead of per row:
    Q_ij = exp((min(S_ij, 1) - 1) / target_temperature), i.e. the target
    softmax's P_ij / P_ii (S_ii = 1 for every source, so a pair as similar
    as the study to itself gets 1 and dissimilar pairs decay to 0), and
    Y = (1 - soft_weight) I + soft_weight Q, so Y_ii = 1. Negated reports
    are extra columns with target 0 (or `Q` of their clinical similarity
    with `negation_soft_targets=True`). With hard targets (`sources=()` or
    `soft_weight=0`) this is exactly SigLIP's loss (keras-hub's
    `SigLIPLoss`, big_vision's `siglip.py`). The maths is
    `keras_clinclip.losses.functional.sigmoid_rows`.

    Args:
        sources: similarity sources of the soft targets, any of `"text"`,
            `"clinical"`, `"graph"`; `()` for plain SigLIP; `"auto"` uses
            those whose inputs are in the batch.
        source_weights: None (equal weights), a list matching `sources`, or a
            dict `{source: weight}`.
        target_temperature: temperature of Q.
        soft_weight: mass of the soft part in [0, 1], a float or a schedule
            of the training step (see `SoftLabelContrastive`).
        uncertain_value: clinical value of uncertain (-1) labels.
        negatives: `"batch"`, `"own"` or None; used when
            `y_pred["negation_embeddings"]` is present.
        negation_soft_targets: clinical soft targets for negated reports
            (needs `y_true["negation_labels"]` and the clinical source).
        logit_scale: None to read `y_pred["logit_scale"]`, or a fixed s.
        max_logit_scale: clamp of the logit scale (None: no clamp).
        chunk_size: rows per block (O(N * chunk) extra memory).
        check_finite: name the entry holding NaN/inf (see
            `SoftLabelContrastive`; labels and the scale are always
            checked).
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
    ...     "logit_bias": np.float32(-10.0),
    ... }
    >>> loss = SoftLabelSigmoid(sources=("text",))
    >>> float(loss({}, y_pred)) > 0
    True
    """

    uses_bias = True

    def row_losses(self, rows, columns, square=False):
        del square  # every pair is its own decision: no column reduction
        return functional.sigmoid_rows(rows, columns, self.target_temperature)
