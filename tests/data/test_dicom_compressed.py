"""Compressed DICOM through pydicom's plugins; window, output bits, frame.

Uses pydicom's own test files (shipped inside the pydicom package): each
compressed file is compared with its uncompressed twin.
"""

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from keras_clinclip.data.images import ImageDecodeError
from keras_clinclip.data.images import decode_image

pytestmark = pytest.mark.backend_independent

# (compressed, uncompressed twin, transfer syntax)
PAIRS = [
    ("MR_small_RLE.dcm", "MR_small.dcm", "RLE Lossless"),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", "JPEG-LS Lossless"),
    ("RG1_J2KR.dcm", "RG1_UNCR.dcm", "JPEG 2000 (Lossless Only)"),
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm", "JPEG 2000"),
    ("emri_small_RLE.dcm", "emri_small.dcm", "RLE Lossless"),
]


def _file(name):
    return get_testdata_file(name)


@pytest.mark.parametrize("compressed,plain,syntax", PAIRS)
def test_compressed_dicom_equals_its_uncompressed_twin(
    compressed, plain, syntax
):
    meta = pydicom.dcmread(_file(compressed), stop_before_pixels=True)
    assert meta.file_meta.TransferSyntaxUID.is_compressed, syntax
    for frame in (0, 1) if "emri" in plain else (0,):
        ours = decode_image(_file(compressed), frame=frame, output_bits=16)
        twin = decode_image(_file(plain), frame=frame, output_bits=16)
        np.testing.assert_array_equal(ours, twin)
        assert ours.std() > 0  # a real image, not a blank


def test_jpeg_lossless_and_jpeg_2000_decode():
    lossless = decode_image(_file("JPGLosslessP14SV1_1s_1f_8b.dcm"))
    j2k = decode_image(_file("JPEG2000.dcm"))
    for image in (lossless, j2k):
        assert image.dtype == np.uint8 and image.ndim == 2
        assert image.std() > 5


def test_frames_of_a_multi_frame_file():
    path = _file("emri_small.dcm")
    raw = pydicom.dcmread(path).pixel_array  # (10, H, W)
    first, fifth = decode_image(path), decode_image(path, frame=4)
    assert not np.array_equal(first, fifth)
    # Frame 4 is frame 4 of the file: its ranks agree with the raw frame.
    order = np.argsort(raw[4].ravel(), kind="stable")
    assert np.all(np.diff(fifth.ravel()[order].astype(int)) >= 0)
    with pytest.raises(ImageDecodeError, match="emri_small.dcm.*10 frame"):
        decode_image(path, frame=10)


def test_window_options_on_dicom():
    path = _file("MR_small.dcm")  # header window 600 / 1600
    header = decode_image(path)
    explicit = decode_image(path, window=(600, 1600))
    assert np.abs(header.astype(int) - explicit).max() <= 1
    raw = pydicom.dcmread(path).pixel_array.astype(float)
    full = decode_image(path, window=None)
    assert full.min() == 0 and full.max() == 255
    expected = (raw - raw.min()) / (raw.max() - raw.min()) * 255
    assert np.abs(full - expected).max() <= 0.5 + 1e-9
    narrow = decode_image(path, window=(600, 200))
    lo, hi = 600 - 0.5 - 99.5, 600 - 0.5 + 99.5
    np.testing.assert_array_equal(narrow[raw <= lo], 0)
    np.testing.assert_array_equal(narrow[raw >= hi], 255)
    # MONOCHROME1: inverted also with an explicit window and 16 bits.
    mono1 = decode_image(_file("RG1_UNCR.dcm"), window=(15000, 30000))
    mono1_16 = decode_image(
        _file("RG1_UNCR.dcm"), window=(15000, 30000), output_bits=16
    )
    assert mono1_16.dtype == np.uint16
    assert np.abs(mono1_16 / 257.0 - mono1).max() <= 1


def test_output_bits_keeps_levels():
    path = _file("MR_small.dcm")
    eight, sixteen = decode_image(path), decode_image(path, output_bits=16)
    assert eight.dtype == np.uint8 and sixteen.dtype == np.uint16
    assert len(np.unique(sixteen)) > len(np.unique(eight))
    assert np.abs(sixteen / 257.0 - eight).max() <= 1


def test_png_window_and_tiff_frames(tmp_path):
    values = np.array([[0, 1000, 2000, 3000]], np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")
    windowed = decode_image(buffer.getvalue(), window=(1500.5, 2000))
    assert windowed.tolist() == [[0, 64, 191, 255]]
    frames = [Image.fromarray(np.full((2, 3), v, np.uint8)) for v in (9, 99)]
    frames[0].save(
        tmp_path / "two.tif", save_all=True, append_images=frames[1:]
    )
    assert decode_image(tmp_path / "two.tif", frame=1).max() == 99
    with pytest.raises(ImageDecodeError, match="two.tif.*2 frame"):
        decode_image(tmp_path / "two.tif", frame=2)


@pytest.mark.parametrize(
    "option,message",
    [
        ({"window": "auto"}, "window"),
        ({"window": (40, 0)}, "width >= 1"),
        ({"output_bits": 12}, "output_bits"),
        ({"frame": -1}, "frame"),
        ({"frame": 1.0}, "frame"),
    ],
)
def test_bad_options_are_named(option, message):
    with pytest.raises(ValueError, match=message):
        decode_image(_file("MR_small.dcm"), **option)


def test_missing_plugin_says_what_to_install(monkeypatch):
    from pydicom.pixels.decoders import base

    def no_plugins(*args, **kwargs):
        raise RuntimeError(
            "Unable to decode as all plugins are missing dependencies"
        )

    monkeypatch.setattr(base.Decoder, "as_array", no_plugins)
    with pytest.raises(ImageDecodeError, match=r"keras-clinclip\[data\]"):
        decode_image(_file("JPEG2000.dcm"), name="scan.dcm")
