"""Localisation of findings against radiologists' boxes and masks.

A similarity map (the cosine of each image patch with the finding's
prompt, `similarity_maps.localization_maps`, up-sampled to a grid) is
compared with the ground-truth region of the image: the union of its boxes
(RSNA, ChestX-ray14, VinDr-CXR, MS-CXR phrases) or its mask (SIIM). Source
conventions:

- **pointing game** (Zhang et al., ECCV 2016; used by GLoRIA and MedKLIP):
  a hit when the map's maximum falls inside the region
  (`pointing.pointing_game`);
- **IoU and Dice** of the region `map >= t` (each map min-max normalised
  to [0, 1]) with the truth, at the threshold t that maximises the mean
  Dice on the **validation** split (`choose_threshold`), applied unchanged
  to the test split (as MedKLIP / MedRPG report segmentation overlap);
- **CNR**, the contrast-to-noise ratio of BioViL (Boecking et al., ECCV
  2022, section 4.3): `|mean_in - mean_out| / sqrt(var_in + var_out)` of
  the raw similarity values inside and outside the region; it needs no
  threshold.

Boxes are `(x, y, w, h)` in pixels of the original image (the loader
contract); `boxes_to_mask` scales them to the map's grid, which is right
because `ClinCLIPImageConverter` resizes without cropping.
"""

import numpy as np

from keras_clinclip.data.datasets.siim import decode_rle
from keras_clinclip.evaluation.metrics import estimate_with_ci
from keras_clinclip.evaluation.pointing import pointing_game

SOURCE = (
    "pointing game (Zhang et al. 2016); IoU/Dice at a validation-chosen "
    "threshold; CNR (BioViL, Boecking et al. 2022)"
)
THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)


def boxes_to_mask(boxes, image_hw, grid_hw):
    """The union of `(x, y, w, h)` boxes as a boolean mask on a grid.

    Args:
        boxes: (k, 4) boxes in pixels of the original image.
        image_hw: the original `(height, width)`.
        grid_hw: the mask's `(height, width)`.

    Returns:
        bool (grid_h, grid_w); a cell is inside when its centre is (every
        box covers at least its nearest cell).

    Example:
    >>> boxes_to_mask([[0, 0, 50, 100]], (100, 100), (2, 4)).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]])
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = (float(v) for v in image_hw)
    rows, cols = (int(v) for v in grid_hw)
    if height <= 0 or width <= 0:
        raise ValueError(f"image_hw must be positive, got {image_hw}")
    mask = np.zeros((rows, cols), dtype=bool)
    centre_y = (np.arange(rows) + 0.5) * height / rows
    centre_x = (np.arange(cols) + 0.5) * width / cols
    for k, (x, y, w, h) in enumerate(boxes):
        if w <= 0 or h <= 0:
            raise ValueError(
                f"box {k + 1} ({x}, {y}, {w}, {h}) has no area: boxes are "
                "(x, y, width, height) in pixels"
            )
        inside_y = (centre_y >= y) & (centre_y <= y + h)
        inside_x = (centre_x >= x) & (centre_x <= x + w)
        if not inside_y.any():
            inside_y[np.argmin(np.abs(centre_y - (y + h / 2)))] = True
        if not inside_x.any():
            inside_x[np.argmin(np.abs(centre_x - (x + w / 2)))] = True
        mask |= inside_y[:, None] & inside_x[None, :]
    return mask


def resize_mask(mask, grid_hw):
    """A boolean mask resampled to a grid (nearest cell centre).

    Example:
    >>> m = np.zeros((4, 4), bool); m[:2, :2] = True
    >>> resize_mask(m, (2, 2)).astype(int).tolist()
    [[1, 0], [0, 0]]
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = (int(v) for v in grid_hw)
    r = ((np.arange(rows) + 0.5) * mask.shape[0] / rows).astype(int)
    c = ((np.arange(cols) + 0.5) * mask.shape[1] / cols).astype(int)
    return mask[np.ix_(r, c)]


def _normalised(maps):
    flat = maps.reshape(len(maps), -1)
    low = flat.min(axis=1)[:, None, None]
    span = (flat.max(axis=1) - flat.min(axis=1))[:, None, None]
    return (maps - low) / np.where(span > 0, span, 1.0)


def overlap_scores(maps, masks, threshold):
    """IoU and Dice of `normalised(map) >= threshold` with each mask.

    Args:
        maps: (N, H, W) similarity maps.
        masks: (N, H, W) booleans (the truth).
        threshold: in [0, 1], on each map min-max normalised.

    Returns:
        `(iou, dice)`: two float64 (N,) arrays (1.0 when both are empty).

    Example:
    >>> maps = np.array([[[0.0, 1.0], [0.2, 0.9]]])
    >>> masks = np.array([[[False, True], [False, False]]])
    >>> iou, dice = overlap_scores(maps, masks, 0.5)
    >>> iou.tolist(), dice.round(4).tolist()
    ([0.5], [0.6667])
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape or maps.ndim != 3:
        raise ValueError(
            f"maps {maps.shape} and masks {masks.shape} must both be (N, H, W)"
        )
    predicted = _normalised(maps) >= float(threshold)
    both = (predicted & masks).reshape(len(maps), -1).sum(axis=1)
    either = (predicted | masks).reshape(len(maps), -1).sum(axis=1)
    sizes = predicted.reshape(len(maps), -1).sum(axis=1) + masks.reshape(
        len(maps), -1
    ).sum(axis=1)
    iou = np.where(either > 0, both / np.maximum(either, 1), 1.0)
    dice = np.where(sizes > 0, 2.0 * both / np.maximum(sizes, 1), 1.0)
    return iou, dice


def choose_threshold(maps, masks, thresholds=THRESHOLDS):
    """The threshold of the largest mean Dice (ties: the lowest).

    Args:
        maps: (N, H, W) validation maps.
        masks: (N, H, W) their truth.
        thresholds: the candidates.

    Returns:
        float.

    Example:
    >>> maps = np.array([[[0.0, 1.0], [0.2, 0.9]]])
    >>> masks = np.array([[[False, True], [False, True]]])
    >>> choose_threshold(maps, masks)
    0.25
    """
    dice = [overlap_scores(maps, masks, t)[1].mean() for t in thresholds]
    return float(thresholds[int(np.argmax(dice))])


def contrast_to_noise(maps, masks):
    """BioViL's CNR of each map: |mu_in - mu_out| / sqrt(var_in + var_out).

    Args:
        maps: (N, H, W) raw similarity maps.
        masks: (N, H, W) booleans.

    Returns:
        float64 (N,); NaN where the region or its complement is empty or
        both are constant.

    Example:
    >>> maps = np.array([[[1.0, 3.0], [0.0, 2.0]]])
    >>> masks = np.array([[[True, True], [False, False]]])
    >>> contrast_to_noise(maps, masks).tolist()  # |2 - 1| / sqrt(1 + 1)
    [0.7071067811865475]
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    out = np.full(len(maps), np.nan)
    for i, (m, inside) in enumerate(zip(maps, masks)):
        if inside.all() or not inside.any():
            continue
        a, b = m[inside], m[~inside]
        noise = np.sqrt(a.var() + b.var())
        if noise > 0:
            out[i] = abs(a.mean() - b.mean()) / noise
    return out


def region_localization(
    maps,
    masks,
    validation_maps=None,
    validation_masks=None,
    n_bootstrap=1000,
    seed=0,
):
    """Pointing game, IoU, Dice and CNR of similarity maps against regions.

    Args:
        maps: (N, H, W) test similarity maps (images with a region only).
        masks: (N, H, W) their regions.
        validation_maps: (M, H, W) maps to choose the IoU/Dice threshold
            on; None: chosen on the test maps (flattering; recorded as
            `"threshold_split": "test"`).
        validation_masks: (M, H, W) their regions.
        n_bootstrap: resamples of the intervals (over images).
        seed: bootstrap seed.

    Returns:
        dict: `"protocol"`, `"source"`, `"metrics"` (`pointing_game`,
        `IoU`, `Dice`, `CNR`, each `{"value", "ci"}`), `"threshold"`,
        `"threshold_split"`, `"per_image"` (the four (N,) arrays).

    Example:
    >>> maps = np.zeros((2, 4, 4)); maps[0, 0, 0] = maps[1, 3, 3] = 1.0
    >>> masks = np.zeros((2, 4, 4), bool); masks[:, :2, :2] = True
    >>> r = region_localization(maps, masks, n_bootstrap=0)
    >>> r["metrics"]["pointing_game"]["value"], r["threshold_split"]
    (0.5, 'test')
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if not len(maps):
        raise ValueError("region_localization got no image with a region")
    split = "test"
    if validation_maps is not None and len(validation_maps):
        threshold = choose_threshold(
            np.asarray(validation_maps, np.float64),
            np.asarray(validation_masks, bool),
        )
        split = "validation"
    else:
        threshold = choose_threshold(maps, masks)
    iou, dice = overlap_scores(maps, masks, threshold)
    per_image = {
        "pointing_game": pointing_game(maps, masks).astype(np.float64),
        "IoU": iou,
        "Dice": dice,
        "CNR": contrast_to_noise(maps, masks),
    }
    metrics = {
        key: estimate_with_ci(
            lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else np.nan,
            values,
            n_resamples=n_bootstrap,
            seed=seed,
        )
        for key, values in per_image.items()
    }
    return {
        "protocol": "localisation",
        "source": SOURCE,
        "metrics": metrics,
        "threshold": threshold,
        "threshold_split": split,
        "per_image": per_image,
    }


def region_cases(records, grid, class_names, mask_fn=None):
    """The rows with a ground-truth region, as masks on a grid.

    Args:
        records: columns with `boxes` (N lists of (k, 4) x, y, w, h
            pixels, or an (N, K, 4) array padded with NaN rows) and
            `image_hw`, or `masks` (N boolean arrays), or SIIM's
            `mask_rle` (decoded by `mask_fn(rles, height, width)`, by
            default `keras_clinclip.data.datasets.siim.decode_rle`); and
            optionally `box_labels` (names of `class_names`).
        grid: `(H, W)` of the masks.
        class_names: the label names (a box's label picks its prompt).
        mask_fn: the RLE decoder.

    Returns:
        `{"index": rows, "masks": (n, H, W) bool, "label": class index}`.

    Example:
    >>> records = {"boxes": [np.zeros((0, 4)), np.array([[0, 0, 5, 5]])],
    ...            "image_hw": np.array([[10, 10], [10, 10]])}
    >>> cases = region_cases(records, (2, 2), ["Pneumonia"])
    >>> cases["index"], cases["masks"][0].astype(int).tolist()
    ([1], [[1, 0], [0, 0]])
    """
    out = {"index": [], "masks": [], "label": []}
    count = len(
        records.get("boxes", records.get("masks", records.get("mask_rle", [])))
    )
    labels_of = records.get("box_labels")
    for i in range(count):
        mask = None
        if "boxes" in records:
            boxes = np.asarray(records["boxes"][i], np.float64).reshape(-1, 4)
            boxes = boxes[np.isfinite(boxes).all(axis=1)]
            if len(boxes):
                mask = boxes_to_mask(boxes, records["image_hw"][i], grid)
        elif "masks" in records:
            given = np.asarray(records["masks"][i], bool)
            if given.any():
                mask = resize_mask(given, grid)
        else:
            rles = [
                r
                for r in records["mask_rle"][i]
                if str(r).strip() not in ("", "-1")
            ]
            if rles:
                height, width = (int(v) for v in records["image_hw"][i])
                decode = mask_fn or decode_rle
                mask = resize_mask(decode(rles, height, width), grid)
        if mask is None:
            continue
        label = 0
        if labels_of is not None and len(labels_of[i]):
            first = str(list(labels_of[i])[0])
            label = class_names.index(first) if first in class_names else 0
        out["index"].append(i)
        out["masks"].append(mask)
        out["label"].append(label)
    out["masks"] = np.asarray(out["masks"], bool).reshape(-1, *grid)
    return out
