"""Compile defaults and loss inputs of ClinCLIP models, written once.

`ClinCLIPPretrainer` (the Task) owns the compile defaults; the backbone,
which users also compile directly (`model.compile(loss=...)`), takes the
same ones. Both inherit `ClinCLIPCompileMixin` from this module, which
imports neither of them, so that the Task may import the backbone and
not the reverse.
"""

import keras
from keras import ops

from keras_clinclip.layers.negation_packing import mask_dropped_negations
from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models.contrastive_model import ContrastiveLossMixin


def default_compile_arguments(backbone, optimizer="auto", loss="auto"):
    """Resolves `"auto"` optimizer and loss for a ClinCLIP backbone.

    The one home of the compile defaults, used by
    `ClinCLIPPretrainer.compile` and `ClinCLIPBackbone.compile`.

    Args:
        backbone: a `ClinCLIPBackbone`.
        optimizer: `"auto"` (AdamW, learning rate 1e-4, weight decay 0.1)
            or anything `keras.Model.compile` takes.
        loss: `"auto"` (`[SoftLabelContrastive(), GraphAlignment()]` when
            the backbone has a graph branch, else
            `SoftLabelContrastive(sources="auto")`) or a loss / list of
            losses taking whole `y_true`/`y_pred` dicts.

    Returns:
        `(optimizer, loss)`.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> optimizer, loss = default_compile_arguments(
    ...     tiny_clinclip_backbone(graph_feature_dim=8))
    >>> type(optimizer).__name__, [type(item).__name__ for item in loss]
    ('AdamW', ['SoftLabelContrastive', 'GraphAlignment'])
    """
    if isinstance(optimizer, str) and optimizer == "auto":
        optimizer = keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.1)
    if isinstance(loss, str) and loss == "auto":
        if getattr(backbone, "graph_encoder", None) is not None:
            # The graph source of the soft targets is stop-gradient, so
            # GraphAlignment is what trains the graph encoder.
            loss = [SoftLabelContrastive(), GraphAlignment()]
        else:
            # Without a graph branch, use the sources the batch has.
            loss = SoftLabelContrastive(sources="auto")
    return optimizer, loss


def scalar_logit_scale(y_pred):
    """`y_pred` with its per-example `logit_scale` `(B, 1)` as a scalar.

    The losses take `logit_scale` as a scalar; every row holds the same
    value, and the mean passes the full gradient to it.

    Args:
        y_pred: the backbone's output dict (other values pass through).

    Returns:
        A new dict (or `y_pred` itself when it has no `logit_scale`).

    Example:
    >>> import numpy as np
    >>> out = scalar_logit_scale({"logit_scale": np.full((3, 1), 5.0)})
    >>> float(out["logit_scale"])
    5.0
    """
    if isinstance(y_pred, dict) and "logit_scale" in y_pred:
        y_pred = dict(y_pred)
        y_pred["logit_scale"] = ops.mean(
            ops.cast(y_pred["logit_scale"], "float32")
        )
    return y_pred


class ClinCLIPCompileMixin(ContrastiveLossMixin):
    """The ClinCLIP compile defaults; the losses see whole dicts.

    For `ClinCLIPBackbone` and `ClinCLIPPretrainer` (the Task, whose
    `backbone` attribute decides the default loss). `compile` is
    `ContrastiveLossMixin.compile` (defined once); this mixin only
    supplies its `"auto"` defaults. Before the losses,
    `compute_loss` masks the negation slots a `negation_capacity` dropped
    (`mask_dropped_negations`) and hands the losses the scalar logit
    scale (`scalar_logit_scale`).

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> model = tiny_clinclip_backbone()
    >>> isinstance(model, ClinCLIPCompileMixin)
    True
    >>> model.compile()
    >>> type(model.optimizer).__name__
    'AdamW'
    """

    def default_compile_arguments(self, optimizer, loss):
        """`"auto"`: AdamW (1e-4, weight decay 0.1) and the full loss.

        See the module function `default_compile_arguments`; the Task's
        `backbone` (or the backbone itself) decides the default loss.

        Args:
            optimizer: `"auto"` or any Keras optimizer.
            loss: `"auto"`, a loss or a list of losses.

        Returns:
            `(optimizer, loss)`.
        """
        backbone = getattr(self, "backbone", self)
        return default_compile_arguments(backbone, optimizer, loss)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return super().compute_loss(
            x=x,
            y=mask_dropped_negations(y, y_pred),
            y_pred=scalar_logit_scale(y_pred),
            sample_weight=sample_weight,
            training=training,
        )
