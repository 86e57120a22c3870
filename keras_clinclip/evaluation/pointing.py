"""Scoring localisation maps against regions: pointing game, mass inside.

A map (see `evaluation.similarity_maps`) is scored against a region with
the pointing game (is the map's maximum inside the region?) and the share
of the map's mass inside it; both are compared with the region's area
share, which is what a map that knows nothing scores on average. Regions
are either drawn (SynthCXR, `evaluation.synthcxr_localization`) or coarse
bands from a CXR-Align `location` string (`location_mask`). Pure numpy.
"""

import numpy as np

from keras_clinclip.evaluation.metrics.bootstrap import bootstrap_ci


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
            for key, values in (("pointing", hits), ("mass", mass)):
                out[name][f"{key}_ci"] = bootstrap_ci(
                    np.mean,
                    values[index].astype(np.float64),
                    n_resamples=n_bootstrap,
                    seed=seed,
                )
    return out


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
