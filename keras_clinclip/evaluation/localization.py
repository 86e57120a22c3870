"""Localisation maps: where in the image a model sees a text.

For an image and a text, the map is the cosine similarity of each spatial
position's feature with the text embedding, both in the shared space:

    map[i, j] = cos(P(f[i, j]), u)

where `f[i, j]` is the image tower's feature at grid position (i, j) (a
CNN feature map cell or a ViT patch token; a ViT's class token is
dropped), `P` the backbone's image projection head applied position by
position, and `u` the text embedding. For a CNN with average pooling and a
linear projection, the mean of the unnormalised `P(f[i, j])` is exactly
the global image embedding, so the map decomposes the model's own score.
Maps are up-sampled bilinearly to the image size for display.

On SynthCXR, where the renderer knows where each finding was drawn
(`SynthCXR.finding_mask`), the maps are scored with the pointing game (is
the map's maximum inside the drawn region?) and the share of the map's
mass inside the region; both are compared with the region's area share,
which is what a map that knows nothing scores on average.
"""

import numpy as np

from keras_clinclip.cli import explain as explain_options
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
    import keras

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
    from keras_clinclip.evaluation.embed import _pad_rows
    from keras_clinclip.evaluation.embed import _to_numpy
    from keras_clinclip.evaluation.embed import embed_texts

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


def _check_maps_masks(maps, masks):
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.ndim == 2:
        maps, masks = maps[None], masks[None]
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(
            f"maps {maps.shape} and masks {masks.shape} must both be (N, H, W)"
        )
    empty = ~masks.reshape(len(masks), -1).any(axis=1)
    if empty.any():
        raise ValueError(f"mask {int(np.flatnonzero(empty)[0])} is empty")
    return maps, masks


def _dilate(masks, radius):
    """Square dilation of `(N, H, W)` boolean masks by `radius` pixels."""
    out = masks.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = np.zeros_like(masks)
            h, w = masks.shape[1:]
            shifted[
                :, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)
            ] = masks[
                :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
            ]
            out |= shifted
    return out


def pointing_game(maps, masks, tolerance=0):
    """Whether each map's maximum falls inside its region.

    Args:
        maps: `(N, H, W)` (or one `(H, W)`) maps.
        masks: boolean regions of the same shape.
        tolerance: pixels by which the regions are dilated first (the
            pointing game's usual margin).

    Returns:
        bool array `(N,)`; ties for the maximum count as a hit only if
        every tied position is inside.

    Example:
    >>> m = np.zeros((4, 4)); m[1, 2] = 1.0
    >>> region = np.zeros((4, 4), bool); region[1, 3] = True
    >>> pointing_game(m, region).tolist(), pointing_game(m, region, 1).tolist()
    ([False], [True])
    """
    maps, masks = _check_maps_masks(maps, masks)
    if tolerance:
        masks = _dilate(masks, int(tolerance))
    peak = maps >= maps.reshape(len(maps), -1).max(axis=1)[:, None, None]
    return ~(peak & ~masks).reshape(len(maps), -1).any(axis=1)


def mass_inside(maps, masks):
    """Share of each map's mass inside its region.

    The map is shifted to a minimum of 0 (cosines can be negative) and the
    share is `sum(map * region) / sum(map)`; a constant map scores the
    region's area share.

    Args:
        maps: `(N, H, W)` (or one `(H, W)`) maps.
        masks: boolean regions of the same shape.

    Returns:
        float64 `(N,)` in [0, 1].

    Example:
    >>> m = np.array([[0.0, 1.0], [3.0, 0.0]])
    >>> mass_inside(m, np.array([[False, False], [True, False]])).tolist()
    [0.75]
    """
    maps, masks = _check_maps_masks(maps, masks)
    flat = maps.reshape(len(maps), -1)
    shifted = flat - flat.min(axis=1, keepdims=True)
    total = shifted.sum(axis=1)
    inside = (shifted * masks.reshape(len(maps), -1)).sum(axis=1)
    area = masks.reshape(len(maps), -1).mean(axis=1)
    return np.where(total > 0, inside / np.maximum(total, 1e-300), area)


def localization_scores(maps, masks, names, tolerance=0, n_bootstrap=0, seed=0):
    """Pointing-game accuracy and mean mass inside, per finding.

    Args:
        maps: `(N, H, W)` maps, one per (image, finding) case.
        masks: `(N, H, W)` drawn regions.
        names: N finding names (the group of each case).
        tolerance: see `pointing_game`.
        n_bootstrap: resamples of the 95% percentile intervals
            `pointing_ci` and `mass_ci` (`metrics.bootstrap_ci` over the
            cases; 0: none).
        seed: bootstrap seed.

    Returns:
        dict name -> {`n`, `pointing`, `mass`, `area`} (`area`: the mean
        region share, the chance level of both scores; with
        `n_bootstrap`, also `pointing_ci` and `mass_ci`), plus `"all"`
        over every case.

    Example:
    >>> m = np.zeros((2, 2, 2)); m[0, 0, 0] = m[1, 1, 1] = 1.0
    >>> r = np.zeros((2, 2, 2), bool); r[0, 0, 0] = r[1, 0, 0] = True
    >>> s = localization_scores(m, r, ["a", "b"])
    >>> s["a"]["pointing"], s["b"]["pointing"], s["all"]["area"]
    (1.0, 0.0, 0.25)
    """
    maps, masks = _check_maps_masks(maps, masks)
    names = [str(n) for n in names]
    if len(names) != len(maps):
        raise ValueError(f"{len(names)} names for {len(maps)} maps")
    hits = pointing_game(maps, masks, tolerance)
    mass = mass_inside(maps, masks)
    area = masks.reshape(len(masks), -1).mean(axis=1)
    out = {}
    groups = {name: [] for name in names}
    for i, name in enumerate(names):
        groups[name].append(i)
    groups["all"] = list(range(len(names)))
    for name, index in groups.items():
        out[name] = {
            "n": len(index),
            "pointing": float(hits[index].mean()),
            "mass": float(mass[index].mean()),
            "area": float(area[index].mean()),
        }
        if n_bootstrap:
            from keras_clinclip.evaluation.metrics import bootstrap_ci

            for key, values in (("pointing", hits), ("mass", mass)):
                out[name][f"{key}_ci"] = bootstrap_ci(
                    np.mean,
                    values[index].astype(np.float64),
                    n_resamples=n_bootstrap,
                    seed=seed,
                )
    return out


def finding_observations():
    """SynthCXR finding -> the CheXpert observation whose prompt names it.

    Inverted from `keras_clinclip.data.templates.OBSERVATION_FINDINGS`
    (the first observation wins: consolidation -> Consolidation), for the
    findings that `SynthCXR.finding_mask` can outline.

    Example:
    >>> finding_observations()["effusion"]
    'Pleural Effusion'
    """
    from keras_clinclip.data.synthetic import REGION_FINDINGS
    from keras_clinclip.data.templates import OBSERVATION_FINDINGS

    out = {}
    for observation, (names, _) in OBSERVATION_FINDINGS.items():
        for name in names:
            if name in REGION_FINDINGS:
                out.setdefault(name, observation)
    return out


def _seed_candidates(records, i):
    """Render seeds to try for row i: a `seed` column, else the loaders'."""
    if "seed" in records:
        return [int(records["seed"][i])]
    key = str(records["id"][i])
    candidates = []
    parts = key.split("-")
    if len(parts) == 3 and parts[0] == "synth":  # `synthetic_pairs` ids
        seed, index = int(parts[1]), int(parts[2])
        candidates.append((seed * 1_000_003 + index) & 0x7FFFFFFF)
    from keras_clinclip.data.iu_xray import _study_seed

    candidates.append(_study_seed(key))
    return candidates


def synthcxr_cases(records, max_per_finding=None):
    """The (image, finding, region) cases of SynthCXR records.

    Each row's image is re-rendered from its `findings` column with the
    loader's seed (`synthetic_pairs`, `iu_xray`, or a `seed` column) and
    kept only when the rendering equals the stored image, so that the
    regions are exactly those of the pictures.

    Args:
        records: records with `id`, `image` (uint8 (N, H, W)) and
            `findings` (the SynthCXR findings of each image).
        max_per_finding: keep at most this many cases per finding.

    Returns:
        dict with `index` (row of each case), `finding` (SynthCXR name),
        `observation`, `mask` (bool (K, H, W)) and `skipped` (rows whose
        rendering could not be reproduced).

    Example:
    >>> from keras_clinclip.data.synthetic import synthetic_pairs
    >>> cases = synthcxr_cases(synthetic_pairs(6, image_size=32))
    >>> cases["mask"].shape[1:], cases["skipped"]
    ((32, 32), 0)
    """
    from keras_clinclip.data.synthetic import SynthCXR
    from keras_clinclip.data.synthetic import normalize_findings

    for key in ("id", "image", "findings"):
        if key not in records:
            raise KeyError(
                f"localisation on SynthCXR needs a {key!r} column (columns:"
                f" {sorted(records)})"
            )
    images = np.asarray(records["image"])
    if images.ndim != 3:
        raise ValueError(
            f"records['image'] must be uint8 (N, H, W), got {images.shape}"
        )
    renderer = SynthCXR(images.shape[1])
    observations = finding_observations()
    out = {"index": [], "finding": [], "observation": [], "mask": []}
    counts = {}
    skipped = 0
    for i in range(len(images)):
        found = normalize_findings(records["findings"][i])
        names = [f.name for f in found if f.name in observations]
        if max_per_finding is not None:
            names = [n for n in names if counts.get(n, 0) < max_per_finding]
        if not names:
            continue
        seed = next(
            (
                s
                for s in _seed_candidates(records, i)
                if np.array_equal(renderer.render(found, seed=s), images[i])
            ),
            None,
        )
        if seed is None:
            skipped += 1
            continue
        for name in dict.fromkeys(names):
            counts[name] = counts.get(name, 0) + 1
            out["index"].append(i)
            out["finding"].append(name)
            out["observation"].append(observations[name])
            out["mask"].append(renderer.finding_mask(found, name, seed))
    size = images.shape[1:]
    out["mask"] = np.asarray(out["mask"], bool).reshape((-1,) + size)
    out["index"] = np.asarray(out["index"], np.int64)
    out["skipped"] = skipped
    return out


def evaluate_localization(
    backbone,
    preprocessor,
    records,
    prompts=None,
    tolerance=0,
    batch_size=16,
    max_per_finding=None,
    num_examples=4,
    n_bootstrap=0,
    seed=0,
):
    """Pointing game and mass inside per finding on SynthCXR records.

    Each case (an image and one of its drawn findings) gets the map of
    the image with the finding's positive prompt (its phrasings ensembled,
    as in zero-shot classification) and is scored against the drawn
    region (`synthcxr_cases`).

    Args:
        backbone: a `ClinCLIPBackbone`.
        preprocessor: its preprocessor.
        records: SynthCXR records (see `synthcxr_cases`), e.g. a test
            split.
        prompts: prompt overrides (see `clinclip_prompts.prompt_pairs`).
        tolerance: pointing-game margin in pixels.
        batch_size: images per model call.
        max_per_finding: cap on the cases per finding.
        num_examples: cases kept for the report's figure (one per
            finding first).
        n_bootstrap: resamples of the scores' intervals (0: none).
        seed: bootstrap seed.

    Returns:
        dict with `scores` (per observation and `"all"`, see
        `localization_scores`), `num_cases`, `skipped`, and `examples`
        (`images`, `maps`, `masks`, `titles` of a few cases); `None` when
        the records have no localisable finding.

    Example:
    >>> from keras_clinclip.data.synthetic import synthetic_pairs
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> result = evaluate_localization(
    ...     tiny_clinclip_backbone(), tiny_clinclip_preprocessor(),
    ...     synthetic_pairs(8, image_size=32))
    >>> 0.0 <= result["scores"]["all"]["pointing"] <= 1.0
    True
    """
    from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
    from keras_clinclip.evaluation.zero_shot import ensemble_prompt_embeddings
    from keras_clinclip.models.clinclip_prompts import prompt_pairs

    cases = synthcxr_cases(records, max_per_finding)
    if not len(cases["index"]):
        return None
    observations = list(dict.fromkeys(cases["observation"]))
    _, positives, _ = embed_prompt_pairs(
        backbone,
        preprocessor,
        prompt_pairs(observations, overrides=prompts),
        batch_size,
    )
    text_of = {
        name: ensemble_prompt_embeddings(p)
        for name, p in zip(observations, positives)
    }
    images = np.asarray(records["image"])[cases["index"]]
    texts = np.stack([text_of[o] for o in cases["observation"]])
    maps = localization_maps(
        backbone, preprocessor, images, texts, batch_size=batch_size
    )["maps"]
    scores = localization_scores(
        maps,
        cases["mask"],
        cases["observation"],
        tolerance,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    # Figure: the first case of each finding, then the next ones.
    first = list(dict.fromkeys(cases["observation"]))
    picks = [cases["observation"].index(o) for o in first]
    picks += [k for k in range(len(images)) if k not in picks]
    picks = picks[:num_examples]
    hits = pointing_game(maps, cases["mask"], tolerance)
    return {
        "scores": scores,
        "num_cases": int(len(images)),
        "skipped": cases["skipped"],
        "tolerance": int(tolerance),
        "examples": {
            "images": images[picks],
            "maps": maps[picks],
            "masks": cases["mask"][picks],
            "titles": [
                f"{cases['observation'][k]} ({'hit' if hits[k] else 'miss'})"
                for k in picks
            ],
        },
    }


# CXR-Align `location` words -> coarse image regions. Sides are the
# patient's: on a PA/AP radiograph the patient's right is the image's left.
_LOCATION_SIDES = {
    "right": "right",
    "left": "left",
    "bilateral": "both",
    "both": "both",
    "bibasilar": "both",
}
# Rows (fractions of the image height) of a zone word: generous, crossing
# bands, since the lungs' extent varies from image to image.
_LOCATION_ZONES = {
    "upper": (0.05, 0.5),
    "apex": (0.05, 0.4),
    "apical": (0.05, 0.4),
    "apices": (0.05, 0.4),
    "mid": (0.25, 0.7),
    "middle": (0.25, 0.7),
    "hilar": (0.25, 0.7),
    "perihilar": (0.25, 0.7),
    "lingula": (0.3, 0.75),
    "lingular": (0.3, 0.75),
    "lower": (0.45, 0.95),
    "base": (0.45, 0.95),
    "bases": (0.45, 0.95),
    "basal": (0.45, 0.95),
    "basilar": (0.45, 0.95),
    "bibasilar": (0.45, 0.95),
    "costophrenic": (0.55, 0.95),
    "retrocardiac": (0.45, 0.95),
}


def location_mask(location, shape):
    """A coarse image region from a CXR-Align `location` string.

    The side words pick the image half (the patient's right is the
    image's left), the zone words a band of rows; a location naming
    neither gives `None` (nothing to check).

    Args:
        location: e.g. `"left"`, `"right base"`, `"bilateral upper"`.
        shape: `(H, W)` of the map.

    Returns:
        bool `(H, W)` mask, or `None`.

    Example:
    >>> m = location_mask("left base", (10, 10))
    >>> bool(m[8, 7]), bool(m[8, 2]), bool(m[1, 7])
    (True, False, False)
    >>> location_mask("", (10, 10)) is None
    True
    """
    words = str(location or "").lower().replace("-", " ").split()
    sides = {_LOCATION_SIDES[w] for w in words if w in _LOCATION_SIDES}
    bands = [_LOCATION_ZONES[w] for w in words if w in _LOCATION_ZONES]
    if not sides and not bands:
        return None
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    x = (xx + 0.5) / width
    y = (yy + 0.5) / height
    mask = np.ones(shape, bool)
    if sides and "both" not in sides and len(sides) == 1:
        mask &= x < 0.5 if sides == {"right"} else x >= 0.5
    if bands:
        rows = np.zeros(shape, bool)
        for low, high in bands:
            rows |= (y >= low) & (y <= high)
        mask &= rows
    return mask


def location_scores(maps, locations, names=None, tolerance=0):
    """Pointing game against the coarse regions of `location` strings.

    For images without drawn regions (e.g. MIMIC-CXR with CXR-Align's
    `location` of the chosen finding), each map is checked against the
    side and zone the report names (`location_mask`); cases whose
    location names neither are left out.

    Args:
        maps: `(N, H, W)` maps of each image with its finding's text.
        locations: N location strings.
        names: N group names (e.g. the `chosen` findings; default all
            `"all"`).
        tolerance: see `pointing_game`.

    Returns:
        `localization_scores` of the kept cases plus `"num_without"`, or
        `None` when no location names a side or zone.

    Example:
    >>> maps = np.zeros((2, 4, 4)); maps[0, 3, 3] = maps[1, 0, 0] = 1.0
    >>> s = location_scores(maps, ["left base", ""], ["Effusion", "Edema"])
    >>> s["Effusion"]["pointing"], s["num_without"]
    (1.0, 1)
    """
    maps = np.asarray(maps, dtype=np.float64)
    names = ["all"] * len(maps) if names is None else [str(n) for n in names]
    if len(locations) != len(maps) or len(names) != len(maps):
        raise ValueError(
            f"{len(maps)} maps, {len(locations)} locations and "
            f"{len(names)} names must match"
        )
    masks = [location_mask(loc, maps.shape[1:]) for loc in locations]
    keep = [i for i, m in enumerate(masks) if m is not None]
    if not keep:
        return None
    scores = localization_scores(
        maps[keep],
        np.stack([masks[i] for i in keep]),
        [names[i] for i in keep],
        tolerance,
    )
    scores["num_without"] = len(maps) - len(keep)
    return scores


# --------------------------------------------------------------------------
# `clinclip explain`
# --------------------------------------------------------------------------


def add_arguments(parser):
    """Add the options of `clinclip explain`.

    They are defined in `keras_clinclip.cli.explain` (a light module, so
    that `clinclip explain --help` loads no backend); this function stays
    here for a release.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(
    ...     ["--preset", "p", "--image", "x.png", "--text", "effusion"])
    >>> args.output
    'map.png'
    """
    explain_options.add_arguments(parser)


def run(args):
    """Run `clinclip explain`: write the map of one image and one text."""
    import pathlib

    from keras_clinclip.data import decode_image
    from keras_clinclip.evaluation import plots
    from keras_clinclip.evaluation.cli import _load_model

    if not pathlib.Path(args.image).exists():
        raise FileNotFoundError(f"--image {args.image!r} does not exist")
    if not args.text.strip():
        raise ValueError("--text is empty: give a finding or a sentence")
    backbone, preprocessor = _load_model(args.preset)
    image = decode_image(args.image)
    converted = np.asarray(preprocessor.convert_images(image))
    if converted.ndim == 3:
        converted = converted[None]
    from keras_clinclip.evaluation.embed import embed_texts

    text = embed_texts(backbone, [args.text], preprocessor)
    out = localization_maps(
        backbone, None, converted, text, output_size=image.shape[:2]
    )
    plots.plot_localization_maps(
        image[None],
        out["maps"],
        titles=[args.text],
        path=args.output,
        title="Similarity of each position with the text",
    )
    sim = out["similarity"][0]
    row, col = np.unravel_index(int(np.argmax(sim)), sim.shape)
    print(
        f"Wrote {args.output}: cosine similarity on a {sim.shape[0]}x"
        f"{sim.shape[1]} grid from {sim.min():.3f} to {sim.max():.3f}, "
        f"highest at row {row}, column {col} "
        f"({(row + 0.5) / sim.shape[0]:.0%} down, "
        f"{(col + 0.5) / sim.shape[1]:.0%} across the image)."
    )
    return 0
