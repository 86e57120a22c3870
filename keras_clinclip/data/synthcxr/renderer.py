"""The SynthCXR renderer: anatomy, then each stage's findings, then film.

`SynthCXR.draw` builds a study's `Canvas` in a fixed order (body, lungs,
spine, mediastinum and heart, markings, ribs, clavicles, then the
findings of each stage: see `findings.STAGES`); `render` exposes it as a
uint8 image. Every random draw comes from one generator seeded by the
study's seed, in that order, so the same findings and seed always give
the same image.
"""

import numpy as np

from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr.anatomy import heart_box
from keras_clinclip.data.synthcxr.anatomy import lung_maps
from keras_clinclip.data.synthcxr.anatomy import rib_cage
from keras_clinclip.data.synthcxr.anatomy import sample_anatomy
from keras_clinclip.data.synthcxr.anatomy import vessel_markings
from keras_clinclip.data.synthcxr.canvas import Canvas
from keras_clinclip.data.synthcxr.findings import REGION_FINDINGS
from keras_clinclip.data.synthcxr.findings import REGISTRY
from keras_clinclip.data.synthcxr.findings import combine_repeats
from keras_clinclip.data.synthcxr.findings import normalize_findings

# Bump whenever the pictures change: caches of rendered images are keyed on
# it and rebuilt when it changes.
RENDERER_VERSION = "2"


def _run_stage(canvas, stage):
    """Draw the findings of `stage`, in the order they were given."""
    for f in canvas.findings:
        kind = REGISTRY[f.name]
        if kind.draw is not None and kind.stage == stage:
            kind.draw(canvas, f)


class SynthCXR:
    """Render chest-radiograph-like grayscale images from findings.

    Each image is a deterministic function of `(findings, seed)`: the seed
    picks one of the real lung masks and the per-study variation (size,
    rotation, position, heart size, exposure, noise); the findings add
    their signatures at the stated side (the patient's) and zone, with
    size or density growing with `severity` in [0, 1]. The findings are
    those of the registry (`FINDINGS`; add your own with
    `register_finding`).

    Args:
        image_size: the side of the square output image in pixels.

    Example:
    >>> renderer = SynthCXR(image_size=64)
    >>> image = renderer.render([("effusion", "left", "lower", 0.8)], seed=1)
    >>> image.shape, image.dtype.name
    ((64, 64), 'uint8')
    >>> bool((renderer.render(["effusion"], 3) ==
    ...       renderer.render(["effusion"], 3)).all())
    True
    """

    version = RENDERER_VERSION

    def __init__(self, image_size=224):
        if int(image_size) < 16:
            raise ValueError(f"image_size must be >= 16, got {image_size}.")
        self.image_size = int(image_size)
        self._xx, self._yy = raster.grid(self.image_size)

    def get_config(self):
        """The constructor's arguments.

        Returns:
            `{"image_size": ...}`.

        Example:
        >>> SynthCXR(32).get_config()
        {'image_size': 32}
        """
        return {"image_size": self.image_size}

    def render(self, findings=(), seed=0):
        """Render one image.

        Args:
            findings: finding specifications (see `normalize_findings`).
            seed: an int; the same findings and seed give the same image.

        Returns:
            A uint8 array (image_size, image_size).

        Example:
        >>> SynthCXR(32).render(["nodule"], seed=2).shape
        (32, 32)
        """
        canvas = self.draw(findings, seed)
        rng = canvas.rng
        # Exposure, film response and noise.
        noise = rng.normal(0, 1, canvas.density.shape)
        d = canvas.density + 0.012 * noise + 0.02 * raster.blur(noise, 4) * 4
        d = raster.blur(d, max(1.0, 0.6 * self.image_size / 224))
        gain = rng.uniform(0.9, 1.15)
        offset = rng.uniform(-0.04, 0.04)
        gamma = rng.uniform(0.85, 1.2)
        out = np.clip(d * gain + offset, 0, 1) ** gamma
        return (out * 255 + 0.5).astype(np.uint8)

    def draw(self, findings=(), seed=0):
        """Draw one study's density map, before exposure and noise.

        Args:
            findings: finding specifications (see `normalize_findings`).
            seed: an int.

        Returns:
            The `Canvas` (`canvas.density`: the density map; its `rng`
            continues with `render`'s exposure draws).

        Example:
        >>> canvas = SynthCXR(32).draw(["effusion"], seed=0)
        >>> canvas.density.shape, sorted(canvas.lungs)
        ((32, 32), ['left', 'right'])
        """
        found = combine_repeats(normalize_findings(findings))
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
        canvas = self._start(rng, found)
        self._body(canvas)
        self._spine(canvas)
        _run_stage(canvas, "spine")
        self._mediastinum(canvas)
        _run_stage(canvas, "mediastinum")
        self._markings(canvas)
        self._ribs_and_clavicles(canvas)
        _run_stage(canvas, "lungs")
        _run_stage(canvas, "fluid")
        # Devices and wires, on top of everything.
        canvas.overlay = np.zeros_like(canvas.xx)
        _run_stage(canvas, "devices")
        canvas.density += 0.9 * canvas.overlay
        return canvas

    def _start(self, rng, found):
        """The anatomy, the lungs placed in the image and their rows."""
        xx, yy = self._xx, self._yy
        a = sample_anatomy(rng, found)
        right, left = lung_maps(a, xx, yy)
        lungs = {"right": right, "left": left}
        blur_r = 1.5 * self.image_size / 224
        rows = {}
        for side, m in lungs.items():
            found_rows = np.nonzero(m.any(1))[0] / (self.image_size - 1.0)
            if len(found_rows) == 0:
                found_rows = np.array([a.top, a.top + a.height])
            rows[side] = (found_rows.min(), found_rows.max())
        return Canvas(
            xx=xx,
            yy=yy,
            rng=rng,
            findings=found,
            anatomy=a,
            lungs=lungs,
            lungs_soft={k: raster.blur(v, blur_r) for k, v in lungs.items()},
            rows=rows,
        )

    def _body(self, canvas):
        """Body, soft tissue, abdomen, the air of the lungs, the stomach."""
        xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
        cx, bottom = a.center_x, a.top + a.height
        body = raster.disk(xx, yy, cx, 0.62, 0.47, 0.78, edge=0.06)
        neck = raster.disk(xx, yy, cx, 0.0, 0.12, 0.2, edge=0.3)
        canvas.tissue = np.maximum(body, neck)
        d = 0.04 + 0.56 * canvas.tissue
        d += 0.06 * raster.smoothstep((yy - bottom + 0.05) / 0.15) * body
        # Lungs: air.
        depth = 0.3 + a.lucency + canvas.rng.uniform(-0.03, 0.03)
        d -= depth * (canvas.lungs_soft["right"] + canvas.lungs_soft["left"])
        # Gastric bubble under the left hemidiaphragm (image right).
        gx = cx + 0.2 * a.width
        gy = canvas.rows["left"][1] + 0.045
        if a.gastric_bubble:
            bubble = raster.disk(xx, yy, gx, gy, 0.05, 0.03, edge=0.5)
            d -= 0.25 * bubble * body
        canvas.density = d

    def _spine(self, canvas):
        """Vertebral bodies and disc spaces (curved by `spine_curve`)."""
        xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
        top, bh = a.top, a.height
        curve = 0.0
        if a.spine_curve:
            curve = a.spine_curve * np.sin(np.pi * (yy - top) / (bh * 0.9))
        sx = a.center_x + curve
        spine = raster.smoothstep((0.038 - np.abs(xx - sx)) / 0.01)
        discs = 0.75 + 0.25 * np.cos(2 * np.pi * (yy - top) / (0.07 * bh))
        canvas.density += 0.08 * spine * np.clip(discs, 0, 1) * canvas.tissue

    def _mediastinum(self, canvas):
        """Mediastinum, heart and aortic knob: solid, over the lungs."""
        xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
        cx, top, bw, bh = a.center_x, a.top, a.width, a.height
        med_w = 0.075 * bw * a.mediastinum_width
        canvas.heart = heart_box(a)
        hx, heart_y, hw, hh = canvas.heart
        mediastinum = raster.smoothstep((med_w - np.abs(xx - cx)) / 0.02)
        mediastinum *= raster.smoothstep((heart_y - yy) / 0.05)
        heart = raster.disk(xx, yy, hx, heart_y, hw / 2, hh, edge=0.08)
        canvas.knob_radius = 0.03 * bw * a.knob_scale
        knob = raster.disk(
            xx, yy, cx + 0.07 * bw, top + 0.2 * bh, canvas.knob_radius, edge=0.2
        )
        heart *= raster.smoothstep((top + bh + 0.01 - yy) / 0.04)
        solid = np.maximum(np.maximum(mediastinum, heart), knob)
        d = canvas.density
        canvas.density = d + (0.66 - d) * solid * canvas.tissue

    def _markings(self, canvas):
        """Vessels from the hila (stage `pleura` may hide them), hila."""
        a = canvas.anatomy
        cx, top, bw, bh = a.center_x, a.top, a.width, a.height
        canvas.hila = {
            "right": (cx - 0.11 * bw, top + 0.45 * bh),
            "left": (cx + 0.1 * bw, top + 0.42 * bh),
        }
        marks = vessel_markings(canvas.rng, canvas.hila, self.image_size)
        marks = marks * a.markings
        if a.markings_blur:
            marks = raster.blur(marks, a.markings_blur)
        canvas.markings = marks
        canvas.visible = canvas.lung.copy()
        _run_stage(canvas, "pleura")
        canvas.density += 0.13 * canvas.markings * canvas.visible
        # Hilar shadows.
        lung_soft = canvas.lungs_soft["right"] + canvas.lungs_soft["left"]
        for x0, y0 in canvas.hila.values():
            shadow = raster.disk(
                canvas.xx, canvas.yy, x0, y0, 0.04, 0.06, edge=0.8
            )
            canvas.density += 0.08 * shadow * lung_soft

    def _ribs_and_clavicles(self, canvas):
        """Posterior ribs (stage `ribs` may break one) and clavicles."""
        xx, yy, a = canvas.xx, canvas.yy, canvas.anatomy
        cx, top = a.center_x, a.top
        canvas.ribs = rib_cage(a, xx, yy)
        _run_stage(canvas, "ribs")
        canvas.density += canvas.ribs.density() * canvas.tissue
        for sign in (-1, 1):
            points = [
                (cx + sign * 0.035, top + 0.02),
                (cx + sign * 0.17, top - 0.005),
                (cx + sign * 0.36, top - 0.04),
            ]
            clavicle = raster.polyline(xx, yy, points, 0.013)
            canvas.density += 0.13 * clavicle * canvas.tissue

    def finding_mask(self, findings, name, seed=0):
        """Where `render(findings, seed)` drew the finding `name`.

        The region is the finding's `region` (see `register_finding`):
        for lung findings the lung of each stated side, cut to the stated
        zone (thirds of the lung's height, where the renderer puts a
        finding's centre) widened by half a zone up and down (a large
        finding spills over); effusion is the fluid below its drawn
        surface; pneumothorax, edema and interstitial the whole lung(s);
        cardiomegaly the heart and widened_mediastinum the mediastinum.
        Other findings (devices, the spine, global changes) have no region
        here.

        Args:
            findings: the finding specifications given to `render`.
            name: one of `REGION_FINDINGS`, present in `findings`.
            seed: the seed given to `render`.

        Returns:
            A boolean array (image_size, image_size).

        Example:
        >>> r = SynthCXR(image_size=64)
        >>> mask = r.finding_mask([("nodule", "left", "upper", 0.5)],
        ...                       "nodule", seed=3)
        >>> bool(mask[:, 32:].any()), bool(mask[:, :24].any())
        (True, False)
        """
        found = normalize_findings(findings)
        chosen = [f for f in found if f.name == name]
        if name not in REGION_FINDINGS or not chosen:
            raise ValueError(
                f"finding_mask: {name!r} is not a drawn finding with a "
                f"region here (drawn: {[f.name for f in found]}; regions "
                f"exist for {sorted(REGION_FINDINGS)})"
            )
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
        # The same draws as `render`: the same anatomy.
        a = sample_anatomy(rng, combine_repeats(found))
        right, left = lung_maps(a, self._xx, self._yy)
        canvas = Canvas(
            xx=self._xx,
            yy=self._yy,
            rng=rng,
            findings=found,
            anatomy=a,
            lungs={"right": right, "left": left},
            lungs_soft=None,
            rows=None,
        )
        mask = np.zeros(self._xx.shape, bool)
        for f in chosen:
            mask |= REGISTRY[name].region(canvas, f)
        return mask
