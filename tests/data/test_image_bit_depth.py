"""Bit depth of PNG/TIFF images from the file or `bit_depth=`, never guessed.

Issue 19, case 5: a 14-bit and a 10-bit PNG came out at 0..64 of 255 and a
float TIFF as zeros. The images here are generated in the test: 16-bit PNGs
holding b-bit samples with an `sBIT` chunk written by hand, and float TIFFs.
"""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from keras_clinclip.data.images import ImageDecodeError
from keras_clinclip.data.images import decode_image

independent = pytest.mark.backend_independent


def _expected(values, bits):
    scaled = np.asarray(values, np.float64) / (2.0**bits - 1)
    return (np.clip(scaled, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def _png16(values, sbit=None):
    """A 16-bit grayscale PNG of `values`, with an sBIT chunk if given."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(values, np.uint16)).save(buffer, "PNG")
    data = buffer.getvalue()
    assert data[12:16] == b"IHDR" and data[24] == 16  # 16-bit, gray
    if sbit is None:
        return data
    chunk = b"sBIT" + bytes([sbit])
    chunk = struct.pack(">I", 1) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return data[:33] + chunk + data[33:]


def _ramp(bits, width=64):
    return np.linspace(0, 2**bits - 1, width).round()[None].repeat(3, 0)


@independent
@pytest.mark.parametrize("bits", [10, 12, 14])
def test_sbit_gives_the_depth(bits):
    values = _ramp(bits)
    image = decode_image(_png16(values, sbit=bits))
    np.testing.assert_array_equal(image, _expected(values, bits))
    assert image.min() == 0 and image.max() == 255


@independent
@pytest.mark.parametrize("bits", [10, 12, 14])
def test_explicit_bit_depth(bits):
    values = _ramp(bits)
    image = decode_image(_png16(values), bit_depth=bits)
    np.testing.assert_array_equal(image, _expected(values, bits))


@independent
@pytest.mark.parametrize("bits", [10, 14])
def test_without_sbit_the_png_depth_is_used_not_the_maximum(bits):
    values = _ramp(bits)
    image = decode_image(_png16(values))
    np.testing.assert_array_equal(image, _expected(values, 16))


@independent
def test_sixteen_and_eight_bit():
    values = _ramp(16)
    image = decode_image(_png16(values, sbit=16))
    np.testing.assert_array_equal(image, _expected(values, 16))
    dark = np.linspace(0, 40, 32).astype(np.uint8)[None].repeat(2, 0)
    buffer = io.BytesIO()
    Image.fromarray(dark).save(buffer, "PNG")
    np.testing.assert_array_equal(decode_image(buffer.getvalue()), dark)
    np.testing.assert_array_equal(
        decode_image(buffer.getvalue(), bit_depth=6), _expected(dark, 6)
    )


@independent
def test_sbit_with_samples_scaled_as_the_png_specification_says():
    samples = _ramp(10)
    stored = samples * 64  # left-shifted into the 16-bit container
    image = decode_image(_png16(stored, sbit=10))
    np.testing.assert_array_equal(image, _expected(samples, 10))


@independent
def test_a_sample_above_the_explicit_depth_is_an_error():
    with pytest.raises(ImageDecodeError, match=r"scan.png: .*bit_depth=10"):
        decode_image(_png16(_ramp(12)), name="scan.png", bit_depth=10)
    with pytest.raises(ValueError, match="bit_depth"):
        decode_image(_png16(_ramp(12)), bit_depth=17)


def _tiff(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "TIFF")
    return buffer.getvalue()


@independent
def test_float_tiff_is_scaled_by_its_range():
    values = np.linspace(-1000.0, 3000.0, 48, dtype=np.float32)[None]
    values = values.repeat(4, 0)
    image = decode_image(_tiff(values))
    assert image.min() == 0 and image.max() == 255
    expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_array_equal(
        image, (expected * 255.0 + 0.5).astype(np.uint8)
    )
    small = np.linspace(0.0, 0.25, 16, dtype=np.float32)[None]
    assert decode_image(_tiff(small)).max() == 255


@independent
def test_float_tiff_bad_values_are_named():
    values = np.ones((2, 4), np.float32)
    values[0, 1] = np.nan
    with pytest.raises(ImageDecodeError, match=r"f.tif: .*not finite"):
        decode_image(_tiff(values), name="f.tif")
    with pytest.raises(ImageDecodeError, match=r"bit_depth"):
        decode_image(_tiff(np.ones((2, 2), np.float32)), bit_depth=12)


@independent
def test_sixteen_bit_tiff_depth_from_the_file():
    values = _ramp(12).astype(np.uint16)
    image = decode_image(_tiff(values))
    np.testing.assert_array_equal(image, _expected(values, 16))
    image = decode_image(_tiff(values), bit_depth=12)
    np.testing.assert_array_equal(image, _expected(values, 12))


def test_the_pipeline_reads_the_depth_from_the_file(tmp_path):
    from keras_clinclip.data import make_dataset
    from tests.data.test_pipeline import HashPreprocessor

    paths = []
    for bits in (10, 14):
        values = np.linspace(0, 2**bits - 1, 32).round()[None].repeat(32, 0)
        paths.append(tmp_path / f"deep{bits}.png")
        paths[-1].write_bytes(_png16(values, sbit=bits))
    records = {
        "id": ["a", "b"],
        "image_path": [str(p) for p in paths],
        "report": ["No effusion.", "Edema."],
        "labels": np.full((2, 14), np.nan, np.float32),
        "split": ["train"] * 2,
    }
    dataset = make_dataset(records, HashPreprocessor(), 2, image_size=32)
    images = next(iter(dataset))[0]["images"].numpy()
    assert images[:, :, -2:].mean() > 0.95 and images[:, :, :2].mean() < 0.05
