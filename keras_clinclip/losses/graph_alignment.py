"""GraphAlignment: InfoNCE between image and report-graph embeddings."""

import keras

from keras_clinclip.losses import functional
from keras_clinclip.losses.pairwise_loss import PairwiseSoftTargetLoss


@keras.saving.register_keras_serializable(package="keras_clinclip")
class GraphAlignment(PairwiseSoftTargetLoss):
    """Symmetric InfoNCE between image and report-graph embeddings.

    With V, G the L2-normalised image and graph embeddings and
    L = s V G^T, the loss is (l_i2g + l_g2i) / 2: the row maths of
    `SoftLabelContrastive` (`functional.info_nce_rows`) with G as the
    columns and no negated reports. By default the targets are hard (I);
    give `sources` to use the same soft targets Y (e.g.
    `sources=("text", "clinical", "graph")`). Weight it as any Keras loss,
    with `loss_weights`:
    `model.compile(loss=[SoftLabelContrastive(), GraphAlignment()],
    loss_weights=[1.0, 0.5])`.

    Args:
        sources: similarity sources of soft targets (`()`: hard targets).
        source_weights: None (equal), a list matching `sources`, or a dict.
        target_temperature: temperature of the target softmax.
        soft_weight: mass of the soft part (float or step schedule).
        uncertain_value: clinical value of uncertain (-1) labels.
        logit_scale: None to use `y_pred["logit_scale"]`, or a fixed float
            scale s for this loss.
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
    ...     "graph_embeddings": rng.normal(size=(4, 8)).astype("float32"),
    ... }
    >>> loss = GraphAlignment(logit_scale=10.0)
    >>> float(loss({}, y_pred)) > 0
    True
    """

    col_key = "graph_embeddings"
    takes_negations = False

    def __init__(self, sources=(), **kwargs):
        # Hard targets and no negated reports by default.
        kwargs.setdefault("negatives", None)
        super().__init__(sources=sources, **kwargs)

    def row_losses(self, rows, columns, square=False):
        return functional.info_nce_rows(
            rows, columns, self.target_temperature, square=square
        )
