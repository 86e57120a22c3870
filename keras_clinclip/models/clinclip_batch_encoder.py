"""Numpy batch encoding of a ClinCLIP backbone: the one encoder.

`encode_images(backbone, images)` and `encode_texts(backbone, token_ids,
padding_mask)` take tower inputs and return L2-normalised projected
embeddings, through a compiled branch of the backbone (a functional model
of its `embed_images` / `embed_texts`, sharing its layers, built once per
backbone and kept here, outside the model) run with `predict_on_batch` on
batches of one shape (the last padded with copies of its first row).
They are module functions, not backbone methods; `numpy_encoder(model,
kind)` picks them for a backbone, or the object's own `encode_images` /
`encode_texts` for other models (test doubles, wrapped models), and
`keras_clinclip.evaluation.embed` (raw radiographs and report strings)
builds on it.
"""

import functools
import weakref

import keras
import numpy as np

from keras_clinclip.models import clinclip_inputs as contract

# backbone -> {"image": keras.Model, "text": keras.Model}
_BRANCHES = weakref.WeakKeyDictionary()


def to_numpy(x):
    """A tensor (any backend) or array-like as a numpy array.

    Example:
    >>> to_numpy(keras.ops.ones((2,))).tolist()
    [1.0, 1.0]
    """
    return np.asarray(keras.ops.convert_to_numpy(x))


def pad_rows(array, size):
    """Pad the first axis to `size` with copies of the first row, so that
    every model call sees one shape (one compilation on every backend).

    Example:
    >>> pad_rows(np.array([[1], [2]]), 3).tolist()
    [[1], [2], [1]]
    """
    array = np.asarray(array)
    missing = size - array.shape[0]
    if missing <= 0:
        return array
    filler = np.repeat(array[:1], missing, axis=0)
    return np.concatenate([array, filler], axis=0)


def in_batches(run, total, batch_size, bar=None):
    """Rows of `run(start, stop, size)` over batches of `size` rows.

    `run` returns the outputs of a batch padded to `size` rows; the
    padding rows are dropped here.

    Args:
        run: callable `(start, stop, size) -> (size, ...)` outputs.
        total: int. Rows in all.
        batch_size: int (or None: one batch).
        bar: optional `keras.utils.Progbar`.

    Returns:
        A numpy array of `total` rows.

    Example:
    >>> in_batches(lambda a, b, size: np.arange(a, a + size), 5, 2).tolist()
    [0, 1, 2, 3, 4]
    """
    size = max(1, min(int(batch_size or total), total))
    outputs = []
    for start in range(0, total, size):
        stop = min(start + size, total)
        outputs.append(to_numpy(run(start, stop, size))[: stop - start])
        if bar is not None:
            bar.update(stop)
    return np.concatenate(outputs)


def unit_rows(embeddings):
    """Rows divided by their L2 norm (in float64), as float32.

    Example:
    >>> unit_rows([[3.0, 4.0]]).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(embeddings, np.float64)
    norms = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


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
    contract.check_images(images, backbone.image_shape)
    images = np.asarray(to_numpy(images), "float32")
    if len(images) == 0:
        return np.zeros((0, backbone.embedding_dim), "float32")
    model = _branch(backbone, "image")

    def run(start, stop, size):
        return model.predict_on_batch(pad_rows(images[start:stop], size))

    return unit_rows(in_batches(run, len(images), batch_size))


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
    limit = getattr(backbone, "max_sequence_length", None)
    contract.check_tokens(token_ids, "token_ids", 2, limit)
    token_ids = to_numpy(token_ids).astype("int32")
    padding_mask = to_numpy(padding_mask)
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
                pad_rows(token_ids[start:stop], size),
                pad_rows(padding_mask[start:stop], size),
            ]
        )

    return unit_rows(in_batches(run, len(token_ids), batch_size))


def numpy_encoder(model, kind):
    """The numpy encoder of `model` for `"images"` or `"texts"`.

    The object's own `encode_images` / `encode_texts` method when it has
    one (a model that is not a `ClinCLIPBackbone`, a test double), else
    this module's `encode_images` / `encode_texts` bound to it.

    Args:
        model: a `ClinCLIPBackbone`, or an object with the method.
        kind: `"images"` or `"texts"`.

    Returns:
        A callable: `(images)` or `(token_ids, padding_mask)` to a
        `(N, d)` array.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> encode = numpy_encoder(tiny_clinclip_backbone(), "images")
    >>> encode(np.zeros((2, 32, 32, 3), "float32")).shape
    (2, 16)
    """
    if kind not in ("images", "texts"):
        raise ValueError(f"`kind` must be 'images' or 'texts'; got {kind!r}.")
    method = getattr(model, f"encode_{kind}", None)
    if method is not None:
        return method
    function = encode_images if kind == "images" else encode_texts
    return functools.partial(function, model)
