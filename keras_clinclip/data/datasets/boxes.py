"""Ground-truth regions: boxes through resize and crop, SIIM's RLE masks.

Boxes are (x, y, w, h) in pixels of the image's own size, x to the right
and y down from the top-left corner. `resize_boxes` maps them to the
model's input the way the image is mapped: `"stretch"` (what
`make_dataset` and `ClinCLIPImageConverter` do: both sides scaled to the
square), `"center_crop"` (the largest centred square, then scaled) or
`"pad"` (letterboxed into the square).

SIIM-ACR masks are run-length encoded over a 1024 x 1024 mask read column
by column (Fortran order), and the runs are relative: each start counts
from the end of the previous run, the first from pixel 0.
"""

import numpy as np

MODES = ("stretch", "center_crop", "pad")


def _size_hw(size):
    if np.ndim(size) == 0:
        return float(size), float(size)
    height, width = size
    return float(height), float(width)


def resize_boxes(boxes, image_hw, size, mode="stretch"):
    """Map boxes from an image's pixels to the model's input.

    Args:
        boxes: float (k, 4) as x, y, w, h in the image's pixels.
        image_hw: the image's (height, width).
        size: the output side (int) or (height, width).
        mode: `"stretch"`, `"center_crop"` or `"pad"` (module docstring).

    Returns:
        float32 (k, 4) x, y, w, h in output pixels, clipped to the output
        (a box wholly cropped away has w = h = 0).

    Example:
    >>> resize_boxes([[100, 200, 50, 50]], (1024, 512), 256).tolist()
    [[50.0, 50.0, 25.0, 12.5]]
    >>> resize_boxes([[0, 0, 512, 512]], (1024, 512), 256,
    ...              mode="center_crop").tolist()
    [[0.0, 0.0, 256.0, 128.0]]
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    height, width = (float(v) for v in image_hw)
    out_h, out_w = _size_hw(size)
    sx, sy = out_w / width, out_h / height
    x0, y0 = 0.0, 0.0
    if mode == "center_crop":
        side = min(height, width)
        x0, y0 = (width - side) / 2, (height - side) / 2
        sx, sy = out_w / side, out_h / side
    elif mode == "pad":
        scale = min(sx, sy)
        sx = sy = scale
        x0 = -(out_w / scale - width) / 2
        y0 = -(out_h / scale - height) / 2
    left = (boxes[:, 0] - x0) * sx
    top = (boxes[:, 1] - y0) * sy
    right = (boxes[:, 0] + boxes[:, 2] - x0) * sx
    bottom = (boxes[:, 1] + boxes[:, 3] - y0) * sy
    left, right = np.clip(left, 0, out_w), np.clip(right, 0, out_w)
    top, bottom = np.clip(top, 0, out_h), np.clip(bottom, 0, out_h)
    out = np.stack([left, top, right - left, bottom - top], axis=1)
    return out.astype(np.float32)


def boxes_to_mask(boxes, height, width):
    """A bool (height, width) mask of the union of boxes.

    Args:
        boxes: (k, 4) x, y, w, h in pixels (fractions are rounded out).
        height, width: the mask's size.

    Returns:
        bool (height, width).

    Example:
    >>> boxes_to_mask([[1, 0, 2, 1]], 2, 4).astype(int).tolist()
    [[0, 1, 1, 0], [0, 0, 0, 0]]
    """
    mask = np.zeros((int(height), int(width)), bool)
    for x, y, w, h in np.asarray(boxes, np.float64).reshape(-1, 4):
        left, top = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
        right, bottom = int(np.ceil(x + w)), int(np.ceil(y + h))
        mask[top:bottom, left:right] = True
    return mask


def parse_rle(rle, size, where="RLE"):
    """The absolute (starts, ends) of a relative run-length encoding.

    Args:
        rle: the RLE text (`"start length start length ..."`); `"-1"` or
            a blank means no runs.
        size: the number of pixels of the mask (height x width).
        where: the place of the RLE, for the message.

    Returns:
        Two int64 arrays: the first pixel of each run and the one after
        its last, in column-major order.

    Raises:
        ValueError: one line naming `where`: not integers, an odd count,
            a negative start or a run of length < 1, past the mask's end.

    Example:
    >>> [a.tolist() for a in parse_rle("2 3 1 2", 16)]
    [[2, 6], [5, 8]]
    """
    text = str(rle).strip()
    if text in ("", "-1"):
        empty = np.zeros(0, np.int64)
        return empty, empty
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise ValueError(
            f"{where}: the RLE is not a list of integers ({text[:40]!r})."
        ) from None
    if len(values) % 2:
        raise ValueError(
            f"{where}: the RLE has {len(values)} numbers; it needs pairs "
            "of start and length."
        )
    if (values[0::2] < 0).any() or (values[1::2] < 1).any():
        raise ValueError(
            f"{where}: the RLE has a negative start or a length < 1 (SIIM "
            "runs are relative: each start counts from the previous end)."
        )
    ends = np.cumsum(values)
    starts = ends[0::2]
    stops = ends[1::2]
    if stops[-1] > size:
        raise ValueError(
            f"{where}: the RLE runs to pixel {stops[-1]}, past the mask's "
            f"{size} pixels (absolute starts read as relative?)."
        )
    return starts, stops


def decode_rle(rles, height, width):
    """The bool mask of one image's SIIM RLE rows, OR-ed.

    Args:
        rles: one RLE text or a list of them (one per row of the image in
            `train-rle.csv`; `"-1"` rows add nothing).
        height, width: the mask's size (1024, 1024 for SIIM).

    Returns:
        bool (height, width).

    Example:
    >>> mask = decode_rle(["1 2", "-1"], 3, 2)
    >>> mask.astype(int).tolist()
    [[0, 0], [1, 0], [1, 0]]
    """
    if isinstance(rles, str):
        rles = [rles]
    size = int(height) * int(width)
    flat = np.zeros(size, bool)
    for index, rle in enumerate(rles, start=1):
        starts, stops = parse_rle(rle, size, f"RLE {index} of {len(rles)}")
        for start, stop in zip(starts.tolist(), stops.tolist()):
            flat[start:stop] = True
    return flat.reshape(int(width), int(height)).T
