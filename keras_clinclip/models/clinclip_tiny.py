"""Tiny ClinCLIP models for examples, tests and smoke runs.

Small enough to build and run on a CPU in about a second: 32x32 images, a
one-stage ResNet image tower, a 1-layer, 16-wide BERT text tower over a
40-word radiology vocabulary and 16-d embeddings. Their weights are random:
they show shapes and the API, not results.
"""

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_graph_encoder import ClinCLIPGraphEncoder
from keras_clinclip.models.clinclip_image_converter import (
    ClinCLIPImageConverter,
)
from keras_clinclip.models.clinclip_preprocessor import ClinCLIPPreprocessor
from keras_clinclip.models.clinclip_tokenizer import ClinCLIPTokenizer
from keras_clinclip.models.clinclip_towers import small_resnet_image_encoder

TINY_VOCABULARY = (
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "no",
    "not",
    "without",
    "there",
    "is",
    "are",
    "a",
    "the",
    "small",
    "large",
    "left",
    "right",
    "pleural",
    "effusion",
    "pneumothorax",
    "cardiomegaly",
    "heart",
    "size",
    "normal",
    "lungs",
    "clear",
    "opacity",
    "edema",
    "atelectasis",
    "consolidation",
    "nodule",
    "fracture",
    "mild",
    "acute",
    "finding",
    "tube",
    "stable",
    "base",
    ".",
    ",",
)


def tiny_clinclip_tokenizer():
    """A lower-casing `ClinCLIPTokenizer` over `TINY_VOCABULARY` (40 words).

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_tokenizer
    >>> tiny_clinclip_tokenizer().vocabulary_size()
    40
    """
    return ClinCLIPTokenizer(vocabulary=list(TINY_VOCABULARY), lowercase=True)


def tiny_clinclip_image_encoder(image_size=32, dtype=None):
    """A one-stage KerasHub `ResNetBackbone` (~84k parameters).

    Args:
        image_size: int. Input height and width.
        dtype: dtype policy of the tower.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_image_encoder
    >>> tiny_clinclip_image_encoder().image_shape
    (32, 32, 3)
    """
    return small_resnet_image_encoder(
        image_size=image_size, filters=(64,), blocks=(1,), dtype=dtype
    )


def tiny_clinclip_text_encoder(max_sequence_length=32, dtype=None):
    """A 1-layer, 16-wide `keras_hub.models.BertBackbone` (40-word vocab).

    Args:
        max_sequence_length: int. Longest token sequence.
        dtype: dtype policy of the tower.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> tiny_clinclip_text_encoder().hidden_dim
    16
    """
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_VOCABULARY),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=max_sequence_length,
        dropout=0.0,
        dtype=dtype,
    )


def tiny_clinclip_preprocessor(sequence_length=16, image_size=32):
    """A `ClinCLIPPreprocessor` with the tiny tokenizer.

    Args:
        sequence_length: int. Token length L.
        image_size: int. Output size of the image converter.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> preprocessor = tiny_clinclip_preprocessor(sequence_length=8)
    >>> batch = preprocessor.tokenize(["no pleural effusion"])
    >>> tuple(batch["token_ids"].shape)
    (1, 8)
    """
    return ClinCLIPPreprocessor(
        tokenizer=tiny_clinclip_tokenizer(),
        image_converter=ClinCLIPImageConverter(image_size=image_size),
        sequence_length=sequence_length,
    )


def tiny_clinclip_backbone(**overrides):
    """A tiny `ClinCLIPBackbone`; keyword arguments override the defaults.

    Defaults: 32x32 images (`image_size=`), the tiny towers,
    `embedding_dim=16`, no negations, no graph branch
    (`graph_feature_dim=F` adds a 16-wide, 1-layer `ClinCLIPGraphEncoder`
    of F node features). Pass e.g. `num_negations=2`,
    `graph_feature_dim=8`, `dtype="mixed_bfloat16"`, or
    `image_encoder=...`/`text_encoder=...`/`graph_encoder=...`.

    Args:
        **overrides: `image_size`, `graph_feature_dim` and any
            `ClinCLIPBackbone` argument.

    Returns:
        A `ClinCLIPBackbone` with random weights.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> model = tiny_clinclip_backbone(num_negations=2)
    >>> outputs = model({
    ...     "images": np.zeros((2, 32, 32, 3), "float32"),
    ...     "token_ids": np.ones((2, 8), "int32"),
    ...     "padding_mask": np.ones((2, 8), "int32"),
    ...     "negation_token_ids": np.ones((2, 2, 8), "int32"),
    ...     "negation_padding_mask": np.ones((2, 2, 8), "int32"),
    ... })
    >>> tuple(outputs["negation_embeddings"].shape)
    (2, 2, 16)
    >>> tiny_clinclip_backbone(graph_feature_dim=8).graph_feature_dim
    8
    """
    config = {"embedding_dim": 16}
    config.update(overrides)
    dtype = config.get("dtype")
    image_size = config.pop("image_size", 32)
    feature_dim = config.pop("graph_feature_dim", None)
    if feature_dim is not None and "graph_encoder" not in config:
        config["graph_encoder"] = ClinCLIPGraphEncoder(
            feature_dim, hidden_dim=16, num_layers=1, dtype=dtype
        )
    if "image_encoder" not in config:
        config["image_encoder"] = tiny_clinclip_image_encoder(
            image_size, dtype=dtype
        )
    if "text_encoder" not in config:
        config["text_encoder"] = tiny_clinclip_text_encoder(dtype=dtype)
    return ClinCLIPBackbone(**config)
