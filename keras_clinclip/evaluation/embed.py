"""Embedding images and texts with a model, in batches, to numpy.

The evaluation metrics work on numpy embeddings; these helpers are the
only place where the model is called. They rely on the backbone's public
methods `encode_images(images)` and `encode_texts(token_ids, padding_mask)`
(L2-normalised projected embeddings) and on the preprocessor's
`convert_images(images)` and `tokenize(texts)`.
"""

import numpy as np

from keras_clinclip.evaluation.retrieval import l2_normalize


def _to_numpy(x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def _pad_rows(array, size):
    """Pad the first axis to `size` with copies of the first row, so that
    every model call sees one shape (one compilation on every backend)."""
    array = np.asarray(array)
    missing = size - array.shape[0]
    if missing <= 0:
        return array
    filler = np.repeat(array[:1], missing, axis=0)
    return np.concatenate([array, filler], axis=0)


def _progress(total, enabled, label):
    if not enabled:
        return None
    import keras

    print(label, flush=True)
    return keras.utils.Progbar(total, unit_name="sample")


def embed_images(
    backbone, images, preprocessor=None, batch_size=64, progress=False
):
    """L2-normalised image embeddings as a float32 numpy array.

    Args:
        backbone: an object with `encode_images(images)` (a
            `ClinCLIPBackbone`).
        images: an array of images, first axis the batch (raw radiographs
            when a preprocessor is given, converted tower inputs otherwise).
        preprocessor: optional object with `convert_images(images)`.
        batch_size: images per model call (the last batch is padded to
            it, so the model sees one shape).
        progress: show a Keras progress bar.

    Returns:
        float32 (N, d).

    Example:
    >>> class Fake:
    ...     def encode_images(self, x):
    ...         return x.reshape(len(x), -1)
    >>> embed_images(Fake(), np.ones((3, 2, 2))).shape
    (3, 4)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    total = len(images)
    bar = _progress(total, progress, "Embedding images")
    outputs = []
    size = min(batch_size, total)
    for start in range(0, total, batch_size):
        batch = images[start : start + batch_size]
        count = len(batch)
        if preprocessor is not None:
            batch = preprocessor.convert_images(batch)
        batch = _pad_rows(_to_numpy(batch), size)
        outputs.append(_to_numpy(backbone.encode_images(batch))[:count])
        if bar is not None:
            bar.update(min(start + batch_size, total))
    if not outputs:
        raise ValueError("embed_images got no images")
    return l2_normalize(np.concatenate(outputs)).astype(np.float32)


def embed_texts(backbone, texts, preprocessor, batch_size=64, progress=False):
    """L2-normalised text embeddings as a float32 numpy array.

    Args:
        backbone: an object with `encode_texts(token_ids, padding_mask)`.
        texts: a list of strings.
        preprocessor: an object with `tokenize(texts)` returning
            `{"token_ids", "padding_mask"}`.
        batch_size: texts per model call.
        progress: show a Keras progress bar.

    Returns:
        float32 (N, d).

    Example:
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
    bar = _progress(len(texts), progress, "Embedding reports")
    outputs = []
    size = min(batch_size, len(texts))
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        tokens = preprocessor.tokenize(chunk)
        token_ids = _pad_rows(_to_numpy(tokens["token_ids"]), size)
        padding_mask = _pad_rows(_to_numpy(tokens["padding_mask"]), size)
        embeddings = backbone.encode_texts(token_ids, padding_mask)
        outputs.append(_to_numpy(embeddings)[: len(chunk)])
        if bar is not None:
            bar.update(min(start + batch_size, len(texts)))
    return l2_normalize(np.concatenate(outputs)).astype(np.float32)
