"""Similarity maps: where in the image a model sees a text.

For an image and a text, the map is the cosine similarity of each spatial
position's feature with the text embedding, both in the shared space:

    map[i, j] = cos(P(f[i, j]), u)

where `f[i, j]` is the image tower's feature at grid position (i, j) (a
CNN feature map cell or a ViT patch token; a ViT's class token is
dropped), `P` the backbone's image projection head applied position by
position, and `u` the text embedding. For a CNN with average pooling and a
linear projection, the mean of the unnormalised `P(f[i, j])` is exactly
the global image embedding, so the map decomposes the model's own score.

The maps are scored by `evaluation.pointing`; the SynthCXR evaluation is
`evaluation.synthcxr_localization`; `clinclip explain` is
`evaluation.explain`.
"""

import keras
import numpy as np

from keras_clinclip.evaluation.embed import _pad_rows
from keras_clinclip.evaluation.embed import _to_numpy
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.retrieval import l2_normalize


def _encoder_outputs(encoder, images):
    structure = getattr(encoder, "_inputs_struct", None)
    if isinstance(structure, dict):
        features = encoder({"images": images})
    else:
        features = encoder(images)
    if isinstance(features, dict):
        for key in ("sequence_output", "feature_map"):
            if key in features:
                return features[key]
        raise ValueError(
            "the image encoder returns a dict without 'sequence_output' "
            f"or 'feature_map' (keys: {sorted(features)})"
        )
    return features


def _token_grid(encoder, image_shape, num_tokens):
    """(rows, cols, drop_first) of a token sequence."""
    patch = getattr(encoder, "patch_size", None)
    if patch is not None:
        patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
        rows, cols = image_shape[0] // patch[0], image_shape[1] // patch[1]
    else:
        side = int(round(np.sqrt(num_tokens)))
        if side * side != num_tokens:
            side = int(round(np.sqrt(num_tokens - 1)))
        rows = cols = side
    if rows * cols == num_tokens:
        return rows, cols, False
    if rows * cols + 1 == num_tokens:
        return rows, cols, True  # a class token first
    raise ValueError(
        f"cannot arrange {num_tokens} image tokens on a grid (patch grid "
        f"{rows}x{cols}); localisation needs patch tokens, optionally "
        "after one class token"
    )


def local_features_model(backbone):
    """A functional model: images -> projected features per position.

    Built from `backbone.image_encoder` and `backbone.image_projection`
    (sharing their weights); rank-4 feature maps keep their grid, rank-3
    token sequences are reshaped to the patch grid after dropping a class
    token. The output is `(B, h, w, d)` float32, not normalised.

    Args:
        backbone: a `ClinCLIPBackbone` (or any object with
            `image_encoder`, `image_projection` and `image_shape`).

    Returns:
        A `keras.Model` (cached on the backbone).

    Example:
    >>> import keras_hub
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> vit = keras_hub.models.ViTBackbone(
    ...     image_shape=(32, 32, 3), patch_size=8, num_layers=1,
    ...     num_heads=2, hidden_dim=8, mlp_dim=16)
    >>> model = tiny_clinclip_backbone(image_encoder=vit, embedding_dim=4)
    >>> local_features_model(model).output_shape  # 17 tokens - class token
    (None, 4, 4, 4)
    """
    cache = backbone.__dict__.setdefault("_clinclip_localization", {})
    if "model" in cache:
        return cache["model"]
    image_shape = tuple(backbone.image_shape)
    images = keras.Input(shape=image_shape, name="images")
    features = _encoder_outputs(backbone.image_encoder, images)
    rank = len(features.shape)
    if rank == 3:
        rows, cols, drop_first = _token_grid(
            backbone.image_encoder, image_shape, int(features.shape[1])
        )
        if drop_first:
            features = features[:, 1:, :]
        features = keras.ops.reshape(
            features, (-1, rows, cols, int(features.shape[-1]))
        )
    elif rank != 4:
        raise ValueError(
            "localisation needs a spatial image tower (feature maps "
            f"(B, h, w, C) or tokens (B, T, D)); this one returns rank-{rank}"
            f" features {tuple(features.shape)}"
        )
    projected = backbone.image_projection(features)
    projected = keras.ops.cast(projected, "float32")
    cache["model"] = keras.Model(images, projected, name="local_features")
    return cache["model"]


def upsample_map(maps, size):
    """Bilinear up-sampling of `(..., h, w)` maps to `size` (half-pixel).

    Pixel centres are aligned as in `keras.ops.image.resize` (and
    `jax.image.resize`): output pixel y samples input row
    `(y + 0.5) h / H - 0.5`, clamped at the borders.

    Args:
        maps: array `(..., h, w)`.
        size: `(H, W)` or an int for a square.

    Returns:
        float64 array `(..., H, W)`.

    Example:
    >>> upsample_map(np.array([[0.0, 1.0]]), (1, 4)).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim < 2:
        raise ValueError(f"maps must be (..., h, w), got shape {maps.shape}")
    height, width = (size, size) if np.isscalar(size) else tuple(size)

    def axis_weights(n_in, n_out):
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        frac = pos - low
        weights = np.zeros((n_out, n_in))
        weights[np.arange(n_out), low] += 1 - frac
        weights[np.arange(n_out), high] += frac
        return weights

    rows = axis_weights(maps.shape[-2], int(height))
    cols = axis_weights(maps.shape[-1], int(width))
    return np.einsum("Hh,...hw,Ww->...HW", rows, maps, cols)


def localization_maps(
    backbone,
    preprocessor,
    images,
    texts,
    batch_size=16,
    output_size=None,
):
    """Similarity maps of images with texts, coarse and up-sampled.

    Args:
        backbone: a `ClinCLIPBackbone`.
        preprocessor: its preprocessor (`convert_images`, `tokenize`), or
            None when `images` are already converted and `texts` are
            embeddings.
        images: `(N, H, W)` / `(N, H, W, C)` raw images (converted with the
            preprocessor).
        texts: one string for every image, a list of N strings (image i
            with text i), or `(N, d)` / `(d,)` text embeddings.
        batch_size: images per model call.
        output_size: `(H, W)` of the up-sampled maps (default the raw
            images' size).

    Returns:
        dict with `similarity` `(N, h, w)` cosines on the feature grid and
        `maps` `(N, H, W)` the same up-sampled.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> model = tiny_clinclip_backbone()  # a one-stage ResNet, 16-d
    >>> images = np.random.default_rng(0).random((2, 32, 32, 3))
    >>> out = localization_maps(model, None, images, np.ones(16))
    >>> out["similarity"].shape, out["maps"].shape
    ((2, 8, 8), (2, 32, 32))
    """
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("localization_maps got no images")
    if isinstance(texts, str):
        texts = [texts] * n
    if isinstance(texts, (list, tuple)) and isinstance(texts[0], str):
        if len(texts) != n:
            raise ValueError(f"{len(texts)} texts for {n} images")
        if preprocessor is None:
            raise ValueError("texts given as strings need a preprocessor")
        text_emb = embed_texts(backbone, texts, preprocessor, batch_size)
    else:
        text_emb = np.asarray(texts, dtype=np.float64)
        if text_emb.ndim == 1:
            text_emb = np.broadcast_to(text_emb, (n, text_emb.shape[0]))
        if text_emb.shape[0] != n:
            raise ValueError(
                f"{text_emb.shape[0]} text embeddings for {n} images"
            )
        text_emb = l2_normalize(text_emb)
    model = local_features_model(backbone)
    size = min(batch_size, n)
    chunks = []
    for start in range(0, n, batch_size):
        batch = images[start : start + batch_size]
        count = len(batch)
        if preprocessor is not None:
            batch = preprocessor.convert_images(batch)
        batch = _pad_rows(_to_numpy(batch), size).astype("float32")
        chunks.append(_to_numpy(model.predict_on_batch(batch))[:count])
    local = l2_normalize(np.concatenate(chunks).astype(np.float64))
    similarity = np.einsum("nhwd,nd->nhw", local, text_emb)
    if output_size is None:
        output_size = images.shape[1:3]
    return {
        "similarity": similarity,
        "maps": upsample_map(similarity, output_size),
    }
