"""ClinCLIP contrastive pretraining as a KerasHub `Task`."""

import keras
from keras_hub.models import Task

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_backbone import scalar_logit_scale
from keras_clinclip.models.clinclip_model_card import write_model_card
from keras_clinclip.models.clinclip_preprocessor import ClinCLIPPreprocessor
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
        from keras_clinclip.losses import SoftLabelContrastive

        if getattr(backbone, "graph_encoder", None) is not None:
            from keras_clinclip.losses import GraphAlignment

            # The graph source of the soft targets is stop-gradient, so
            # GraphAlignment is what trains the graph encoder.
            loss = [SoftLabelContrastive(), GraphAlignment()]
        else:
            # Without a graph branch, use the sources the batch has.
            loss = SoftLabelContrastive(sources="auto")
    return optimizer, loss


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPPretrainer(ContrastiveLossMixin, Task):
    """Contrastive pretraining of a `ClinCLIPBackbone` on raw studies.

    A KerasHub `Task`: a backbone and a preprocessor. `fit`, `evaluate` and
    `predict` take raw inputs, `{"images": uint8/float radiographs,
    "reports": strings[, "negations": (B, K) strings][, graph arrays]}`
    with `y = {"labels": (B, 14), ...}` (see `docs/architecture.md`), and
    run them through the preprocessor (inside `tf.data`, on every
    backend); set `task.preprocessor = None` to feed preprocessed batches
    (such as those of `keras_clinclip.data.make_dataset`). The outputs are
    the backbone's dict of embeddings.

    `compile()` defaults to AdamW (learning rate 1e-4, weight decay 0.1)
    and the full loss (`SoftLabelContrastive()` plus `GraphAlignment()`
    with a graph branch, else `SoftLabelContrastive(sources="auto")`); the
    losses receive the whole `y_true`/`y_pred` dicts
    (`ContrastiveLossMixin`). `save_to_preset(dir)` writes `task.json`, the
    backbone, the preprocessor and a model card (`README.md`);
    `ClinCLIPPretrainer.from_preset(dir)` loads it back.

    Args:
        backbone: a `ClinCLIPBackbone`.
        preprocessor: a `ClinCLIPPreprocessor` or None.
        compile: bool. Compile with the defaults at construction (True).
        **kwargs: standard `keras.Model` arguments (`name`, ...).

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.models import ClinCLIPPretrainer
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> task = ClinCLIPPretrainer(tiny_clinclip_backbone(),
    ...                           tiny_clinclip_preprocessor())
    >>> x = {"images": np.zeros((4, 48, 48), "uint8"),
    ...      "reports": ["no effusion", "small left effusion",
    ...                  "heart size normal", "mild edema"]}
    >>> y = {"labels": np.zeros((4, 14), "float32")}
    >>> history = task.fit(x, y, batch_size=4, epochs=1, verbose=0)
    SoftLabelContrastive: soft-target sources from the batch: ...
    >>> bool(np.isfinite(history.history["loss"][0]))
    True
    >>> tuple(task.predict(x, verbose=0)["image_embeddings"].shape)
    (4, 16)
    """

    backbone_cls = ClinCLIPBackbone
    preprocessor_cls = ClinCLIPPreprocessor

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor

        # === Functional Model ===
        inputs = backbone.input
        outputs = backbone(inputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def compile(self, optimizer="auto", loss="auto", **kwargs):
        """Configures training; defaults: AdamW and the full ClinCLIP loss.

        Args:
            optimizer: `"auto"` or any Keras optimizer (see
                `default_compile_arguments`).
            loss: `"auto"`, a loss taking `(y_true, y_pred)` dicts, or a
                list of them.
            **kwargs: `loss_weights` (a list, one per loss) and the other
                `keras.Model.compile` arguments.
        """
        optimizer, loss = default_compile_arguments(
            self.backbone, optimizer, loss
        )
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return super().compute_loss(
            x=x,
            y=y,
            y_pred=scalar_logit_scale(y_pred),
            sample_weight=sample_weight,
            training=training,
        )

    def save_to_preset(self, preset_dir, max_shard_size=10, model_card=None):
        """Saves the task (`task.json`), backbone, preprocessor, model card.

        Args:
            preset_dir: local directory to write.
            max_shard_size: float. Weight shard size in GB (KerasHub).
            model_card: optional dict for the `README.md` (see
                `ClinCLIPBackbone.save_to_preset`).
        """
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        write_model_card(preset_dir, self.backbone, model_card)
