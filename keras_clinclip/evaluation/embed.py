"""Embedding raw images and texts with a model, in batches, to numpy.

The evaluation metrics work on numpy embeddings. `embed_images(backbone,
images, preprocessor)` and `embed_texts(backbone, texts, preprocessor)`
preprocess raw radiographs and strings batch by batch (the preprocessor's
`convert_images` and `tokenize`) and encode them with
`numpy_encoder(backbone, kind)`: a `ClinCLIPBackbone` with the module
functions below, any other object with its own `encode_images` /
`encode_texts` method. The encoder
itself, `encode_images(backbone, images)` and `encode_texts(backbone,
token_ids, padding_mask)` (L2-normalised projected embeddings of tower
inputs), is written once, in `keras_clinclip.models.clinclip_batch_encoder`,
below the models it serves, and is re-exported here.

Every batch has one shape: the last is padded with copies of its first
row, so that the model compiles once on every backend.
"""

import keras
import numpy as np

from keras_clinclip.data import decode_image
from keras_clinclip.models.clinclip_batch_encoder import encode_images
from keras_clinclip.models.clinclip_batch_encoder import encode_texts
from keras_clinclip.models.clinclip_batch_encoder import in_batches
from keras_clinclip.models.clinclip_batch_encoder import numpy_encoder
from keras_clinclip.models.clinclip_batch_encoder import pad_rows as _pad_rows
from keras_clinclip.models.clinclip_batch_encoder import to_numpy as _to_numpy
from keras_clinclip.models.clinclip_batch_encoder import unit_rows

__all__ = [
    "embed_images",
    "embed_texts",
    "encode_images",
    "encode_texts",
    "images_of",
]


def _progress(total, enabled, label):
    if not enabled:
        return None
    print(label, flush=True)
    return keras.utils.Progbar(total, unit_name="sample")


def embed_images(
    backbone, images, preprocessor=None, batch_size=64, progress=False
):
    """L2-normalised image embeddings as a float32 numpy array.

    Args:
        backbone: a `ClinCLIPBackbone`, or an object with
            `encode_images(images)`.
        images: an array of images, first axis the batch (raw radiographs
            when a preprocessor is given, converted tower inputs otherwise).
        preprocessor: optional object with `convert_images(images)`.
        batch_size: images per model call (the last batch is padded to
            it, so the model sees one shape).
        progress: show a Keras progress bar.

    Returns:
        float32 (N, d).

    Example:
    >>> import numpy as np
    >>> class Fake:
    ...     def encode_images(self, x):
    ...         return x.reshape(len(x), -1)
    >>> embed_images(Fake(), np.ones((3, 2, 2))).shape
    (3, 4)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(images) == 0:
        raise ValueError("embed_images got no images")

    encode = numpy_encoder(backbone, "images")

    def run(start, stop, size):
        batch = images[start:stop]
        if preprocessor is not None:
            batch = preprocessor.convert_images(batch)
        return encode(_pad_rows(_to_numpy(batch), size))

    bar = _progress(len(images), progress, "Embedding images")
    return unit_rows(in_batches(run, len(images), batch_size, bar))


def embed_texts(backbone, texts, preprocessor, batch_size=64, progress=False):
    """L2-normalised text embeddings as a float32 numpy array.

    Args:
        backbone: a `ClinCLIPBackbone`, or an object with
            `encode_texts(token_ids, padding_mask)`.
        texts: a list of strings.
        preprocessor: an object with `tokenize(texts)` returning
            `{"token_ids", "padding_mask"}`.
        batch_size: texts per model call.
        progress: show a Keras progress bar.

    Returns:
        float32 (N, d).

    Example:
    >>> import numpy as np
    >>> class Tok:
    ...     def tokenize(self, texts):
    ...         ids = np.array([[len(t), 1] for t in texts], "float32")
    ...         return {"token_ids": ids, "padding_mask": ids > 0}
    >>> class Fake:
    ...     def encode_texts(self, token_ids, padding_mask):
    ...         return token_ids
    >>> embed_texts(Fake(), ["ab", "abc"], Tok()).shape
    (2, 2)
    """
    if preprocessor is None:
        raise ValueError("embed_texts needs a preprocessor to tokenize")
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("embed_texts got no texts")

    encode = numpy_encoder(backbone, "texts")

    def run(start, stop, size):
        tokens = preprocessor.tokenize(texts[start:stop])
        return encode(
            _pad_rows(_to_numpy(tokens["token_ids"]), size),
            _pad_rows(_to_numpy(tokens["padding_mask"]), size),
        )

    bar = _progress(len(texts), progress, "Embedding reports")
    return unit_rows(in_batches(run, len(texts), batch_size, bar))


class _ConvertedImages:
    """A preprocessor view whose images are already converted."""

    def __init__(self, preprocessor):
        self.preprocessor = preprocessor

    def convert_images(self, images):
        return images

    def tokenize(self, texts):
        return self.preprocessor.tokenize(texts)


def images_of(records, preprocessor):
    """The images of `records` and the preprocessor to embed them with.

    In-memory images are returned raw (converted batch by batch later);
    image files, which may differ in size, are decoded with
    `keras_clinclip.data.decode_image` and converted one by one.

    Args:
        records: columns with `image` or `image_path`.
        preprocessor: a `ClinCLIPPreprocessor`.

    Returns:
        `(images, preprocessor)` to hand to `embed.embed_images`.

    Example:
    >>> images, _ = images_of({"image": np.zeros((2, 4, 4))}, None)
    >>> images.shape
    (2, 4, 4)
    """
    if "image" in records:
        return np.asarray(records["image"]), preprocessor
    if "image_path" in records:
        converted = [
            np.asarray(preprocessor.convert_images(decode_image(path)))
            for path in records["image_path"]
        ]
        return np.stack(converted), _ConvertedImages(preprocessor)
    raise KeyError(
        "records need an 'image' or 'image_path' column (columns: "
        f"{sorted(records)})"
    )
