"""Raster primitives of SynthCXR: soft shapes and blurs in pure numpy.

Coordinates are normalised: `xx` and `yy` are grids in [0, 1] (see
`grid`), so a shape drawn at (0.5, 0.5) sits in the middle at every image
size. Shapes are soft (values in [0, 1] with a smooth border); the
renderer adds them, scaled, to its density map.

Example:
>>> from keras_clinclip.data.synthcxr import raster
>>> xx, yy = raster.grid(32)
>>> spot = raster.disk(xx, yy, 0.5, 0.5, 0.2)
>>> float(spot[16, 16]), float(spot[0, 0])
(1.0, 0.0)
"""

import numpy as np


def grid(size):
    """The normalised coordinate grids of a square image.

    Args:
        size: the side of the image in pixels.

    Returns:
        `(xx, yy)`, float32 (size, size) in [0, 1]: column and row.

    Example:
    >>> xx, yy = grid(3)
    >>> xx[0].tolist(), yy[:, 0].tolist()
    ([0.0, 0.5, 1.0], [0.0, 0.5, 1.0])
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(
        size - 1.0
    )
    return xx, yy


def box_blur(a, r):
    """Separable box blur of radius `r` pixels, edge-padded.

    Args:
        a: a 2-D array.
        r: the radius in pixels (below 1: no blur).

    Returns:
        float32 array of `a`'s shape.

    Example:
    >>> [round(float(v), 2) for v in box_blur(np.eye(3), 1)[1]]
    [0.33, 0.33, 0.33]
    """
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


def blur(a, r):
    """Approximate Gaussian blur of radius `r` (two box blurs).

    Args:
        a: a 2-D array.
        r: the radius in pixels (rounded, at least 1).

    Returns:
        float32 array of `a`'s shape.

    Example:
    >>> point = np.zeros((5, 5)); point[2, 2] = 1.0
    >>> round(float(blur(point, 1).sum()), 3)
    1.0
    """
    r = max(1, int(round(r)))
    for _ in range(2):
        a = box_blur(a, r)
    return a


def smoothstep(x):
    """0 below 0, 1 above 1, and a smooth cubic ramp in between.

    Args:
        x: an array or a number.

    Returns:
        `3x^2 - 2x^3` of `x` clipped to [0, 1].

    Example:
    >>> smoothstep(np.array([-1.0, 0.5, 2.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def disk(xx, yy, x, y, rx, ry=None, edge=0.3):
    """A soft ellipse: 1 inside, 0 outside, a soft border.

    Args:
        xx, yy: the coordinate grids (`grid`).
        x, y: the centre.
        rx, ry: the radii (`ry` defaults to `rx`).
        edge: the soft border, as a fraction of the radius.

    Returns:
        An array of the grids' shape, in [0, 1].

    Example:
    >>> xx, yy = grid(9)
    >>> int((disk(xx, yy, 0.5, 0.5, 0.25) > 0.5).sum())
    9
    """
    ry = rx if ry is None else ry
    d = np.sqrt(((xx - x) / rx) ** 2 + ((yy - y) / ry) ** 2)
    return smoothstep((1.0 - d) / edge)


def polyline(xx, yy, points, width):
    """A soft line of `width` through `points`.

    Args:
        xx, yy: the coordinate grids (`grid`).
        points: a sequence of `(x, y)` (normalised coordinates).
        width: the half-width at which the line fades out.

    Returns:
        An array of the grids' shape, in [0, 1].

    Example:
    >>> xx, yy = grid(9)
    >>> line = polyline(xx, yy, [(0.0, 0.5), (1.0, 0.5)], 0.1)
    >>> float(line[4].min()), float(line[0].max())
    (1.0, 0.0)
    """
    out = np.zeros_like(xx)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy + 1e-12
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / length2, 0, 1)
        d = np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
        out = np.maximum(out, smoothstep(1.0 - d / width))
    return out


def spline(points, n=24):
    """A smooth path through control points (Catmull-Rom).

    Args:
        points: a sequence of `(x, y)` control points.
        n: points drawn per segment.

    Returns:
        float64 (n * (len(points) - 1) + 1, 2): the path, for `polyline`.

    Example:
    >>> path = spline([(0.0, 0.0), (0.5, 0.2), (1.0, 0.0)], n=4)
    >>> path.shape, path[-1].tolist()
    ((9, 2), [1.0, 0.0])
    """
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


def splat(shape, xs, ys, weights):
    """Accumulate weighted points (pixel coordinates) into an image.

    Args:
        shape: `(height, width)`.
        xs, ys: the points' columns and rows (rounded, clipped).
        weights: the value each point adds.

    Returns:
        float64 array of `shape`.

    Example:
    >>> splat((2, 2), np.array([1.0, 1.2]), np.array([0.0, 0.0]),
    ...       np.array([0.5, 0.5])).tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    h, w = shape
    xi = np.clip(np.round(xs).astype(int), 0, w - 1)
    yi = np.clip(np.round(ys).astype(int), 0, h - 1)
    out = np.zeros(shape)
    np.add.at(out, (yi, xi), weights)
    return out
