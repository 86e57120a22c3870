"""Support devices, wires and the hiatal hernia (stage `devices`).

Each `_draw_*` is a finding's `draw(canvas, finding)` (registered in
`builtin`); it adds to `canvas.overlay`, which the renderer adds, scaled
by 0.9, on top of everything else.

Example:
>>> from keras_clinclip.data.synthcxr import SynthCXR
>>> r = SynthCXR(32)
>>> bool((r.render(["pacemaker"], 0) != r.render([], 0)).any())
True
"""

import numpy as np

from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr.findings import sides


def _add_line(canvas, points, width, strength=None):
    """Keep the brighter of the overlay and a line through `points`."""
    line = raster.polyline(canvas.xx, canvas.yy, points, width)
    if strength is not None:
        line = strength * line
    canvas.overlay = np.maximum(canvas.overlay, line)


def _draw_central_line(canvas, f):
    """A venous catheter from the subclavian vein to the SVC."""
    a = canvas.anatomy
    cx, top, bh = a.center_x, a.top, a.height
    for side in sides(f.side):
        sign = -1 if side == "right" else 1
        path = raster.spline(
            [
                (cx + sign * 0.38, top - 0.06),
                (cx + sign * 0.2, top + 0.01),
                (cx + sign * 0.05, top + 0.06),
                (cx - 0.03, top + 0.16 * bh),
                (cx - 0.035, top + (0.32 + 0.1 * f.severity) * bh),
            ]
        )
        _add_line(canvas, path, 0.0045)


def _draw_tube(canvas, f):
    """An endotracheal tube (two walls) and a nasogastric tube."""
    a = canvas.anatomy
    cx, top, bw, bh = a.center_x, a.top, a.width, a.height
    tip = top + (0.08 + 0.08 * f.severity) * bh
    for dx in (-0.008, 0.008):
        _add_line(canvas, [(cx + dx, 0.0), (cx + dx * 0.8, tip)], 0.003)
    ng = raster.spline(
        [
            (cx - 0.015, 0.0),
            (cx + 0.01, top + 0.3 * bh),
            (cx + 0.03, top + 0.8 * bh),
            (cx + 0.18 * bw, top + bh + 0.05),
            (cx + 0.12 * bw, top + bh + 0.09),
        ]
    )
    _add_line(canvas, ng, 0.004, strength=0.8)


def _draw_pacemaker(canvas, f):
    """A generator below the clavicle and two leads into the heart."""
    xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
    cx, top, bh = a.center_x, a.top, a.height
    hx, heart_y, hw, _ = canvas.heart
    for side in sides(f.side):
        sign = -1 if side == "right" else 1
        px, py = cx + sign * 0.3, top + 0.06
        box = raster.disk(xx, yy, px, py, 0.055, 0.04, edge=0.15)
        box = np.maximum(
            box, raster.disk(xx, yy, px, py, 0.06, 0.03, edge=0.15)
        )
        canvas.overlay = np.maximum(canvas.overlay, 1.3 * box)
        for end in (
            (hx - 0.12 * hw, heart_y - 0.04),
            (hx + 0.1 * hw, heart_y + 0.05),
        ):
            lead = raster.spline(
                [
                    (px, py),
                    (px - sign * 0.1, py + 0.02),
                    (cx - 0.03, top + 0.3 * bh),
                    end,
                ]
            )
            _add_line(canvas, lead, 0.004)


def _draw_sternotomy(canvas, f):
    """Sternal wire loops down the midline."""
    xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
    n = 4 + int(2 * f.severity)
    for k in range(n):
        y = a.top + 0.18 * a.height + k * 0.5 * a.height / n
        ring = raster.disk(xx, yy, a.center_x, y, 0.016, 0.01, edge=0.5)
        ring -= raster.disk(xx, yy, a.center_x, y, 0.009, 0.005, edge=0.5)
        canvas.overlay = np.maximum(canvas.overlay, 1.4 * np.clip(ring, 0, 1))


def _draw_hiatal_hernia(canvas, f):
    """A retrocardiac sac with an air-fluid level."""
    xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
    r = (0.045 + 0.03 * f.severity) * a.width
    x, y = a.center_x + 0.02, canvas.heart[1] + 0.04
    sac = raster.disk(xx, yy, x, y, r, r * 0.85, edge=0.25)
    air = sac * (yy < y - 0.2 * r)
    canvas.overlay += 0.06 * sac - 0.3 * air
    level = raster.polyline(
        xx,
        yy,
        [(x - r * 0.9, y - 0.2 * r), (x + r * 0.9, y - 0.2 * r)],
        0.003,
    )
    canvas.overlay += 0.1 * level * sac
