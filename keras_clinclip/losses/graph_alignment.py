"""GraphAlignment: InfoNCE between image and report-graph embeddings."""

import keras

from keras_clinclip.losses.soft_label_contrastive import SoftLabelContrastive


@keras.saving.register_keras_serializable(package="keras_clinclip")
class GraphAlignment(SoftLabelContrastive):
    """Symmetric InfoNCE between image and report-graph embeddings.

    With V, G the L2-normalised image and graph embeddings and
    L = s V G^T, the loss is `weight * (l_i2g + l_g2i) / 2`, the same maths
    as `SoftLabelContrastive` with G in place of the report embeddings and
    no negations. By default the targets are hard (I); give `sources` to use
    the same soft targets Y (e.g. `sources=("text", "clinical", "graph")`).
    Add it to `SoftLabelContrastive` with a list loss:
    `model.compile(loss=[SoftLabelContrastive(), GraphAlignment(0.5)])`.

    Args:
        weight: multiplier of this loss.
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
            `SoftLabelContrastive`).
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
    >>> loss = GraphAlignment(weight=0.5, logit_scale=10.0)
    >>> float(loss({}, y_pred)) > 0
    True
    """

    col_key = "graph_embeddings"
    uses_negations = False

    def __init__(
        self,
        weight=1.0,
        sources=(),
        source_weights=None,
        target_temperature=0.1,
        soft_weight=0.5,
        uncertain_value=1.0,
        logit_scale=None,
        max_logit_scale=100.0,
        chunk_size=None,
        check_finite=False,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(
            sources=sources,
            source_weights=source_weights,
            target_temperature=target_temperature,
            soft_weight=soft_weight,
            uncertain_value=uncertain_value,
            negatives=None,
            negation_soft_targets=False,
            max_logit_scale=max_logit_scale,
            chunk_size=chunk_size,
            check_finite=check_finite,
            name=name,
            reduction=reduction,
            dtype=dtype,
        )
        if logit_scale is not None and not float(logit_scale) > 0:
            raise ValueError(
                "`logit_scale` must be a positive multiplier s (e.g. "
                f"1 / 0.07) or None; got {logit_scale}."
            )
        self.weight = float(weight)
        self.fixed_logit_scale = (
            None if logit_scale is None else float(logit_scale)
        )

    def needs_scale_key(self):
        return self.fixed_logit_scale is None

    def logit_scale(self, y_pred):
        if self.fixed_logit_scale is None:
            return super().logit_scale(y_pred)
        scale = self.fixed_logit_scale
        if self.max_logit_scale is not None:
            scale = min(scale, self.max_logit_scale)
        return keras.ops.convert_to_tensor(scale, "float32")

    def row_losses(self, parts, static, start, stop):
        losses = super().row_losses(parts, static, start, stop)
        return losses * self.weight if self.weight != 1.0 else losses

    def get_config(self):
        config = super().get_config()
        for key in ("negatives", "negation_soft_targets"):
            config.pop(key)
        config.update(
            {"weight": self.weight, "logit_scale": self.fixed_logit_scale}
        )
        return config
