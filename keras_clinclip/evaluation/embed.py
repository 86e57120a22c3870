"""Embedding images and texts with a model, in batches, to numpy.

The one encoder of the package; the evaluation metrics work on its numpy
embeddings:

- `encode_images(backbone, images)` and `encode_texts(backbone, token_ids,
  padding_mask)` take tower inputs and return L2-normalised projected
  embeddings. They run a compiled branch of the backbone (a functional
  model of its `embed_images` / `embed_texts`, sharing its layers, built
  once per backbone and kept here, outside the model) with
  `predict_on_batch`. `ClinCLIPBackbone.encode_images` / `encode_texts`
  are these functions.
- `embed_images(backbone, images, preprocessor)` and
  `embed_texts(backbone, texts, preprocessor)` take raw radiographs and
  strings, preprocess them batch by batch (the preprocessor's
  `convert_images` and `tokenize`) and call `backbone.encode_images` /
  `backbone.encode_texts` (any object with those methods).

Every batch has one shape: the last is padded with copies of its first
row, so that the model compiles once on every backend.
"""

import weakref

import keras
import numpy as np

from keras_clinclip.evaluation.retrieval import l2_normalize

# backbone -> {"image": keras.Model, "text": keras.Model}
_BRANCHES = weakref.WeakKeyDictionary()


def _to_numpy(x):
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
    print(label, flush=True)
    return keras.utils.Progbar(total, unit_name="sample")


def _in_batches(run, total, batch_size, bar=None):
    """Rows of `run(start, stop, size)` over batches of `size` rows.

    `run` returns the outputs of a batch padded to `size` rows; the
    padding rows are dropped here.
    """
    size = max(1, min(int(batch_size or total), total))
    outputs = []
    for start in range(0, total, size):
        stop = min(start + size, total)
        outputs.append(_to_numpy(run(start, stop, size))[: stop - start])
        if bar is not None:
            bar.update(stop)
    return np.concatenate(outputs)


def _unit_rows(embeddings):
    return l2_normalize(embeddings).astype(np.float32)


def _branch(backbone, kind):
    """The compiled-once functional model of one branch of `backbone`."""
    branches = _BRANCHES.setdefault(backbone, {})
    if kind not in branches:
        if kind == "image":
            images = keras.Input(shape=backbone.image_shape, name="images")
            outputs = backbone.embed_images(images)
            branches[kind] = keras.Model(images, outputs)
        else:
            token_ids = keras.Input(
                shape=(None,), dtype="int32", name="token_ids"
            )
            padding_mask = keras.Input(
                shape=(None,), dtype="int32", name="padding_mask"
            )
            outputs = backbone.embed_texts(token_ids, padding_mask)
            branches[kind] = keras.Model([token_ids, padding_mask], outputs)
    return branches[kind]


def encode_images(backbone, images, batch_size=64):
    """L2-normalised projected image embeddings of tower inputs.

    Args:
        backbone: a `ClinCLIPBackbone` (its `embed_images`, `image_shape`
            and `embedding_dim`).
        images: float `(N, H, W, C)` array (the preprocessor's output).
        batch_size: int. Images per compiled forward pass (the last batch
            is padded to it, so one compiled shape serves all).

    Returns:
        A float32 numpy array `(N, d)` of unit rows.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> model = tiny_clinclip_backbone()
    >>> images = np.zeros((3, 32, 32, 3), "float32")
    >>> encode_images(model, images, batch_size=2).shape
    (3, 16)
    """
    images = np.asarray(_to_numpy(images), "float32")
    if len(images) == 0:
        return np.zeros((0, backbone.embedding_dim), "float32")
    model = _branch(backbone, "image")

    def run(start, stop, size):
        return model.predict_on_batch(_pad_rows(images[start:stop], size))

    return _unit_rows(_in_batches(run, len(images), batch_size))


def encode_texts(backbone, token_ids, padding_mask, batch_size=256):
    """L2-normalised projected text embeddings of token ids.

    Args:
        backbone: a `ClinCLIPBackbone` (its `embed_texts` and
            `embedding_dim`).
        token_ids: int `(N, L)` array (the preprocessor's `tokenize`).
        padding_mask: bool/int `(N, L)` array.
        batch_size: int. Texts per compiled forward pass.

    Returns:
        A float32 numpy array `(N, d)` of unit rows.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> model = tiny_clinclip_backbone()
    >>> ids = np.ones((5, 8), "int32")
    >>> encode_texts(model, ids, ids > 0).shape
    (5, 16)
    """
    token_ids = _to_numpy(token_ids).astype("int32")
    padding_mask = _to_numpy(padding_mask)
    if padding_mask.shape != token_ids.shape:
        raise ValueError(
            f"`padding_mask` has shape {padding_mask.shape} but "
            f"`token_ids` has shape {token_ids.shape}."
        )
    padding_mask = padding_mask.astype("int32")
    if len(token_ids) == 0:
        return np.zeros((0, backbone.embedding_dim), "float32")
    model = _branch(backbone, "text")

    def run(start, stop, size):
        return model.predict_on_batch(
            [
                _pad_rows(token_ids[start:stop], size),
                _pad_rows(padding_mask[start:stop], size),
            ]
        )

    return _unit_rows(_in_batches(run, len(token_ids), batch_size))


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
    if len(images) == 0:
        raise ValueError("embed_images got no images")

    def run(start, stop, size):
        batch = images[start:stop]
        if preprocessor is not None:
            batch = preprocessor.convert_images(batch)
        return backbone.encode_images(_pad_rows(_to_numpy(batch), size))

    bar = _progress(len(images), progress, "Embedding images")
    return _unit_rows(_in_batches(run, len(images), batch_size, bar))


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

    def run(start, stop, size):
        tokens = preprocessor.tokenize(texts[start:stop])
        return backbone.encode_texts(
            _pad_rows(_to_numpy(tokens["token_ids"]), size),
            _pad_rows(_to_numpy(tokens["padding_mask"]), size),
        )

    bar = _progress(len(texts), progress, "Embedding reports")
    return _unit_rows(_in_batches(run, len(texts), batch_size, bar))
