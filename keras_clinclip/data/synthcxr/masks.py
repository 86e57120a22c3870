"""The real lung masks SynthCXR's anatomy is built on.

They come from `torchxrayvision`'s `data/semantic_masks_v7labs_lungs.zip`
(found with `importlib.util.find_spec`, never imported), are normalised to
their bounding box at 128 x 128, and are cached as
`synthcxr/lung_masks_128.npz`. Without `torchxrayvision`, three smooth
synthetic shapes are used.

Example:
>>> from keras_clinclip.data.synthcxr.masks import MASK_SIZE, lung_masks
>>> lung_masks()["masks"].shape[1:] == (MASK_SIZE, MASK_SIZE)
True
"""

import io
import zipfile

import numpy as np

from keras_clinclip import chexpert
from keras_clinclip import file_writes
from keras_clinclip import utils

_MASK_ARCHIVE = "data/semantic_masks_v7labs_lungs.zip"

# The side of the normalised masks.
MASK_SIZE = 128

_MASKS = {}


def _split_column(mask):
    """The column between the lungs, or None when they cannot be split."""
    columns = mask.sum(0)
    lo, hi = int(MASK_SIZE * 0.3), int(MASK_SIZE * 0.7)
    split = int(columns[lo:hi].argmin()) + lo
    right, left = mask[:, :split].sum(), mask[:, split:].sum()
    if columns[split] > 0.1 * columns.max():
        return None  # lungs not separable at the midline
    if not 0.5 < right / max(left, 1) < 2.0:
        return None  # one lung missing or cut
    return split


def _read_masks_from_archive(path):
    from PIL import Image

    masks, aspects, splits = [], [], []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith("/"):
                continue
            image = Image.open(io.BytesIO(archive.read(name))).convert("L")
            array = np.asarray(image) > 64
            if array.sum() < 100:
                continue  # an empty mask in the archive
            ys, xs = np.nonzero(array)
            crop = array[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            aspect = crop.shape[0] / crop.shape[1]
            small = Image.fromarray(crop.astype(np.uint8) * 255).resize(
                (MASK_SIZE, MASK_SIZE), Image.BILINEAR
            )
            mask = np.asarray(small) > 127
            split = _split_column(mask)
            if split is None or not 0.55 < aspect < 1.5:
                continue
            masks.append(mask)
            aspects.append(aspect)
            splits.append(split)
    return (
        np.stack(masks).astype(np.uint8),
        np.asarray(aspects, np.float32),
        np.asarray(splits, np.int32),
    )


def _fallback_masks():
    """Two smooth lung shapes, for machines without torchxrayvision."""
    v, u = np.mgrid[0:MASK_SIZE, 0:MASK_SIZE] / (MASK_SIZE - 1.0)
    masks = []
    for bulge in (0.0, 0.05, -0.05):
        mask = np.zeros((MASK_SIZE, MASK_SIZE), bool)
        for center in (0.26, 0.74):
            du = (u - center) / (0.22 + bulge * v)
            dv = (v - 0.55) / 0.55
            mask |= (du**2 + dv**4) < 1.0
        masks.append(mask)
    return (
        np.stack(masks).astype(np.uint8),
        np.full(3, 0.9, np.float32),
        np.full(3, MASK_SIZE // 2, np.int32),
    )


def _load_or_read(path):
    """The masks of the archive at `path`, through the on-disk cache."""
    cache = utils.cache_dir("synthcxr") / f"lung_masks_{MASK_SIZE}.npz"
    found = chexpert._cached_file(cache)
    if found is not None:
        data = np.load(found)
        return data["masks"], data["aspects"], data["splits"]
    masks, aspects, splits = _read_masks_from_archive(path)
    tmp = file_writes.temp_sibling(cache)  # per process: caches may be shared
    np.savez_compressed(tmp, masks=masks, aspects=aspects, splits=splits)
    tmp.replace(cache)
    return masks, aspects, splits


def lung_masks():
    """The real lung masks, normalised to their bounding box.

    Read once from `torchxrayvision`'s `semantic_masks_v7labs_lungs.zip`
    (masks that are empty, or where the two lungs cannot be told apart, are
    left out) and cached as `.npz` under `keras_clinclip.utils.cache_dir`.
    Without `torchxrayvision`, three smooth synthetic shapes are used.

    Returns:
        A dict with `masks` uint8 (M, 128, 128), `aspects` float32 (M,)
        (height / width of the lung box) and `splits` int32 (M,) (the
        column between the two lungs), and `source`.

    Example:
    >>> masks = lung_masks()
    >>> masks["masks"].shape[1:]
    (128, 128)
    """
    if "masks" in _MASKS:
        return _MASKS["masks"]
    try:
        path = utils.package_data_path("torchxrayvision", _MASK_ARCHIVE)
    except (ImportError, FileNotFoundError):
        path = None
    if path is None:
        masks, aspects, splits = _fallback_masks()
        source = "fallback"
    else:
        masks, aspects, splits = _load_or_read(path)
        source = "torchxrayvision"
    _MASKS["masks"] = {
        "masks": masks,
        "aspects": aspects,
        "splits": splits,
        "source": source,
    }
    return _MASKS["masks"]
