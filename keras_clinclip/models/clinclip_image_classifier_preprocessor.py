"""Radiographs to a `ClinCLIPImageClassifier`'s input."""

import keras
from keras_hub.models import ImageClassifierPreprocessor

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_image_converter import (
    ClinCLIPImageConverter,
)


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPImageClassifierPreprocessor(ImageClassifierPreprocessor):
    """Image preprocessing of `ClinCLIPImageClassifier` (no text).

    KerasHub's `ImageClassifierPreprocessor` with a
    `ClinCLIPImageConverter`: `preprocessor(x, y, sample_weight)` converts
    the radiographs `x` and passes `y` and `sample_weight` through. Its
    `backbone_cls` is `ClinCLIPBackbone`, so `from_preset(dir)` loads the
    converter (`image_converter.json`) of any ClinCLIP preset.

    Args:
        image_converter: a `ClinCLIPImageConverter` (default 224x224).
        **kwargs: standard layer arguments.

    Example:
    >>> import numpy as np
    >>> preprocessor = ClinCLIPImageClassifierPreprocessor(
    ...     ClinCLIPImageConverter(image_size=16))
    >>> x, y = preprocessor(np.zeros((2, 40, 40), "uint8"), [0, 1])
    >>> tuple(x.shape)
    (2, 16, 16, 3)
    """

    backbone_cls = ClinCLIPBackbone
    image_converter_cls = ClinCLIPImageConverter

    def __init__(self, image_converter=None, **kwargs):
        if image_converter is None:
            image_converter = ClinCLIPImageConverter(image_size=224)
        super().__init__(image_converter=image_converter, **kwargs)
