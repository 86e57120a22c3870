"""Fine-tuned chest X-ray classification: a preset's image tower + a head."""

import keras
from keras_hub.models import ImageClassifier
from keras_hub.models import Task

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_image_classifier_preprocessor import (
    ClinCLIPImageClassifierPreprocessor,
)

PROBLEMS = ("multilabel", "binary", "multiclass")

# The backbone's layers that the image path does not use: frozen, so that
# an optimizer's weight decay leaves the text tower as it was.
_TEXT_SIDE = (
    "text_encoder",
    "text_pooler",
    "text_projection",
    "logit_scale_layer",
    "graph_encoder",
    "graph_projection",
)


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPImageClassifier(ImageClassifier):
    """Full fine-tuning of a ClinCLIP image tower for classification.

    A KerasHub `ImageClassifier` task: the backbone's image tower, its
    pooling and image projection head (`ClinCLIPBackbone.embed_images`),
    dropout and a `Dense(num_classes)` head returning **logits**. Every
    image-side weight trains; the text side (tower, projection, logit
    scale, graph encoder) is set non-trainable, since the task never uses
    it. `ClinCLIPImageClassifier.from_preset(dir, num_classes=C)` builds it
    from any ClinCLIP preset (and `keras_hub.models.ImageClassifier
    .from_preset` finds this class through `backbone_cls`);
    `save_to_preset` writes `task.json` and the head's weights too.

    `compile()` defaults follow `problem`: `"multilabel"` (C independent
    findings, `BinaryCrossentropy(from_logits=True)`), `"binary"`
    (`num_classes=1`, the same loss) or `"multiclass"` (one class of C,
    `SparseCategoricalCrossentropy(from_logits=True)`, integer labels);
    AdamW at learning rate 1e-4 (weight decay 1e-4).

    Distributed training works as for pretraining (`docs/training.md`):
    build and compile under `tf.distribute.MirroredStrategy().scope()` on
    TensorFlow, set `keras.distribution.set_distribution(
    keras.distribution.DataParallel())` before building on JAX, and run
    one process per GPU with `torchrun` on PyTorch; nothing here is
    device-specific (tested on one device).

    Args:
        backbone: a `ClinCLIPBackbone`.
        num_classes: int. The number of outputs.
        preprocessor: a `ClinCLIPImageClassifierPreprocessor` or None.
        problem: one of `PROBLEMS` (sets the default loss and metrics).
        dropout: float. Dropout before the head.
        head_dtype: dtype policy of the head (default the backbone's).
        **kwargs: `keras_hub.models.Task` arguments (`compile`, `name`).

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> from keras_clinclip.models import ClinCLIPImageConverter
    >>> classifier = ClinCLIPImageClassifier(
    ...     tiny_clinclip_backbone(), num_classes=2,
    ...     preprocessor=ClinCLIPImageClassifierPreprocessor(
    ...         ClinCLIPImageConverter(image_size=32)))
    >>> images = np.zeros((4, 40, 40), "uint8")
    >>> history = classifier.fit(images, np.ones((4, 2)), epochs=1, verbose=0)
    >>> classifier.predict(images, verbose=0).shape
    (4, 2)
    """

    backbone_cls = ClinCLIPBackbone
    preprocessor_cls = ClinCLIPImageClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        problem="multilabel",
        dropout=0.0,
        head_dtype=None,
        **kwargs,
    ):
        if problem not in PROBLEMS:
            raise ValueError(
                f"problem must be one of {PROBLEMS}, got {problem!r}"
            )
        if problem == "binary" and int(num_classes) != 1:
            raise ValueError(
                f"a binary problem has num_classes=1, got {num_classes}"
            )
        head_dtype = head_dtype or backbone.dtype_policy
        for name in _TEXT_SIDE:
            layer = getattr(backbone, name, None)
            if layer is not None:
                layer.trainable = False

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=head_dtype, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            int(num_classes), dtype=head_dtype, name="predictions"
        )

        # `compile()` (called by `Task.__init__`) reads the problem.
        self.problem = problem

        # === Functional Model ===
        inputs = keras.Input(shape=backbone.image_shape, name="images")
        x = backbone.embed_images(inputs)
        x = self.output_dropout(x)
        outputs = self.output_dense(x)
        Task.__init__(self, inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.activation = None
        self.pooling = "avg"  # read by nothing here; KerasHub's attribute

    def get_config(self):
        config = Task.get_config(self)
        config.update(
            {
                "num_classes": self.num_classes,
                "problem": self.problem,
                "dropout": self.dropout,
            }
        )
        return config

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kw):
        """Compile with defaults for `problem` (see the class doc).

        Args:
            optimizer: `"auto"` (AdamW 1e-4) or any Keras optimizer.
            loss: `"auto"` or any Keras loss.
            metrics: `"auto"` (AUC for multi-label/binary, accuracy for
                multi-class) or a list.
            **kw: `keras.Model.compile` arguments.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(1e-4, weight_decay=1e-4)
        multiclass = self.problem == "multiclass"
        if loss == "auto":
            loss = (
                keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                if multiclass
                else keras.losses.BinaryCrossentropy(from_logits=True)
            )
        if metrics == "auto":
            metrics = [
                keras.metrics.SparseCategoricalAccuracy()
                if multiclass
                else keras.metrics.AUC(from_logits=True, multi_label=True)
            ]
        Task.compile(
            self, optimizer=optimizer, loss=loss, metrics=metrics, **kw
        )
