"""SynthCXR: a deterministic renderer of chest-radiograph-like images.

The anatomy comes from the real lung masks shipped in `torchxrayvision`
(`data/semantic_masks_v7labs_lungs.zip`), varied per study (scale,
rotation, position, exposure, noise); a heart silhouette, mediastinum,
aortic knob, spine, clavicles, ribs, diaphragm domes and gastric bubble are
drawn around them. Findings are drawn at the stated side and zone with a
size or density that grows with severity.

Conventions: a frontal (PA) view as a radiologist reads it, so the
patient's right is on the image's left; dense structures are white.
"""

import collections
import io
import math
import pathlib
import zipfile

import numpy as np

from keras_clinclip import chexpert
from keras_clinclip import utils

# Bump whenever the pictures change: caches of rendered images are keyed on
# it and rebuilt when it changes.
RENDERER_VERSION = "2"

_MASK_ARCHIVE = "data/semantic_masks_v7labs_lungs.zip"
_MASK_SIZE = 128

SIDES = ("right", "left", "bilateral")
ZONES = ("upper", "middle", "lower")

Finding = collections.namedtuple(
    "Finding", ["name", "side", "zone", "severity"]
)

# name -> (default side, default zone, short description). Sides are the
# patient's. `None` zone means the finding has no zone.
FINDINGS = {
    "cardiomegaly": (None, None, "cardiothoracic ratio above 0.5"),
    "widened_mediastinum": (None, None, "enlarged cardiomediastinum"),
    "effusion": ("right", "lower", "blunted angle and meniscus"),
    "pneumothorax": ("right", "upper", "lucent rim without markings"),
    "consolidation": ("right", "lower", "dense opacity, air bronchograms"),
    "opacity": ("right", "lower", "patchy airspace opacity"),
    "atelectasis": ("left", "lower", "plate-like band"),
    "edema": ("bilateral", None, "bilateral perihilar haze, Kerley lines"),
    "nodule": ("right", "upper", "small round opacity"),
    "mass": ("right", "upper", "large lobulated opacity"),
    "granuloma": ("right", "upper", "small calcified dot"),
    "emphysema": ("bilateral", None, "hyperinflation, flat diaphragm"),
    "hypoinflation": ("bilateral", None, "low lung volumes"),
    "fracture": ("right", "middle", "rib with a break and step-off"),
    "central_line": ("right", None, "venous catheter to the SVC"),
    "tube": (None, None, "endotracheal and nasogastric tubes"),
    "pacemaker": ("left", None, "generator and leads to the heart"),
    "sternotomy": (None, None, "sternal wires"),
    "pleural_thickening": ("right", "upper", "pleural band or apical cap"),
    "scarring": ("right", "upper", "linear and reticular scar"),
    "interstitial": ("bilateral", None, "reticular interstitial pattern"),
    "hiatal_hernia": (None, None, "retrocardiac air-fluid level"),
    "elevated_diaphragm": ("right", None, "raised hemidiaphragm"),
    "aortic_calcification": (None, None, "tortuous calcified aorta"),
    "scoliosis": (None, None, "curved spine"),
    "spine_degeneration": (None, None, "vertebral osteophytes"),
}


# Findings with a region for `SynthCXR.finding_mask` -> the zone used
# (None: the finding's own zone; "any": the whole lung of its side;
# effusion's region is its drawn fluid).
REGION_FINDINGS = {
    "cardiomegaly": None,
    "widened_mediastinum": None,
    "effusion": "lower",
    "pneumothorax": "any",
    "consolidation": None,
    "opacity": None,
    "atelectasis": None,
    "edema": "any",
    "nodule": None,
    "mass": None,
    "granuloma": None,
    "fracture": None,
    "pleural_thickening": None,
    "scarring": None,
    "interstitial": "any",
}


def normalize_findings(findings):
    """Turn finding specifications into a list of `Finding` tuples.

    Args:
        findings: an iterable of finding names (`"effusion"`), dicts with
            keys `name` (or `finding`), `side`, `zone`, `severity`, or
            tuples `(name, side, zone, severity)`. Missing fields take the
            finding's defaults (severity 0.5).

    Returns:
        A list of `Finding(name, side, zone, severity)`.

    Example:
    >>> normalize_findings(["effusion"])[0].side
    'right'
    """
    out = []
    for item in findings or ():
        if isinstance(item, str):
            item = {"name": item}
        elif isinstance(item, (tuple, list)):
            item = dict(zip(Finding._fields, item))
        elif not isinstance(item, dict):
            raise TypeError(
                f"A finding must be a name, dict or tuple; got {item!r}."
            )
        name = item.get("name", item.get("finding"))
        if name not in FINDINGS:
            raise ValueError(
                f"Unknown SynthCXR finding {name!r}. Known findings: "
                f"{sorted(FINDINGS)}."
            )
        side0, zone0, _ = FINDINGS[name]
        side = item.get("side") or side0
        zone = item.get("zone") or zone0
        if side is not None and side not in SIDES:
            raise ValueError(
                f"Finding {name!r}: side must be one of {SIDES}, got {side!r}."
            )
        if zone is not None and zone not in ZONES:
            raise ValueError(
                f"Finding {name!r}: zone must be one of {ZONES}, got {zone!r}."
            )
        severity = item.get("severity")
        severity = 0.5 if severity is None else float(severity)
        if not 0.0 <= severity <= 1.0:
            raise ValueError(
                f"Finding {name!r}: severity must be in [0, 1], got {severity}."
            )
        out.append(Finding(name, side, zone, severity))
    return out


# --------------------------------------------------------------------------
# Lung masks
# --------------------------------------------------------------------------

_MASKS = {}


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
                (_MASK_SIZE, _MASK_SIZE), Image.BILINEAR
            )
            mask = np.asarray(small) > 127
            columns = mask.sum(0)
            lo, hi = int(_MASK_SIZE * 0.3), int(_MASK_SIZE * 0.7)
            split = int(columns[lo:hi].argmin()) + lo
            right, left = mask[:, :split].sum(), mask[:, split:].sum()
            if columns[split] > 0.1 * columns.max():
                continue  # lungs not separable at the midline
            if not 0.5 < right / max(left, 1) < 2.0:
                continue  # one lung missing or cut
            if not 0.55 < aspect < 1.5:
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
    v, u = np.mgrid[0:_MASK_SIZE, 0:_MASK_SIZE] / (_MASK_SIZE - 1.0)
    masks = []
    for bulge in (0.0, 0.05, -0.05):
        mask = np.zeros((_MASK_SIZE, _MASK_SIZE), bool)
        for center in (0.26, 0.74):
            du = (u - center) / (0.22 + bulge * v)
            dv = (v - 0.55) / 0.55
            mask |= (du**2 + dv**4) < 1.0
        masks.append(mask)
    return (
        np.stack(masks).astype(np.uint8),
        np.full(3, 0.9, np.float32),
        np.full(3, _MASK_SIZE // 2, np.int32),
    )


def _cached_file(path):
    """`path` if it exists, else the same file in the default cache.

    The masks and the label table depend only on the installed package, so
    a copy in the default cache (`~/.cache/keras_clinclip`) serves when
    `$KERAS_CLINCLIP_CACHE` points to a fresh folder (as in tests).
    """
    if path.exists():
        return path
    other = pathlib.Path(utils.DEFAULT_CACHE_ROOT, "synthcxr", path.name)
    return other if other.exists() else None


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
        cache = utils.cache_dir("synthcxr") / f"lung_masks_{_MASK_SIZE}.npz"
        found = _cached_file(cache)
        if found is not None:
            data = np.load(found)
            masks, aspects, splits = (
                data["masks"],
                data["aspects"],
                data["splits"],
            )
        else:
            masks, aspects, splits = _read_masks_from_archive(path)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez_compressed(
                tmp, masks=masks, aspects=aspects, splits=splits
            )
            tmp.replace(cache)
        source = "torchxrayvision"
    _MASKS["masks"] = {
        "masks": masks,
        "aspects": aspects,
        "splits": splits,
        "source": source,
    }
    return _MASKS["masks"]


# --------------------------------------------------------------------------
# Small numpy drawing helpers (no scipy)
# --------------------------------------------------------------------------


def _box_blur(a, r):
    """Separable box blur of radius r (pixels), edge-padded."""
    r = int(r)
    if r < 1:
        return a
    a = np.asarray(a, np.float32)
    for axis in (0, 1):
        first = np.take(a, [0], axis=axis)
        last = np.take(a, [-1], axis=axis)
        padded = np.concatenate(
            [
                np.repeat(first, r + 1, axis=axis),
                a,
                np.repeat(last, r, axis=axis),
            ],
            axis=axis,
        )
        c = np.cumsum(padded, axis=axis, dtype=np.float32)
        if axis == 0:
            a = (c[2 * r + 1 :] - c[: -2 * r - 1]) / (2 * r + 1)
        else:
            a = (c[:, 2 * r + 1 :] - c[:, : -2 * r - 1]) / (2 * r + 1)
    return a


def _blur(a, r):
    """Approximate Gaussian blur: three box blurs."""
    r = max(1, int(round(r)))
    for _ in range(2):
        a = _box_blur(a, r)
    return a


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _disk(xx, yy, x, y, rx, ry=None, edge=0.3):
    """Soft disk: 1 inside, 0 outside, `edge` fraction of soft border."""
    ry = rx if ry is None else ry
    d = np.sqrt(((xx - x) / rx) ** 2 + ((yy - y) / ry) ** 2)
    return _smoothstep((1.0 - d) / edge)


def _polyline(xx, yy, points, width):
    """Soft line of `width` through `points` (normalised coordinates)."""
    out = np.zeros_like(xx)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy + 1e-12
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / length2, 0, 1)
        d = np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
        out = np.maximum(out, _smoothstep(1.0 - d / width))
    return out


def _spline(points, n=24):
    """A smooth path through control points (Catmull-Rom)."""
    p = np.asarray(points, np.float64)
    p = np.concatenate([p[:1], p, p[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        a, b, c, d = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                2 * b
                + (-a + c) * t
                + (2 * a - 5 * b + 4 * c - d) * t**2
                + (-a + 3 * b - 3 * c + d) * t**3
            )
        )
    out.append(p[-2:-1])
    return np.concatenate(out)


def _splat(shape, xs, ys, weights):
    """Accumulate points (pixel coordinates) into an image."""
    h, w = shape
    xi = np.clip(np.round(xs).astype(int), 0, w - 1)
    yi = np.clip(np.round(ys).astype(int), 0, h - 1)
    out = np.zeros(shape)
    np.add.at(out, (yi, xi), weights)
    return out


# --------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------


class SynthCXR:
    """Render chest-radiograph-like grayscale images from findings.

    Each image is a deterministic function of `(findings, seed)`: the seed
    picks one of the real lung masks and the per-study variation (size,
    rotation, position, heart size, exposure, noise); the findings add
    their signatures at the stated side (the patient's) and zone, with
    size or density growing with `severity` in [0, 1].

    Known findings (see `FINDINGS`): cardiomegaly, widened_mediastinum,
    effusion, pneumothorax, consolidation, opacity, atelectasis, edema,
    nodule, mass, granuloma, emphysema, hypoinflation, fracture,
    central_line, tube, pacemaker, sternotomy, pleural_thickening,
    scarring, interstitial, hiatal_hernia, elevated_diaphragm,
    aortic_calcification, scoliosis, spine_degeneration.

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
        s = self.image_size
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / np.float32(s - 1.0)
        self._xx, self._yy = xx, yy

    def get_config(self):
        return {"image_size": self.image_size}

    # ---- geometry -------------------------------------------------------

    def _geometry(self, rng, found):
        masks = lung_masks()
        index = int(rng.integers(len(masks["masks"])))
        aspect = float(np.clip(masks["aspects"][index], 0.75, 1.05))
        g = {
            "mask": masks["masks"][index].astype(np.float64),
            "split": masks["splits"][index] / (_MASK_SIZE - 1.0),
            "cx": 0.5 + rng.normal(0, 0.012),
            "bw": rng.uniform(0.66, 0.76),
            "top": rng.uniform(0.09, 0.14),
            "rot": math.radians(rng.normal(0, 2.0)),
            "ctr": rng.uniform(0.38, 0.46),
            "med": 1.0,
            "lucency": 0.0,
            "markings": 1.0,
        }
        g["bh"] = g["bw"] * (0.55 + 0.35 * aspect)
        g["lift"] = {"right": 0.0, "left": 0.0}
        for f in found:
            s = f.severity
            if f.name == "emphysema":
                g["bh"] *= 1.12 + 0.12 * s
                g["bw"] *= 1.03
                g["ctr"] *= 0.88
                g["lucency"] += 0.04 + 0.05 * s
                g["markings"] *= 0.6
                g["flat"] = 0.5 + 0.5 * s
            elif f.name == "hypoinflation":
                g["bh"] *= 0.9 - 0.1 * s
                g["ctr"] *= 1.08
                g["markings"] *= 1.3
            elif f.name == "cardiomegaly":
                g["ctr"] = 0.53 + 0.14 * s
            elif f.name == "widened_mediastinum":
                g["med"] = 1.5 + 0.6 * s
            elif f.name == "elevated_diaphragm":
                for side in _sides(f.side):
                    g["lift"][side] = 0.1 + 0.15 * s
        g["bh"] = min(g["bh"], 0.86 - g["top"])
        return g

    def _lungs(self, g, scale=1.0, anchor=None):
        """Sample the lung mask in image space -> (right, left) maps."""
        xx, yy = self._xx, self._yy
        cx, top, bw, bh = g["cx"], g["top"], g["bw"], g["bh"]
        cy = top + bh / 2
        c, s = math.cos(g["rot"]), math.sin(g["rot"])
        x = c * (xx - cx) + s * (yy - cy) + cx
        y = -s * (xx - cx) + c * (yy - cy) + cy
        if anchor is not None:  # shrink the lung towards an anchor point
            x = anchor[0] + (x - anchor[0]) / scale
            y = anchor[1] + (y - anchor[1]) / scale
        u = (x - (cx - bw / 2)) / bw
        v = (y - top) / bh
        right_side = u < g["split"]
        lift = np.where(right_side, g["lift"]["right"], g["lift"]["left"])
        v = v / np.maximum(1.0 - lift, 0.3)
        if "flat" in g:  # flatten the domes: stretch the lower lung
            v = np.where(v > 0.7, 0.7 + (v - 0.7) * (1 - 0.35 * g["flat"]), v)
        n = _MASK_SIZE - 1
        inside = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
        ui = np.clip((u * n).astype(int), 0, n)
        vi = np.clip((v * n).astype(int), 0, n)
        lung = np.where(inside, g["mask"][vi, ui], 0.0)
        return lung * right_side, lung * ~right_side

    # ---- rendering ------------------------------------------------------

    def render(self, findings=(), seed=0):
        """Render one image.

        Args:
            findings: finding specifications (see `normalize_findings`).
            seed: an int; the same findings and seed give the same image.

        Returns:
            A uint8 array (image_size, image_size).
        """
        found = normalize_findings(findings)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
        g = self._geometry(rng, found)
        xx, yy = self._xx, self._yy
        names = {f.name for f in found}
        cx, top, bw, bh = g["cx"], g["top"], g["bw"], g["bh"]
        bottom = top + bh

        right, left = self._lungs(g)
        lungs = {"right": right, "left": left}
        lung = right + left
        blur_r = 1.5 * self.image_size / 224
        sides_soft = {k: _blur(v, blur_r) for k, v in lungs.items()}
        lung_soft = sides_soft["right"] + sides_soft["left"]
        g["rows"] = {}
        for side, m in lungs.items():
            rows = np.nonzero(m.any(1))[0] / (self.image_size - 1.0)
            if len(rows) == 0:
                rows = np.array([top, bottom])
            g["rows"][side] = (rows.min(), rows.max())

        # Body, soft tissue and abdomen.
        body = _disk(xx, yy, cx, 0.62, 0.47, 0.78, edge=0.06)
        neck = _disk(xx, yy, cx, 0.0, 0.12, 0.2, edge=0.3)
        tissue = np.maximum(body, neck)
        d = 0.04 + 0.56 * tissue
        d += 0.06 * _smoothstep((yy - bottom + 0.05) / 0.15) * body
        # Lungs: air.
        depth = 0.3 + g["lucency"] + rng.uniform(-0.03, 0.03)
        d -= depth * lung_soft
        # Gastric bubble under the left hemidiaphragm (image right).
        gx = cx + 0.2 * bw
        gy = g["rows"]["left"][1] + 0.045
        if "hiatal_hernia" not in names:
            d -= 0.25 * _disk(xx, yy, gx, gy, 0.05, 0.03, edge=0.5) * body

        # Spine (vertebral bodies and disc spaces).
        curve = 0.0
        if "scoliosis" in names:
            sev = _severity(found, "scoliosis")
            curve = (0.02 + 0.04 * sev) * np.sin(
                np.pi * (yy - top) / (bh * 0.9)
            )
        sx = cx + curve
        spine = _smoothstep((0.038 - np.abs(xx - sx)) / 0.01)
        discs = 0.75 + 0.25 * np.cos(2 * np.pi * (yy - top) / (0.07 * bh))
        d += 0.08 * spine * np.clip(discs, 0, 1) * tissue
        if "spine_degeneration" in names:
            sev = _severity(found, "spine_degeneration")
            for level in rng.uniform(top + 0.1 * bh, bottom, 3 + int(4 * sev)):
                for sign in (-1, 1):
                    x0 = cx + sign * 0.04
                    d += 0.3 * _disk(xx, yy, x0, level, 0.018, 0.008)

        # Mediastinum, heart and aortic knob.
        med_w = 0.075 * bw * g["med"]
        heart_y = top + 0.8 * bh
        mediastinum = _smoothstep((med_w - np.abs(xx - cx)) / 0.02)
        mediastinum *= _smoothstep((heart_y - yy) / 0.05)
        hw = g["ctr"] * bw * 1.1
        hx = cx + 0.16 * hw
        hh = 0.24 * bh * (0.9 + 0.8 * (g["ctr"] - 0.42))
        heart = _disk(xx, yy, hx, heart_y, hw / 2, hh, edge=0.08)
        knob_r = 0.03 * bw
        aortic = "aortic_calcification" in names
        if aortic:
            knob_r *= 1.3 + 0.3 * _severity(found, "aortic_calcification")
        knob = _disk(xx, yy, cx + 0.07 * bw, top + 0.2 * bh, knob_r, edge=0.2)
        heart *= _smoothstep((top + bh + 0.01 - yy) / 0.04)
        solid = np.maximum(np.maximum(mediastinum, heart), knob)
        d = d + (0.66 - d) * solid * tissue
        if aortic:
            ring = _disk(xx, yy, cx + 0.07 * bw, top + 0.2 * bh, knob_r * 1.05)
            ring -= _disk(xx, yy, cx + 0.07 * bw, top + 0.2 * bh, knob_r * 0.8)
            d += 0.25 * np.clip(ring, 0, 1) * (yy < top + 0.2 * bh)

        # Lung markings: vessels branching out from the hila.
        hila = {
            "right": (cx - 0.11 * bw, top + 0.45 * bh),
            "left": (cx + 0.1 * bw, top + 0.42 * bh),
        }
        marks = self._vessels(rng, hila, g) * g["markings"]
        if "edema" in names:
            marks = _blur(marks, 2)
        visible = lung.copy()

        # Pneumothorax: the lung collapses towards its base; the rim is
        # black, without markings, with a thin visceral pleural line.
        for f in found:
            if f.name != "pneumothorax":
                continue
            for side in _sides(f.side):
                m = lungs[side]
                ys, ye = g["rows"][side]
                anchor = (hila[side][0], ye)
                scale = 0.88 - 0.3 * f.severity
                shrunk = self._lungs(g, scale, anchor)
                shrunk = shrunk[0] if side == "right" else shrunk[1]
                shrunk = shrunk * m
                rim = m * (1 - shrunk)
                d -= 0.16 * _blur(rim, 1)
                visible = visible * (1 - rim)
                edge = np.clip(shrunk - _blur(shrunk, 1.5), 0, 1)
                d += 1.2 * edge * (1 - np.abs(yy - ye) < 0.1)
        d += 0.13 * marks * visible

        # Hilar shadows.
        for x0, y0 in hila.values():
            d += 0.08 * _disk(xx, yy, x0, y0, 0.04, 0.06, edge=0.8) * lung_soft

        # Ribs and clavicles.
        fracture = [f for f in found if f.name == "fracture"]
        d += self._ribs(g, tissue, fracture, rng)
        for sign in (-1, 1):
            clav = _polyline(
                xx,
                yy,
                [
                    (cx + sign * 0.035, top + 0.02),
                    (cx + sign * 0.17, top - 0.005),
                    (cx + sign * 0.36, top - 0.04),
                ],
                0.013,
            )
            d += 0.13 * clav * tissue

        # Opacities inside the lungs.
        for f in found:
            d = self._draw_finding(f, d, g, lungs, hila, rng)

        # Effusion: fluid layering at the base with a meniscus.
        for f in found:
            if f.name != "effusion":
                continue
            for side in _sides(f.side):
                m = sides_soft[side]
                ys, ye = g["rows"][side]
                height = ye - ys
                level = ye - (0.1 + 0.35 * f.severity) * height
                lateral = np.clip(np.abs(xx - cx) / (bw / 2), 0, 1.2)
                surface = level - 0.3 * height * lateral**3
                fluid = _smoothstep((yy - surface) / 0.05)
                fluid = fluid * np.clip(m * 3, 0, 1)
                d = d + (0.6 - d) * fluid

        # Devices and wires, on top of everything.
        d += self._devices(found, g, hila, heart_y, hx, hw, rng)

        # Exposure, film response and noise.
        noise = rng.normal(0, 1, d.shape)
        d = d + 0.012 * noise + 0.02 * _blur(noise, 4) * 4
        d = _blur(d, max(1.0, 0.6 * self.image_size / 224))
        gain = rng.uniform(0.9, 1.15)
        offset = rng.uniform(-0.04, 0.04)
        gamma = rng.uniform(0.85, 1.2)
        out = np.clip(d * gain + offset, 0, 1) ** gamma
        return (out * 255 + 0.5).astype(np.uint8)

    def finding_mask(self, findings, name, seed=0):
        """Where `render(findings, seed)` drew the finding `name`.

        The region is the lung of each stated side, cut to the stated zone
        (thirds of the lung's height, where the renderer puts a finding's
        centre) widened by half a zone up and down (a large finding spills
        over); effusion is the fluid below its drawn surface; pneumothorax,
        edema and interstitial the whole lung(s); cardiomegaly the heart
        and widened_mediastinum the mediastinum. Other findings (devices,
        the spine, global changes) have no region here.

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
        g = self._geometry(rng, found)  # the same draws as `render`
        xx, yy = self._xx, self._yy
        cx, top, bw, bh = g["cx"], g["top"], g["bw"], g["bh"]
        if name == "cardiomegaly":  # the heart of `render`
            hw = g["ctr"] * bw * 1.1
            hh = 0.24 * bh * (0.9 + 0.8 * (g["ctr"] - 0.42))
            heart = _disk(xx, yy, cx + 0.16 * hw, top + 0.8 * bh, hw / 2, hh)
            return (heart > 0.05) & (yy < top + bh + 0.01)
        if name == "widened_mediastinum":
            near = np.abs(xx - cx) < 0.075 * bw * g["med"] + 0.02
            return near & (yy > top) & (yy < top + 0.8 * bh)
        lungs = dict(zip(("right", "left"), self._lungs(g)))
        mask = np.zeros(xx.shape, bool)
        for f in chosen:
            zone = REGION_FINDINGS[name] or f.zone or "any"
            for side in _sides(f.side):
                lung = lungs[side] > 0.5
                rows = np.nonzero(lung.any(1))[0] / (self.image_size - 1.0)
                if zone == "any" or len(rows) == 0:
                    mask |= lung
                    continue
                ys, ye = rows.min(), rows.max()
                height = ye - ys
                if name == "effusion":  # the fluid surface of `render`
                    level = ye - (0.1 + 0.35 * f.severity) * height
                    lateral = np.clip(np.abs(xx - cx) / (bw / 2), 0, 1.2)
                    surface = level - 0.3 * height * lateral**3
                    mask |= lung & (yy >= surface - 0.05)
                    continue
                z = ZONES.index(zone)
                lo = ys + height * (z - 0.5) / 3
                hi = ys + height * (z + 1.5) / 3
                mask |= lung & (yy >= lo) & (yy <= hi)
        return mask

    def _vessels(self, rng, hila, g):
        s = self.image_size
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
        acc = _splat(
            (s, s), np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
        )
        return np.clip(_blur(acc, max(1, s / 180)) * 3.0, 0, 1.2)

    def _ribs(self, g, tissue, fractures, rng):
        """Ten posterior ribs a side, drawn in one pass (a rib "phase")."""
        xx, yy = self._xx, self._yy
        cx, top, bw, bh = g["cx"], g["top"], g["bw"], g["bh"]
        half = bw / 2 * 1.05
        thick = 0.028 * bh
        spacing = 0.087 * bh
        lateral = np.abs(xx - cx) / half
        # Posterior ribs: up from the spine, then down laterally.
        shape = -0.05 * bh * np.sin(np.pi * lateral * 0.6)
        shape += 0.25 * bh * lateral**2.2
        phase = (yy - (top - 0.02) - shape) / spacing
        rib = np.round(phase)
        dist = (phase - rib) * spacing
        region = (lateral > 0.05) & (lateral < 1.0) & (rib >= 0) & (rib < 10)
        gap = np.zeros(xx.shape, bool)
        callus = np.zeros(xx.shape, np.float32)
        for f in fractures:
            for side in _sides(f.side, default="right"):
                zone = ZONES.index(f.zone or "middle")
                index = int(2 + 2.4 * zone + rng.integers(0, 2))
                where = 0.6 + 0.25 * rng.random()
                on_side = (xx < cx) if side == "right" else (xx >= cx)
                broken = on_side & (
                    np.abs(yy - (top - 0.02) - shape - index * spacing)
                    < spacing / 2
                )
                step = (0.8 + 0.6 * f.severity) * thick
                dist = np.where(broken & (lateral > where), dist - step, dist)
                near = np.abs(lateral - where) < 0.03 + 0.03 * f.severity
                gap |= broken & near
                # A faint callus / fracture line at the break.
                halo = broken & (np.abs(lateral - where) < 0.1)
                callus = np.maximum(
                    callus, halo * _smoothstep(1 - np.abs(dist) / thick)
                )
        band = _smoothstep((thick / 2 - np.abs(dist)) / (thick / 3))
        cortex = _smoothstep(
            (thick / 7 - np.abs(np.abs(dist) - thick / 2.3)) / (thick / 9)
        )
        out = (0.045 * band + 0.04 * cortex) * region
        out = np.where(gap, -0.12 * region * (np.abs(dist) < thick), out)
        out = out + 0.16 * callus * ~gap
        return out * tissue

    def _zone_point(self, rng, lungs, g, side, zone, lateral=0.5):
        """A point inside the lung of `side` in `zone`."""
        m = lungs[side]
        ys, ye = g["rows"][side]
        z = ZONES.index(zone or "middle")
        lo, hi = ys + (ye - ys) * z / 3, ys + (ye - ys) * (z + 1) / 3
        band = m * (self._yy >= lo) * (self._yy <= hi)
        yi, xi = np.nonzero(band > 0.5)
        if len(yi) == 0:
            yi, xi = np.nonzero(m > 0.5)
        if len(yi) == 0:
            return g["cx"], (lo + hi) / 2
        # Prefer points away from the mediastinum.
        weight = np.abs(xi - g["cx"] * (self.image_size - 1)) ** (lateral * 2)
        weight = weight / weight.sum()
        k = rng.choice(len(yi), p=weight)
        n = self.image_size - 1.0
        return xi[k] / n, yi[k] / n

    def _draw_finding(self, f, d, g, lungs, hila, rng):
        xx, yy = self._xx, self._yy
        s = f.severity
        lung = lungs["right"] + lungs["left"]
        for side in _sides(f.side):
            m = _blur(lungs[side], 1)
            if f.name in ("consolidation", "opacity"):
                x, y = self._zone_point(rng, lungs, g, side, f.zone, 0.2)
                r = (0.07 + 0.07 * s) * (1.1 if f.name == "opacity" else 0.9)
                theta = np.arctan2(yy - y, xx - x)
                wobble = 1 + 0.22 * np.sin(3 * theta + rng.uniform(0, 6))
                wobble += 0.12 * np.sin(5 * theta + rng.uniform(0, 6))
                dist = np.hypot(xx - x, (yy - y) * 1.15) / (r * wobble)
                blob = _smoothstep((1 - dist) / 0.45) * m
                if f.name == "consolidation":
                    strength = 0.26 + 0.16 * s
                    br = self._bronchogram(rng, x, y, r)
                    blob = blob * (1 - 0.5 * br)
                else:
                    strength = 0.16 + 0.16 * s
                    patch = _blur(rng.normal(0, 1, d.shape), 3)
                    patch /= patch.std() + 1e-9
                    blob = blob * np.clip(0.8 + 0.4 * patch, 0.2, 1.4)
                d = d + strength * blob
            elif f.name == "atelectasis":
                x, y = self._zone_point(rng, lungs, g, side, f.zone or "lower")
                angle = rng.uniform(-0.3, 0.3)
                length = (0.1 + 0.05 * s) * g["bw"]
                width = (0.008 + 0.012 * s) * g["bh"] / 0.6
                c, sn = math.cos(angle), math.sin(angle)
                along = (xx - x) * c + (yy - y) * sn
                across = -(xx - x) * sn + (yy - y) * c
                band = _smoothstep((1 - np.abs(along) / length) / 0.3)
                band *= _smoothstep((1 - np.abs(across) / width) / 0.5)
                d = d + (0.22 + 0.12 * s) * band * m
            elif f.name == "edema":
                hx, hy = hila[side]
                sigma = (0.12 + 0.08 * s) * g["bw"]
                haze = np.exp(
                    -((xx - hx) ** 2 + ((yy - hy) * 0.8) ** 2) / sigma**2
                )
                d = d + (0.12 + 0.16 * s) * haze * m
                ys, ye = g["rows"][side]
                sign = -1 if side == "right" else 1
                edge_x = g["cx"] + sign * g["bw"] * 0.44
                for k in range(3 + int(3 * s)):
                    ly = ye - 0.03 - k * 0.018
                    line = _polyline(
                        xx,
                        yy,
                        [(edge_x, ly), (edge_x - sign * 0.035, ly)],
                        0.0035,
                    )
                    d = d + 0.12 * line * m
            elif f.name in ("nodule", "mass", "granuloma"):
                x, y = self._zone_point(rng, lungs, g, side, f.zone, 0.8)
                if f.name == "nodule":
                    r, strength, edge = 0.014 + 0.014 * s, 0.24, 0.35
                elif f.name == "mass":
                    r, strength, edge = 0.045 + 0.045 * s, 0.3, 0.15
                else:
                    r, strength, edge = 0.007 + 0.005 * s, 0.55, 0.15
                theta = np.arctan2(yy - y, xx - x)
                lobes = 1 + (0.12 if f.name == "mass" else 0.03) * np.sin(
                    4 * theta + rng.uniform(0, 6)
                )
                dist = np.hypot(xx - x, yy - y) / (r * lobes)
                d = d + strength * _smoothstep((1 - dist) / edge)
            elif f.name in ("pleural_thickening", "scarring"):
                x, y = self._zone_point(rng, lungs, g, side, f.zone, 1.0)
                if f.name == "pleural_thickening":
                    width = 0.012 + 0.015 * s
                    inner = _blur(
                        lungs[side], 3 + 5 * s * self.image_size / 224
                    )
                    rim = np.clip(m - inner * 1.6 + 0.6, 0, 1) * m
                    ys, ye = g["rows"][side]
                    z = ZONES.index(f.zone or "upper")
                    lo = ys + (ye - ys) * z / 3 - 0.03
                    hi = ys + (ye - ys) * (z + 1) / 3
                    near = (yy > lo) & (yy < hi)
                    near = near & (np.abs(xx - g["cx"]) > 0.12 * g["bw"])
                    d = d + (0.3 + 0.15 * s) * rim * near
                else:
                    region = _disk(xx, yy, x, y, 0.08 + 0.05 * s, edge=0.6)
                    lines = self._reticular(rng, 2)
                    d = d + (0.2 + 0.12 * s) * lines * region * m
            elif f.name == "interstitial":
                lines = self._reticular(rng, 1.5)
                d = d + (0.08 + 0.1 * s) * lines * m
        del lung
        return d

    def _bronchogram(self, rng, x, y, r):
        xx, yy = self._xx, self._yy
        out = np.zeros_like(xx)
        for _ in range(3):
            a = rng.uniform(0, 2 * np.pi)
            p0 = (x - 0.5 * r * math.cos(a), y - 0.5 * r * math.sin(a))
            p1 = (x + 0.3 * r * math.cos(a + 0.4), y + 0.3 * r * math.sin(a))
            p2 = (x + 0.7 * r * math.cos(a), y + 0.7 * r * math.sin(a))
            out = np.maximum(out, _polyline(xx, yy, [p0, p1, p2], 0.004))
        return out

    def _reticular(self, rng, scale):
        noise = _blur(rng.normal(0, 1, self._xx.shape), scale)
        noise /= noise.std() + 1e-9
        return _smoothstep((0.35 - np.abs(noise)) / 0.35)

    def _devices(self, found, g, hila, heart_y, hx, hw, rng):
        xx, yy = self._xx, self._yy
        cx, top, bw, bh = g["cx"], g["top"], g["bw"], g["bh"]
        out = np.zeros_like(xx)
        for f in found:
            if f.name == "central_line":
                for side in _sides(f.side):
                    sign = -1 if side == "right" else 1
                    path = _spline(
                        [
                            (cx + sign * 0.38, top - 0.06),
                            (cx + sign * 0.2, top + 0.01),
                            (cx + sign * 0.05, top + 0.06),
                            (cx - 0.03, top + 0.16 * bh),
                            (cx - 0.035, top + (0.32 + 0.1 * f.severity) * bh),
                        ]
                    )
                    out = np.maximum(out, _polyline(xx, yy, path, 0.0045))
            elif f.name == "tube":
                tip = top + (0.08 + 0.08 * f.severity) * bh
                for dx in (-0.008, 0.008):
                    line = _polyline(
                        xx, yy, [(cx + dx, 0.0), (cx + dx * 0.8, tip)], 0.003
                    )
                    out = np.maximum(out, line)
                ng = _spline(
                    [
                        (cx - 0.015, 0.0),
                        (cx + 0.01, top + 0.3 * bh),
                        (cx + 0.03, top + 0.8 * bh),
                        (cx + 0.18 * bw, top + bh + 0.05),
                        (cx + 0.12 * bw, top + bh + 0.09),
                    ]
                )
                out = np.maximum(out, 0.8 * _polyline(xx, yy, ng, 0.004))
            elif f.name == "pacemaker":
                for side in _sides(f.side):
                    sign = -1 if side == "right" else 1
                    px, py = cx + sign * 0.3, top + 0.06
                    box = _disk(xx, yy, px, py, 0.055, 0.04, edge=0.15)
                    box = np.maximum(
                        box, _disk(xx, yy, px, py, 0.06, 0.03, edge=0.15)
                    )
                    out = np.maximum(out, 1.3 * box)
                    for end in (
                        (hx - 0.12 * hw, heart_y - 0.04),
                        (hx + 0.1 * hw, heart_y + 0.05),
                    ):
                        lead = _spline(
                            [
                                (px, py),
                                (px - sign * 0.1, py + 0.02),
                                (cx - 0.03, top + 0.3 * bh),
                                end,
                            ]
                        )
                        out = np.maximum(out, _polyline(xx, yy, lead, 0.004))
            elif f.name == "sternotomy":
                n = 4 + int(2 * f.severity)
                for k in range(n):
                    y = top + 0.18 * bh + k * 0.5 * bh / n
                    ring = _disk(xx, yy, cx, y, 0.016, 0.01, edge=0.5)
                    ring -= _disk(xx, yy, cx, y, 0.009, 0.005, edge=0.5)
                    out = np.maximum(out, 1.4 * np.clip(ring, 0, 1))
            elif f.name == "hiatal_hernia":
                r = (0.045 + 0.03 * f.severity) * bw
                x, y = cx + 0.02, heart_y + 0.04
                sac = _disk(xx, yy, x, y, r, r * 0.85, edge=0.25)
                air = sac * (yy < y - 0.2 * r)
                out += 0.06 * sac - 0.3 * air
                level = _polyline(
                    xx,
                    yy,
                    [(x - r * 0.9, y - 0.2 * r), (x + r * 0.9, y - 0.2 * r)],
                    0.003,
                )
                out += 0.1 * level * sac
        return 0.9 * out


def _sides(side, default="right"):
    side = side or default
    return ("right", "left") if side == "bilateral" else (side,)


def _severity(found, name):
    return max(f.severity for f in found if f.name == name)


# --------------------------------------------------------------------------
# Template pairs with CheXpert's label frequencies
# --------------------------------------------------------------------------

_CHEXPERT_TABLE = "data/chexpert_train.csv.gz"

FALLBACK_FREQUENCIES = chexpert.LABEL_FREQUENCIES

_LABEL_TABLE = {}


def chexpert_label_table():
    """The real CheXpert training label table, (223414, 14) float32.

    Read from `torchxrayvision`'s `data/chexpert_train.csv.gz` once and
    cached (as `.npy` under `keras_clinclip.utils.cache_dir`).

    Returns:
        float32 (rows, 14) in `CHEXPERT_OBSERVATIONS` order (1, 0, -1,
        NaN), or `None` when `torchxrayvision` is not installed.

    Example:
    >>> table = chexpert_label_table()
    >>> table is None or table.shape[1] == 14
    True
    """
    if "table" in _LABEL_TABLE:
        return _LABEL_TABLE["table"]
    try:
        path = utils.package_data_path("torchxrayvision", _CHEXPERT_TABLE)
    except (ImportError, FileNotFoundError):
        _LABEL_TABLE["table"] = None
        return None
    from keras_clinclip.data.templates import CHEXPERT_OBSERVATIONS

    cache = utils.cache_dir("synthcxr") / "chexpert_train_labels.npy"
    found = _cached_file(cache)
    if found is not None:
        table = np.load(found)
    else:
        import csv
        import gzip

        with gzip.open(path, "rt", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            columns = [header.index(name) for name in CHEXPERT_OBSERVATIONS]
            codes = {"1.0": 1, "0.0": 0, "-1.0": -1, "": 2}
            rows = [[codes[row[c]] for c in columns] for row in reader]
        codes = np.asarray(rows, np.int8)
        table = np.where(codes == 2, np.nan, codes).astype(np.float32)
        tmp = cache.with_name(cache.stem + ".tmp.npy")
        np.save(tmp, table)
        tmp.replace(cache)
    _LABEL_TABLE["table"] = table
    return table


def sample_chexpert_labels(n, seed=0):
    """Label sets with CheXpert's real frequencies.

    Whole rows of the real CheXpert label table are drawn, so the joint
    frequencies (co-occurrences) are real too. Without `torchxrayvision`,
    each observation is drawn independently from `FALLBACK_FREQUENCIES`
    and "No Finding" is set by the CheXpert rule.

    Args:
        n: the number of label sets.
        seed: an int.

    Returns:
        float32 (n, 14) in `CHEXPERT_OBSERVATIONS` order.

    Example:
    >>> sample_chexpert_labels(3, seed=0).shape
    (3, 14)
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 5])
    table = chexpert_label_table()
    if table is not None:
        return table[rng.integers(0, len(table), size=int(n))].copy()
    from keras_clinclip.data.templates import CHEXPERT_OBSERVATIONS

    out = np.full((int(n), 14), np.nan, np.float32)
    for j, name in enumerate(CHEXPERT_OBSERVATIONS[1:], start=1):
        p1, p0, pu = FALLBACK_FREQUENCIES[name]
        u = rng.random(int(n))
        out[u < p1, j] = 1.0
        out[(u >= p1) & (u < p1 + p0), j] = 0.0
        out[(u >= p1 + p0) & (u < p1 + p0 + pu), j] = -1.0
    others = out[:, 1:13]
    normal = ~np.any((others == 1.0) | (others == -1.0), axis=1)
    out[normal, 0] = 1.0
    return out


def synthetic_pairs(
    n,
    seed=0,
    image_size=64,
    num_negations=1,
    graphs=True,
    split_fractions=(0.8, 0.1, 0.1),
):
    """Template report + SynthCXR image pairs, in the records format.

    Label sets are drawn with CheXpert's real label frequencies
    (`sample_chexpert_labels`); each report has one sentence per mentioned
    observation (positive with side and severity, negative, or uncertain);
    the image is rendered from the positive and uncertain observations
    (uncertain ones faintly). Negated variants replace one positive
    finding's sentence with a negative one (`negation_labels` = the labels
    with that finding set to 0); omitted variants drop it. For unit tests
    and for machines without the IU package.

    Args:
        n: the number of pairs.
        seed: an int; the same arguments give the same records.
        image_size: the side of the square images.
        num_negations: K, the most negated (and omitted) variants per
            report.
        graphs: whether to add the graph arrays
            (`keras_clinclip.reports.report_graph`).
        split_fractions: train/validate/test shares (by hash of the id).

    Returns:
        A records dict (see `docs/architecture.md`), plus `findings`
        (the SynthCXR findings drawn for each image).

    Example:
    >>> records = synthetic_pairs(4, seed=0, image_size=32)
    >>> records["image"].shape, records["labels"].shape
    ((4, 32, 32), (4, 14))
    """
    from keras_clinclip.data import records as rec
    from keras_clinclip.data import templates

    n = int(n)
    labels = sample_chexpert_labels(n, seed)
    renderer = SynthCXR(image_size)
    ids, reports, negations, omissions, findings = [], [], [], [], []
    negation_labels = np.zeros((n, num_negations, 14), np.float32)
    images = np.zeros((n, image_size, image_size), np.uint8)
    for i in range(n):
        study_seed = (int(seed) * 1_000_003 + i) & 0x7FFFFFFF
        text = templates.labels_to_report(
            labels[i], seed=study_seed, num_negations=num_negations
        )
        drawn = [
            Finding(d["finding"], d["side"], d["zone"], d["severity"])
            for d in text["details"].values()
        ]
        images[i] = renderer.render(drawn, seed=study_seed)
        ids.append(f"synth-{seed}-{i}")
        reports.append(text["report"])
        negations.append(text["negations"])
        omissions.append(text["omissions"])
        findings.append(drawn)
        negation_labels[i] = rec.negation_labels_for(
            labels[i],
            text["negated_findings"],
            templates.CHEXPERT_OBSERVATIONS,
            num_negations,
        )
    records = {
        "id": ids,
        "image": images,
        "report": reports,
        "labels": labels,
        "split": [rec.hash_split(i, split_fractions) for i in ids],
        "negations": negations,
        "negation_labels": negation_labels,
        "omissions": omissions,
        "findings": findings,
    }
    if graphs:
        records.update(rec.graph_columns(reports))
    return records
