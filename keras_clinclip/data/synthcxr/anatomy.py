"""A study's anatomy: lung box, heart, mediastinum, markings and ribs.

`sample_anatomy` draws the per-study variation (which real lung mask,
size, rotation, position, heart size) and lets each finding's `anatomy`
function change it; `lung_maps` places the lung mask in the image;
`vessel_markings` and `rib_cage` draw the lung markings and the ribs.
Coordinates are normalised to [0, 1] (`raster.grid`); the patient's right
is on the image's left.

Example:
>>> import numpy as np
>>> from keras_clinclip.data.synthcxr import anatomy, raster
>>> a = anatomy.sample_anatomy(np.random.default_rng(0), [])
>>> right, left = anatomy.lung_maps(a, *raster.grid(32))
>>> bool(right[:, :16].sum() > right[:, 16:].sum())
True
"""

import dataclasses
import math

import numpy as np

from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr.findings import REGISTRY
from keras_clinclip.data.synthcxr.masks import MASK_SIZE
from keras_clinclip.data.synthcxr.masks import lung_masks


@dataclasses.dataclass
class Anatomy:
    """The shape of one study (normalised image coordinates).

    Args:
        mask: float64 (128, 128), the lung mask in its box.
        split: the column (in [0, 1] of the box) between the lungs.
        center_x: the midline.
        width, height: the lung box.
        top: the top of the lung box (the apices).
        rotation: in radians.
        heart_ratio: the cardiothoracic ratio.
        mediastinum_width: a factor on the upper mediastinum's width.
        lucency: extra darkness of the lungs (hyperinflation).
        markings: a factor on the vessel markings.
        markings_blur: blur radius of the markings (0: sharp).
        lift: per side, how far the hemidiaphragm is raised.
        flat_domes: how much the domes are flattened (None: not).
        knob_scale: a factor on the aortic knob's radius.
        spine_curve: amplitude of a scoliotic curve (0: straight).
        gastric_bubble: whether the gastric bubble is drawn.

    Example:
    >>> Anatomy(None, 0.5, 0.5, 0.7, 0.6, 0.1, 0.0, 0.42).height
    0.6
    """

    mask: np.ndarray
    split: float
    center_x: float
    width: float
    height: float
    top: float
    rotation: float
    heart_ratio: float
    mediastinum_width: float = 1.0
    lucency: float = 0.0
    markings: float = 1.0
    markings_blur: float = 0
    lift: dict = dataclasses.field(
        default_factory=lambda: {"right": 0.0, "left": 0.0}
    )
    flat_domes: float | None = None
    knob_scale: float = 1.0
    spine_curve: float = 0.0
    gastric_bubble: bool = True


def sample_anatomy(rng, found):
    """Draw a study's anatomy, then apply the findings' `anatomy` changes.

    Args:
        rng: a `numpy.random.Generator` (the renderer's).
        found: a list of `Finding` (repeats of `combine` findings merged).

    Returns:
        An `Anatomy`.

    Example:
    >>> from keras_clinclip.data.synthcxr import normalize_findings
    >>> rng = np.random.default_rng(0)
    >>> big = sample_anatomy(rng, normalize_findings(["cardiomegaly"]))
    >>> big.heart_ratio > 0.5
    True
    """
    masks = lung_masks()
    index = int(rng.integers(len(masks["masks"])))
    aspect = float(np.clip(masks["aspects"][index], 0.75, 1.05))
    center_x = 0.5 + rng.normal(0, 0.012)
    width = rng.uniform(0.66, 0.76)
    top = rng.uniform(0.09, 0.14)
    rotation = math.radians(rng.normal(0, 2.0))
    heart_ratio = rng.uniform(0.38, 0.46)
    a = Anatomy(
        mask=masks["masks"][index].astype(np.float64),
        split=masks["splits"][index] / (MASK_SIZE - 1.0),
        center_x=center_x,
        width=width,
        height=width * (0.55 + 0.35 * aspect),
        top=top,
        rotation=rotation,
        heart_ratio=heart_ratio,
    )
    for f in found:
        change = REGISTRY[f.name].anatomy
        if change is not None:
            change(a, f)
    a.height = min(a.height, 0.86 - a.top)
    return a


def lung_maps(a, xx, yy, scale=1.0, anchor=None):
    """Place the lung mask of anatomy `a` in the image.

    Args:
        a: an `Anatomy`.
        xx, yy: the coordinate grids (`raster.grid`).
        scale, anchor: shrink the lungs by `scale` towards the point
            `anchor` (a collapsing lung); `anchor=None`: no shrinking.

    Returns:
        `(right, left)`: float64 maps in {0, 1} of the image's shape.

    Example:
    >>> a = sample_anatomy(np.random.default_rng(1), [])
    >>> right, left = lung_maps(a, *raster.grid(16))
    >>> float((right * left).sum())
    0.0
    """
    cx, top, bw, bh = a.center_x, a.top, a.width, a.height
    cy = top + bh / 2
    c, s = math.cos(a.rotation), math.sin(a.rotation)
    x = c * (xx - cx) + s * (yy - cy) + cx
    y = -s * (xx - cx) + c * (yy - cy) + cy
    if anchor is not None:  # shrink the lung towards an anchor point
        x = anchor[0] + (x - anchor[0]) / scale
        y = anchor[1] + (y - anchor[1]) / scale
    u = (x - (cx - bw / 2)) / bw
    v = (y - top) / bh
    right_side = u < a.split
    lift = np.where(right_side, a.lift["right"], a.lift["left"])
    v = v / np.maximum(1.0 - lift, 0.3)
    if a.flat_domes is not None:  # flatten the domes: stretch the base
        v = np.where(v > 0.7, 0.7 + (v - 0.7) * (1 - 0.35 * a.flat_domes), v)
    n = MASK_SIZE - 1
    inside = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    ui = np.clip((u * n).astype(int), 0, n)
    vi = np.clip((v * n).astype(int), 0, n)
    lung = np.where(inside, a.mask[vi, ui], 0.0)
    return lung * right_side, lung * ~right_side


def vessel_markings(rng, hila, size):
    """Vessels branching out from the hila: random walks, splatted.

    Args:
        rng: a `numpy.random.Generator`.
        hila: `{"right": (x, y), "left": (x, y)}`.
        size: the image side in pixels.

    Returns:
        float32 (size, size) in [0, 1.2].

    Example:
    >>> hila = {"right": (0.4, 0.45), "left": (0.6, 0.42)}
    >>> marks = vessel_markings(np.random.default_rng(0), hila, 32)
    >>> marks.shape, bool(marks.max() > 0)
    ((32, 32), True)
    """
    s = size
    xs, ys, ws = [], [], []
    branches = 22
    for side, (hx, hy) in hila.items():
        sign = -1 if side == "right" else 1
        angle = rng.uniform(-1.3, 1.5, branches)  # 0 lateral, + down
        direction = np.stack(
            [sign * np.cos(angle), np.sin(angle) * 0.9], axis=1
        )
        length = rng.integers(20, 38, branches)
        x = np.full(branches, hx)
        y = np.full(branches, hy)
        w = 1.0
        for step in range(int(length.max())):
            direction += rng.normal(0, 0.15, (branches, 2))
            direction /= np.linalg.norm(direction, axis=1)[:, None] + 1e-9
            x = x + 0.01 * direction[:, 0]
            y = y + 0.01 * direction[:, 1]
            w *= 0.955
            alive = step < length
            xs.append(x[alive] * (s - 1))
            ys.append(y[alive] * (s - 1))
            ws.append(np.full(alive.sum(), w))
    acc = raster.splat(
        (s, s), np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    )
    return np.clip(raster.blur(acc, max(1, s / 180)) * 3.0, 0, 1.2)


@dataclasses.dataclass
class RibCage:
    """Ten posterior ribs a side, as one "phase" over the image.

    `dist` is each pixel's distance to the centre of its rib; a fracture
    shifts it (a step-off), opens a `gap` and adds a `callus`.

    Args:
        shape: the ribs' vertical offset along the lateral axis.
        spacing, thick: rib spacing and thickness.
        lateral: |x - midline| / half the chest's width.
        dist: distance to the rib's centre line.
        region: where ribs are drawn.
        gap: fracture gaps (bool).
        callus: fracture calluses, in [0, 1].

    Example:
    >>> a = sample_anatomy(np.random.default_rng(0), [])
    >>> ribs = rib_cage(a, *raster.grid(32))
    >>> ribs.density().shape
    (32, 32)
    """

    shape: np.ndarray
    spacing: float
    thick: float
    lateral: np.ndarray
    dist: np.ndarray
    region: np.ndarray
    gap: np.ndarray
    callus: np.ndarray

    def density(self):
        """The ribs' added density (before the body's soft tissue).

        Returns:
            An array of the image's shape.

        Example:
        >>> a = sample_anatomy(np.random.default_rng(0), [])
        >>> bool(rib_cage(a, *raster.grid(32)).density().max() > 0)
        True
        """
        thick, dist = self.thick, self.dist
        band = raster.smoothstep((thick / 2 - np.abs(dist)) / (thick / 3))
        cortex = raster.smoothstep(
            (thick / 7 - np.abs(np.abs(dist) - thick / 2.3)) / (thick / 9)
        )
        out = (0.045 * band + 0.04 * cortex) * self.region
        out = np.where(
            self.gap, -0.12 * self.region * (np.abs(dist) < thick), out
        )
        return out + 0.16 * self.callus * ~self.gap


def rib_cage(a, xx, yy):
    """The posterior ribs of anatomy `a`: up from the spine, then down.

    Args:
        a: an `Anatomy`.
        xx, yy: the coordinate grids (`raster.grid`).

    Returns:
        A `RibCage`.

    Example:
    >>> a = sample_anatomy(np.random.default_rng(0), [])
    >>> bool(rib_cage(a, *raster.grid(16)).gap.any())
    False
    """
    cx, top, bw, bh = a.center_x, a.top, a.width, a.height
    half = bw / 2 * 1.05
    spacing = 0.087 * bh
    lateral = np.abs(xx - cx) / half
    shape = -0.05 * bh * np.sin(np.pi * lateral * 0.6)
    shape += 0.25 * bh * lateral**2.2
    phase = (yy - (top - 0.02) - shape) / spacing
    rib = np.round(phase)
    region = (lateral > 0.05) & (lateral < 1.0) & (rib >= 0) & (rib < 10)
    return RibCage(
        shape=shape,
        spacing=spacing,
        thick=0.028 * bh,
        lateral=lateral,
        dist=(phase - rib) * spacing,
        region=region,
        gap=np.zeros(xx.shape, bool),
        callus=np.zeros(xx.shape, np.float32),
    )


def heart_box(a):
    """Where the heart of anatomy `a` is drawn.

    Args:
        a: an `Anatomy`.

    Returns:
        `(x, y, width, height)`: the heart's centre, its full width
        (`heart_ratio` of the chest, 1.1 x the lung box) and its half
        height.

    Example:
    >>> a = sample_anatomy(np.random.default_rng(0), [])
    >>> x, y, width, height = heart_box(a)
    >>> bool(x > a.center_x)
    True
    """
    width = a.heart_ratio * a.width * 1.1
    height = 0.24 * a.height * (0.9 + 0.8 * (a.heart_ratio - 0.42))
    return a.center_x + 0.16 * width, a.top + 0.8 * a.height, width, height
