"""Findings of the chest's shape, heart, mediastinum and bones.

The `_shape_*` functions are findings' `anatomy(anatomy, finding)`
changes; the `_draw_*` functions their `draw(canvas, finding)`;
`heart_region` and `mediastinum_region` their `region` functions (all
registered in `builtin`).

Example:
>>> from keras_clinclip.data.synthcxr import SynthCXR
>>> mask = SynthCXR(32).finding_mask(["cardiomegaly"], "cardiomegaly")
>>> bool(mask[:, 16].any())
True
"""

import numpy as np

from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr.anatomy import heart_box
from keras_clinclip.data.synthcxr.findings import ZONES
from keras_clinclip.data.synthcxr.findings import sides


def _shape_cardiomegaly(a, f):
    a.heart_ratio = 0.53 + 0.14 * f.severity


def _shape_widened_mediastinum(a, f):
    a.mediastinum_width = 1.5 + 0.6 * f.severity


def _shape_emphysema(a, f):
    s = f.severity
    a.height *= 1.12 + 0.12 * s
    a.width *= 1.03
    a.heart_ratio *= 0.88
    a.lucency += 0.04 + 0.05 * s
    a.markings *= 0.6
    a.flat_domes = 0.5 + 0.5 * s


def _shape_hypoinflation(a, f):
    a.height *= 0.9 - 0.1 * f.severity
    a.heart_ratio *= 1.08
    a.markings *= 1.3


def _shape_elevated_diaphragm(a, f):
    for side in sides(f.side):
        a.lift[side] = 0.1 + 0.15 * f.severity


def _shape_edema(a, f):
    a.markings_blur = 2  # blurred vessels


def _shape_hiatal_hernia(a, f):
    a.gastric_bubble = False  # the stomach is up in the chest


def _shape_scoliosis(a, f):
    a.spine_curve = 0.02 + 0.04 * f.severity


def _shape_aortic_calcification(a, f):
    a.knob_scale = 1.3 + 0.3 * f.severity


def _draw_aortic_calcification(canvas, f):
    """A calcified rim on the upper half of the (enlarged) aortic knob."""
    xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
    x, y = a.center_x + 0.07 * a.width, a.top + 0.2 * a.height
    r = canvas.knob_radius
    ring = raster.disk(xx, yy, x, y, r * 1.05)
    ring -= raster.disk(xx, yy, x, y, r * 0.8)
    canvas.density += 0.25 * np.clip(ring, 0, 1) * (yy < y)


def _draw_spine_degeneration(canvas, f):
    """Osteophytes on both sides of a few vertebrae."""
    a = canvas.anatomy
    top, bottom = a.top, a.top + a.height
    count = 3 + int(4 * f.severity)
    for level in canvas.rng.uniform(top + 0.1 * a.height, bottom, count):
        for sign in (-1, 1):
            x0 = a.center_x + sign * 0.04
            canvas.density += 0.3 * raster.disk(
                canvas.xx, canvas.yy, x0, level, 0.018, 0.008
            )


def _draw_fracture(canvas, f):
    """A rib of the zone with a gap, a step-off and a faint callus."""
    xx, yy, rng, ribs = canvas.xx, canvas.yy, canvas.rng, canvas.ribs
    cx, top = canvas.anatomy.center_x, canvas.anatomy.top
    for side in sides(f.side, default="right"):
        zone = ZONES.index(f.zone or "middle")
        index = int(2 + 2.4 * zone + rng.integers(0, 2))
        where = 0.6 + 0.25 * rng.random()
        on_side = (xx < cx) if side == "right" else (xx >= cx)
        broken = on_side & (
            np.abs(yy - (top - 0.02) - ribs.shape - index * ribs.spacing)
            < ribs.spacing / 2
        )
        step = (0.8 + 0.6 * f.severity) * ribs.thick
        ribs.dist = np.where(
            broken & (ribs.lateral > where), ribs.dist - step, ribs.dist
        )
        near = np.abs(ribs.lateral - where) < 0.03 + 0.03 * f.severity
        ribs.gap |= broken & near
        halo = broken & (np.abs(ribs.lateral - where) < 0.1)
        ribs.callus = np.maximum(
            ribs.callus,
            halo * raster.smoothstep(1 - np.abs(ribs.dist) / ribs.thick),
        )


def heart_region(canvas, f):
    """Cardiomegaly's region: the heart as `render` draws it.

    Args:
        canvas: a `Canvas` (its anatomy and grids are used).
        f: the `Finding`.

    Returns:
        A boolean mask.

    Example:
    >>> from keras_clinclip.data.synthcxr import SynthCXR
    >>> canvas = SynthCXR(32).draw(["cardiomegaly"], seed=0)
    >>> bool(heart_region(canvas, None).any())
    True
    """
    a, xx, yy = canvas.anatomy, canvas.xx, canvas.yy
    x, y, width, height = heart_box(a)
    heart = raster.disk(xx, yy, x, y, width / 2, height)
    return (heart > 0.05) & (yy < a.top + a.height + 0.01)


def mediastinum_region(canvas, f):
    """A widened mediastinum's region: the band of the mediastinum.

    Args:
        canvas: a `Canvas` (its anatomy and grids are used).
        f: the `Finding`.

    Returns:
        A boolean mask.

    Example:
    >>> from keras_clinclip.data.synthcxr import SynthCXR
    >>> canvas = SynthCXR(32).draw([], seed=0)
    >>> bool(mediastinum_region(canvas, None)[:, 16].any())
    True
    """
    a, xx, yy = canvas.anatomy, canvas.xx, canvas.yy
    near = np.abs(xx - a.center_x) < (
        0.075 * a.width * a.mediastinum_width + 0.02
    )
    return near & (yy > a.top) & (yy < a.top + 0.8 * a.height)
