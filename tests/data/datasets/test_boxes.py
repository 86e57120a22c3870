"""Boxes through resize, crop and pad, checked against resized masks."""

import numpy as np
import pytest
from PIL import Image

from keras_clinclip.data.datasets import boxes_to_mask
from keras_clinclip.data.datasets import decode_rle
from keras_clinclip.data.datasets import resize_boxes

pytestmark = pytest.mark.backend_independent


def _bounds(mask):
    """x, y, w, h of the pixels of a bool mask."""
    rows, cols = np.nonzero(mask)
    return [cols.min(), rows.min(), cols.max() + 1 - cols.min(),
            rows.max() + 1 - rows.min()]  # fmt: skip


def _transform(mask, size, mode):
    """What the image undergoes, done to the mask with PIL."""
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    height, width = mask.shape
    if mode == "center_crop":
        side = min(height, width)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if mode == "pad":
        scale = min(size / width, size / height)
        inner = (round(width * scale), round(height * scale))
        canvas = Image.new("L", (size, size))
        offset = ((size - inner[0]) // 2, (size - inner[1]) // 2)
        canvas.paste(image.resize(inner, Image.NEAREST), offset)
        return np.asarray(canvas) > 127
    return np.asarray(image.resize((size, size), Image.NEAREST)) > 127


@pytest.mark.parametrize("mode", ["stretch", "center_crop", "pad"])
def test_resize_boxes_match_the_resized_image(mode):
    rng = np.random.default_rng(0)
    for hw in ((300, 200), (200, 300), (256, 256)):
        for _ in range(5):
            w, h = rng.integers(20, 80, 2)
            x = rng.integers(60, hw[1] - 60 - w // 2)
            y = rng.integers(60, hw[0] - 60 - h // 2)
            box = [float(x), float(y), float(w), float(h)]
            mask = boxes_to_mask([box], *hw)
            expected = _bounds(_transform(mask, 64, mode))
            got = resize_boxes([box], hw, 64, mode=mode)[0]
            # PIL rounds the pad offset to whole pixels.
            atol = 1.6 if mode == "pad" else 1.01
            np.testing.assert_allclose(got, expected, atol=atol)


def test_boxes_cropped_away_have_no_area():
    got = resize_boxes([[0, 0, 40, 10]], (100, 200), 50, mode="center_crop")
    assert got[0, 2] == 0 and got[0, 3] == 10 * 50 / 100


def test_decode_rle_is_column_major_relative_and_ored():
    # 3 rows x 2 columns; runs: pixels 1..2, then 1 after the run's end.
    mask = decode_rle(["1 2 1 1", "0 1"], 3, 2)
    flat = mask.T.reshape(-1)  # column-major
    assert flat.tolist() == [True, True, True, False, True, False]
    with pytest.raises(ValueError, match="past the mask"):
        decode_rle(["5 3"], 3, 2)
