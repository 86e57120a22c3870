"""ClinCLIP contrastive pretraining as a KerasHub `Task`."""

import keras
from keras_hub.models import Task

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_compile import ClinCLIPCompileMixin
from keras_clinclip.models.clinclip_model_card import write_model_card
from keras_clinclip.models.clinclip_preprocessor import ClinCLIPPreprocessor

__all__ = ["ClinCLIPPretrainer"]


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPPretrainer(ClinCLIPCompileMixin, Task):
    """Contrastive pretraining of a `ClinCLIPBackbone` on raw studies.

    A KerasHub `Task`: a backbone and a preprocessor. `fit`, `evaluate` and
    `predict` take raw inputs, `{"images": uint8/float radiographs,
    "reports": strings[, "negations": (B, K) strings][, graph arrays]}`
    with `y = {"labels": (B, 14), ...}` (see `docs/architecture.md`), and
    run them through the preprocessor (inside `tf.data`, on every
    backend); set `task.preprocessor = None` to feed preprocessed batches
    (such as those of `keras_clinclip.data.make_dataset`). The outputs are
    the backbone's dict of embeddings.

    `compile()` defaults to `clinclip train`'s optimizer and loss
    (`keras_clinclip.training_defaults`) at a constant learning rate:
    AdamW (5e-4, weight decay 0.05, clipped) and the full loss
    (`SoftLabelContrastive()` plus `GraphAlignment(sources="auto")`
    weighted 0.5 with a graph branch, else `SoftLabelContrastive()`); the
    losses receive the whole `y_true`/`y_pred` dicts
    (`ClinCLIPCompileMixin`; the defaults' home is
    `keras_clinclip.models.clinclip_compile.default_compile_arguments`).
    `save_to_preset(dir)` writes `task.json`, the
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
        if preprocessor is not None:
            # Raw studies with or without negations feed every backbone
            # (a `negation_capacity` adds the `negation_mask` input).
            preprocessor.match_backbone(backbone)
        self.preprocessor = preprocessor

        # === Functional Model ===
        inputs = backbone.input
        outputs = backbone(inputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

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
