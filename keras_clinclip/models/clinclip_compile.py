"""Compile defaults and loss inputs of ClinCLIP models, written once.

`ClinCLIPPretrainer` (the Task) owns the compile defaults; the backbone,
which users also compile directly (`model.compile(loss=...)`), takes the
same ones. Both inherit `ClinCLIPCompileMixin` from this module, which
imports neither of them, so that the Task may import the backbone and
not the reverse.
"""

from keras import ops

from keras_clinclip import training_defaults
from keras_clinclip.layers.negation_packing import mask_dropped_negations
from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models.clinclip_optimizer import build_optimizer
from keras_clinclip.models.contrastive_model import ContrastiveLossMixin


def default_compile_arguments(
    backbone, optimizer="auto", loss="auto", loss_weights=None
):
    """Resolves `"auto"` optimizer and loss for a ClinCLIP backbone.

    The one home of the compile defaults, used by
    `ClinCLIPPretrainer.compile` and `ClinCLIPBackbone.compile`. Their
    values are those of `clinclip train` (`keras_clinclip.training_defaults`,
    read by `TrainingConfig` too), except that the learning rate is
    constant: `compile` does not know the run's length, which the warm-up
    and cosine schedule of `clinclip train` needs.

    Args:
        backbone: a `ClinCLIPBackbone`.
        optimizer: `"auto"` (`build_optimizer()`: AdamW at a constant
            learning rate of 5e-4, weight decay 0.05 except on biases,
            norms and the logit scale, beta_2 0.98, epsilon 1e-6, global
            gradient norm clipped to 1.0) or anything `keras.Model.compile`
            takes.
        loss: `"auto"` or a loss / list of losses taking whole
            `y_true`/`y_pred` dicts. `"auto"` with a graph branch:
            `[SoftLabelContrastive(), GraphAlignment(sources="auto")]`
            weighted `[1.0, 0.5]`, the loss of `clinclip train --loss=full`
            (soft targets from every similarity source the batch has, the
            batch's negations as hard negatives); without one:
            `SoftLabelContrastive()` alone.
        loss_weights: None (the `"auto"` loss's weights, else equal) or a
            list of floats, one per loss.

    Returns:
        `(optimizer, loss, loss_weights)`.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> optimizer, loss, weights = default_compile_arguments(
    ...     tiny_clinclip_backbone(graph_feature_dim=8))
    >>> type(optimizer).__name__, [type(item).__name__ for item in loss]
    ('AdamW', ['SoftLabelContrastive', 'GraphAlignment'])
    >>> weights
    [1.0, 0.5]
    """
    if isinstance(optimizer, str) and optimizer == "auto":
        optimizer = build_optimizer()
    if isinstance(loss, str) and loss == "auto":
        # The soft targets use the sources the batch has ("auto").
        loss = SoftLabelContrastive()
        if getattr(backbone, "graph_encoder", None) is not None:
            # The graph source of the soft targets is stop-gradient, so
            # GraphAlignment is what trains the graph encoder.
            loss = [loss, GraphAlignment(sources="auto")]
            if loss_weights is None:
                loss_weights = [1.0, training_defaults.GRAPH_WEIGHT]
    return optimizer, loss, loss_weights


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

    def default_compile_arguments(self, optimizer, loss, loss_weights=None):
        """`"auto"`: `clinclip train`'s AdamW (constant rate) and loss.

        See the module function `default_compile_arguments`; the Task's
        `backbone` (or the backbone itself) decides the default loss.

        Args:
            optimizer: `"auto"` or any Keras optimizer.
            loss: `"auto"`, a loss or a list of losses.
            loss_weights: None or one float per loss.

        Returns:
            `(optimizer, loss, loss_weights)`.
        """
        backbone = getattr(self, "backbone", self)
        return default_compile_arguments(
            backbone, optimizer, loss, loss_weights
        )

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
