"""Image decoding: PNG (8/16-bit), JPEG, DICOM (pydicom-data)."""

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.uid import generate_uid

from keras_clinclip.data.images import ImageDecodeError
from keras_clinclip.data.images import decode_image

pytestmark = pytest.mark.backend_independent


def _ramp(h=8, w=16):
    return np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))


def write_dicom(path, pixels, photometric="MONOCHROME2", bits=12, window=None):
    """A small DICOM radiograph written with pydicom."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.ViewPosition = "PA"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_png_and_jpeg(tmp_path):
    ramp = _ramp()
    Image.fromarray(ramp).save(tmp_path / "a.png")
    Image.fromarray(ramp).convert("RGB").save(tmp_path / "a.jpg", quality=95)
    np.testing.assert_array_equal(decode_image(tmp_path / "a.png"), ramp)
    jpeg = decode_image(str(tmp_path / "a.jpg"))
    assert jpeg.shape == ramp.shape
    assert np.abs(jpeg.astype(int) - ramp).max() < 12


def test_sixteen_bit_png(tmp_path):
    values = np.linspace(0, 65535, 16).astype(np.uint16)[None].repeat(4, 0)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = decode_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8
    assert image[0, 0] == 0 and image[0, -1] == 255
    assert np.all(np.diff(image[0].astype(int)) >= 0)


def test_real_monochrome1_dicom_is_inverted():
    path = get_testdata_file("RG1_UNCR.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    image = decode_image(path)
    assert image.shape == ds.pixel_array.shape and image.dtype == np.uint8
    # MONOCHROME1: high stored values are dark, so they must come out dark.
    raw = ds.pixel_array.astype(float)[::8, ::8].ravel()
    shown = image.astype(float)[::8, ::8].ravel()
    assert np.corrcoef(raw, shown)[0, 1] < -0.9


def test_dicom_windowing_and_inversion(tmp_path):
    pixels = np.tile(np.linspace(0, 4095, 32), (4, 1))
    plain = write_dicom(tmp_path / "m2.dcm", pixels, "MONOCHROME2", 12)
    window = write_dicom(
        tmp_path / "w.dcm", pixels, "MONOCHROME2", 12, window=(2048, 1024)
    )
    inverted = write_dicom(tmp_path / "m1.dcm", pixels, "MONOCHROME1", 12)
    a = decode_image(plain)
    assert a[0, 0] == 0 and a[0, -1] == 255
    b = decode_image(window)
    below = pixels[0] < 2048 - 512 - 1
    above = pixels[0] > 2048 + 512
    assert np.all(b[0][below] == 0) and np.all(b[0][above] == 255)
    inside = ~below & ~above
    assert np.all(np.diff(b[0][inside].astype(int)) >= 0)
    np.testing.assert_array_equal(decode_image(inverted), 255 - a)


def test_sixteen_bit_dicom(tmp_path):
    pixels = np.tile(np.linspace(1000, 60000, 16), (2, 1))
    image = decode_image(write_dicom(tmp_path / "d.dcm", pixels, bits=16))
    assert image[0, 0] == 0 and image[0, -1] == 255


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="missing.png: image file not"):
        decode_image(tmp_path / "missing.png")
    buffer = io.BytesIO()
    Image.fromarray(_ramp(64, 64)).save(buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:60])
    with pytest.raises(ImageDecodeError, match="cut.png"):
        decode_image(tmp_path / "cut.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.jpg: image file is"):
        decode_image(tmp_path / "empty.jpg")
    (tmp_path / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"junk")
    with pytest.raises(ImageDecodeError, match="bad.dcm"):
        decode_image(tmp_path / "bad.dcm")
