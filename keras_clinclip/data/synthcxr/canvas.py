"""The renderer's state while it draws one study.

A finding's `draw(canvas, finding)` reads the anatomy and the maps drawn
so far from the `Canvas` and changes `canvas.density` (the X-ray density
map: dense structures high, air low) or, at its stage, the state that
stage exposes (`visible`, `ribs`, `overlay`).

Example:
>>> from keras_clinclip.data.synthcxr import Canvas
>>> "density" in Canvas.__dataclass_fields__
True
"""

import dataclasses

import numpy as np

from keras_clinclip.data.synthcxr.anatomy import Anatomy
from keras_clinclip.data.synthcxr.anatomy import RibCage
from keras_clinclip.data.synthcxr.findings import ZONES


@dataclasses.dataclass
class Canvas:
    """One study being drawn (normalised coordinates, see `raster.grid`).

    Args:
        xx, yy: the coordinate grids.
        rng: the study's `numpy.random.Generator` (draws in a fixed order:
            the same findings and seed give the same image).
        findings: the study's findings (`combine` repeats merged).
        anatomy: the study's `Anatomy`.
        lungs: `{"right", "left"}` lung maps in {0, 1}.
        lungs_soft: the same, slightly blurred.
        rows: per side, the (top, bottom) rows of the lung.
        density: the density map being drawn.
        tissue: the body's soft tissue (1 inside the body).
        hila: per side, the `(x, y)` of the hilum.
        heart: `(x, y, width)` of the heart.
        knob_radius: the aortic knob's radius.
        markings: the vessel markings (stage `pleura`).
        visible: where the markings show (stage `pleura`).
        ribs: the `RibCage` (stage `ribs`).
        overlay: devices and wires (stage `devices`).

    Example:
    >>> from keras_clinclip.data.synthcxr import SynthCXR
    >>> SynthCXR(32).draw([], seed=0).density.shape
    (32, 32)
    """

    xx: np.ndarray
    yy: np.ndarray
    rng: np.random.Generator
    findings: list
    anatomy: Anatomy
    lungs: dict
    lungs_soft: dict
    rows: dict
    density: np.ndarray | None = None
    tissue: np.ndarray | None = None
    hila: dict | None = None
    heart: tuple | None = None
    knob_radius: float | None = None
    markings: np.ndarray | None = None
    visible: np.ndarray | None = None
    ribs: RibCage | None = None
    overlay: np.ndarray | None = None

    @property
    def size(self):
        """The image side in pixels."""
        return self.xx.shape[0]

    @property
    def lung(self):
        """Both lungs' map."""
        return self.lungs["right"] + self.lungs["left"]

    def zone_point(self, side, zone, lateral=0.5):
        """A random point inside the lung of `side` in `zone`.

        Args:
            side: `"right"` or `"left"`.
            zone: one of `ZONES` (None: `"middle"`).
            lateral: how strongly points away from the mediastinum are
                preferred (0: not at all).

        Returns:
            `(x, y)` in normalised coordinates.

        Example:
        >>> from keras_clinclip.data.synthcxr import SynthCXR
        >>> canvas = SynthCXR(32).draw([], seed=0)
        >>> x, y = canvas.zone_point("left", "upper")
        >>> bool(x > 0.5)
        True
        """
        m = self.lungs[side]
        ys, ye = self.rows[side]
        z = ZONES.index(zone or "middle")
        lo, hi = ys + (ye - ys) * z / 3, ys + (ye - ys) * (z + 1) / 3
        band = m * (self.yy >= lo) * (self.yy <= hi)
        yi, xi = np.nonzero(band > 0.5)
        if len(yi) == 0:
            yi, xi = np.nonzero(m > 0.5)
        if len(yi) == 0:
            return self.anatomy.center_x, (lo + hi) / 2
        # Prefer points away from the mediastinum.
        n = self.size - 1.0
        cx = self.anatomy.center_x
        weight = np.abs(xi - cx * (self.size - 1)) ** (lateral * 2)
        weight = weight / weight.sum()
        k = self.rng.choice(len(yi), p=weight)
        return xi[k] / n, yi[k] / n
