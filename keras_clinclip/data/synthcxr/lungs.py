"""Findings drawn in the lungs and the pleura, and their regions.

Each `_draw_*` is a finding's `draw(canvas, finding)` (registered in
`builtin`); it draws on every side the finding names, inside that lung
(`canvas.lungs`), at a point of the stated zone (`Canvas.zone_point`).
`LungRegion` and `FluidRegion` are the matching `region` functions.

Example:
>>> from keras_clinclip.data.synthcxr import SynthCXR
>>> r = SynthCXR(32)
>>> bool((r.render(["nodule"], 0) != r.render([], 0)).any())
True
"""

import math

import numpy as np

from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr.anatomy import lung_maps
from keras_clinclip.data.synthcxr.findings import ZONES
from keras_clinclip.data.synthcxr.findings import sides


def _in_each_lung(draw_side):
    """`draw(canvas, f)` from `draw_side(canvas, f, side, soft_lung)`."""

    def draw(canvas, f):
        for side in sides(f.side):
            draw_side(canvas, f, side, raster.blur(canvas.lungs[side], 1))

    draw.__name__ = draw_side.__name__
    draw.__doc__ = draw_side.__doc__
    return draw


def _bronchogram(canvas, x, y, r):
    """Three branching air bronchi around (x, y)."""
    xx, yy, rng = canvas.xx, canvas.yy, canvas.rng
    out = np.zeros_like(xx)
    for _ in range(3):
        a = rng.uniform(0, 2 * np.pi)
        p0 = (x - 0.5 * r * math.cos(a), y - 0.5 * r * math.sin(a))
        p1 = (x + 0.3 * r * math.cos(a + 0.4), y + 0.3 * r * math.sin(a))
        p2 = (x + 0.7 * r * math.cos(a), y + 0.7 * r * math.sin(a))
        out = np.maximum(out, raster.polyline(xx, yy, [p0, p1, p2], 0.004))
    return out


def _reticular(canvas, scale):
    """A net of fine lines (the zero crossings of blurred noise)."""
    noise = raster.blur(canvas.rng.normal(0, 1, canvas.xx.shape), scale)
    noise /= noise.std() + 1e-9
    return raster.smoothstep((0.35 - np.abs(noise)) / 0.35)


def _airspace_blob(canvas, f, side, m, widen):
    """A lobulated blob in the lung of `side`, and its (x, y, radius)."""
    xx, yy, rng = canvas.xx, canvas.yy, canvas.rng
    x, y = canvas.zone_point(side, f.zone, 0.2)
    r = (0.07 + 0.07 * f.severity) * widen
    theta = np.arctan2(yy - y, xx - x)
    wobble = 1 + 0.22 * np.sin(3 * theta + rng.uniform(0, 6))
    wobble += 0.12 * np.sin(5 * theta + rng.uniform(0, 6))
    dist = np.hypot(xx - x, (yy - y) * 1.15) / (r * wobble)
    return raster.smoothstep((1 - dist) / 0.45) * m, (x, y, r)


@_in_each_lung
def _draw_consolidation(canvas, f, side, m):
    """A dense opacity with air bronchograms."""
    blob, (x, y, r) = _airspace_blob(canvas, f, side, m, 0.9)
    strength = 0.26 + 0.16 * f.severity
    blob = blob * (1 - 0.5 * _bronchogram(canvas, x, y, r))
    canvas.density = canvas.density + strength * blob


@_in_each_lung
def _draw_opacity(canvas, f, side, m):
    """A fainter, patchy opacity."""
    blob, _ = _airspace_blob(canvas, f, side, m, 1.1)
    strength = 0.16 + 0.16 * f.severity
    patch = raster.blur(canvas.rng.normal(0, 1, canvas.xx.shape), 3)
    patch /= patch.std() + 1e-9
    blob = blob * np.clip(0.8 + 0.4 * patch, 0.2, 1.4)
    canvas.density = canvas.density + strength * blob


@_in_each_lung
def _draw_atelectasis(canvas, f, side, m):
    """A plate-like band."""
    xx, yy, a, s = canvas.xx, canvas.yy, canvas.anatomy, f.severity
    x, y = canvas.zone_point(side, f.zone or "lower")
    angle = canvas.rng.uniform(-0.3, 0.3)
    length = (0.1 + 0.05 * s) * a.width
    width = (0.008 + 0.012 * s) * a.height / 0.6
    c, sn = math.cos(angle), math.sin(angle)
    along = (xx - x) * c + (yy - y) * sn
    across = -(xx - x) * sn + (yy - y) * c
    band = raster.smoothstep((1 - np.abs(along) / length) / 0.3)
    band *= raster.smoothstep((1 - np.abs(across) / width) / 0.5)
    canvas.density = canvas.density + (0.22 + 0.12 * s) * band * m


@_in_each_lung
def _draw_edema(canvas, f, side, m):
    """Perihilar haze and Kerley B lines at the lateral base."""
    xx, yy, a, s = canvas.xx, canvas.yy, canvas.anatomy, f.severity
    hx, hy = canvas.hila[side]
    sigma = (0.12 + 0.08 * s) * a.width
    haze = np.exp(-((xx - hx) ** 2 + ((yy - hy) * 0.8) ** 2) / sigma**2)
    canvas.density = canvas.density + (0.12 + 0.16 * s) * haze * m
    ys, ye = canvas.rows[side]
    sign = -1 if side == "right" else 1
    edge_x = a.center_x + sign * a.width * 0.44
    for k in range(3 + int(3 * s)):
        ly = ye - 0.03 - k * 0.018
        points = [(edge_x, ly), (edge_x - sign * 0.035, ly)]
        line = raster.polyline(xx, yy, points, 0.0035)
        canvas.density = canvas.density + 0.12 * line * m


def _lesion(radius, growth, strength, edge, lobulation):
    """The draw of a round lesion, not clipped to the lung.

    Its radius is `radius + growth * severity`, its border `edge` soft,
    its outline lobulated by `lobulation`.
    """

    def draw_side(canvas, f, side, m):
        xx, yy = canvas.xx, canvas.yy
        x, y = canvas.zone_point(side, f.zone, 0.8)
        r = radius + growth * f.severity
        theta = np.arctan2(yy - y, xx - x)
        phase = canvas.rng.uniform(0, 6)
        lobes = 1 + lobulation * np.sin(4 * theta + phase)
        dist = np.hypot(xx - x, yy - y) / (r * lobes)
        canvas.density = canvas.density + strength * raster.smoothstep(
            (1 - dist) / edge
        )

    return _in_each_lung(draw_side)


_draw_nodule = _lesion(0.014, 0.014, 0.24, 0.35, 0.03)
_draw_mass = _lesion(0.045, 0.045, 0.3, 0.15, 0.12)
_draw_granuloma = _lesion(0.007, 0.005, 0.55, 0.15, 0.03)


@_in_each_lung
def _draw_pleural_thickening(canvas, f, side, m):
    """A band along the lateral pleura in the zone (an apical cap)."""
    xx, yy, a, s = canvas.xx, canvas.yy, canvas.anatomy, f.severity
    canvas.zone_point(side, f.zone, 1.0)  # a draw kept for the seeds
    inner = raster.blur(canvas.lungs[side], 3 + 5 * s * canvas.size / 224)
    rim = np.clip(m - inner * 1.6 + 0.6, 0, 1) * m
    ys, ye = canvas.rows[side]
    z = ZONES.index(f.zone or "upper")
    lo = ys + (ye - ys) * z / 3 - 0.03
    hi = ys + (ye - ys) * (z + 1) / 3
    near = (yy > lo) & (yy < hi)
    near = near & (np.abs(xx - a.center_x) > 0.12 * a.width)
    canvas.density = canvas.density + (0.3 + 0.15 * s) * rim * near


@_in_each_lung
def _draw_scarring(canvas, f, side, m):
    """A local reticular scar."""
    s = f.severity
    x, y = canvas.zone_point(side, f.zone, 1.0)
    region = raster.disk(canvas.xx, canvas.yy, x, y, 0.08 + 0.05 * s, edge=0.6)
    lines = _reticular(canvas, 2)
    canvas.density = canvas.density + (0.2 + 0.12 * s) * lines * region * m


@_in_each_lung
def _draw_interstitial(canvas, f, side, m):
    """A reticular pattern over the whole lung."""
    lines = _reticular(canvas, 1.5)
    canvas.density = canvas.density + (0.08 + 0.1 * f.severity) * lines * m


def _draw_pneumothorax(canvas, f):
    """The lung collapses towards its base: a black rim without markings
    and a thin visceral pleural line (stage `pleura`)."""
    yy = canvas.yy
    for side in sides(f.side):
        m = canvas.lungs[side]
        ys, ye = canvas.rows[side]
        anchor = (canvas.hila[side][0], ye)
        scale = 0.88 - 0.3 * f.severity
        shrunk = lung_maps(canvas.anatomy, canvas.xx, yy, scale, anchor)
        shrunk = shrunk[0] if side == "right" else shrunk[1]
        shrunk = shrunk * m
        rim = m * (1 - shrunk)
        canvas.density -= 0.16 * raster.blur(rim, 1)
        canvas.visible = canvas.visible * (1 - rim)
        edge = np.clip(shrunk - raster.blur(shrunk, 1.5), 0, 1)
        canvas.density += 1.2 * edge * (1 - np.abs(yy - ye) < 0.1)


def _fluid_surface(xx, center_x, width, ys, ye, severity):
    """The meniscus of an effusion: higher laterally, with severity."""
    height = ye - ys
    level = ye - (0.1 + 0.35 * severity) * height
    lateral = np.clip(np.abs(xx - center_x) / (width / 2), 0, 1.2)
    return level - 0.3 * height * lateral**3


def _draw_effusion(canvas, f):
    """Fluid layering at the base with a meniscus (stage `fluid`)."""
    xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
    for side in sides(f.side):
        m = canvas.lungs_soft[side]
        ys, ye = canvas.rows[side]
        surface = _fluid_surface(xx, a.center_x, a.width, ys, ye, f.severity)
        fluid = raster.smoothstep((yy - surface) / 0.05)
        fluid = fluid * np.clip(m * 3, 0, 1)
        canvas.density = canvas.density + (0.6 - canvas.density) * fluid


class LungRegion:
    """A finding's region: the lung of each side it names, cut to a zone.

    The zone's band is widened by half a zone up and down (a large
    finding spills over).

    Args:
        zone: the zone used; `None`: the finding's own zone, `"any"`: the
            whole lung.

    Example:
    >>> from keras_clinclip.data.synthcxr import SynthCXR
    >>> r = SynthCXR(32)
    >>> mask = r.finding_mask([("nodule", "left", "upper", 0.5)], "nodule")
    >>> bool(mask[:, 16:].any()), bool(mask[:, :12].any())
    (True, False)
    """

    def __init__(self, zone=None):
        self.zone = zone

    def __call__(self, canvas, f):
        zone = self.zone or f.zone or "any"
        mask = np.zeros(canvas.xx.shape, bool)
        for side in sides(f.side):
            lung = canvas.lungs[side] > 0.5
            rows = np.nonzero(lung.any(1))[0] / (canvas.size - 1.0)
            if zone == "any" or len(rows) == 0:
                mask |= lung
            else:
                mask |= self.part(canvas, f, lung, rows.min(), rows.max())
        return mask

    def part(self, canvas, f, lung, ys, ye):
        """The part of `lung` (rows `ys` to `ye`) in the zone."""
        zone = self.zone or f.zone
        z = ZONES.index(zone)
        height = ye - ys
        lo = ys + height * (z - 0.5) / 3
        hi = ys + height * (z + 1.5) / 3
        return lung & (canvas.yy >= lo) & (canvas.yy <= hi)


class FluidRegion(LungRegion):
    """An effusion's region: the lung below its drawn fluid surface.

    Example:
    >>> from keras_clinclip.data.synthcxr import SynthCXR
    >>> mask = SynthCXR(32).finding_mask(["effusion"], "effusion")
    >>> rows, columns = np.nonzero(mask)
    >>> int(rows.min()) > 8, int(columns.max()) < 16
    (True, True)
    """

    def __init__(self):
        super().__init__("lower")

    def part(self, canvas, f, lung, ys, ye):
        """The part of `lung` (rows `ys` to `ye`) under the fluid."""
        a = canvas.anatomy
        surface = _fluid_surface(
            canvas.xx, a.center_x, a.width, ys, ye, f.severity
        )
        return lung & (canvas.yy >= surface - 0.05)
