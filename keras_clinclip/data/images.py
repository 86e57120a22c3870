"""Decode radiographs (PNG, JPEG, DICOM) to 8-bit grayscale arrays.

DICOM is read with pydicom: the modality LUT (rescale slope/intercept),
then the VOI LUT or window centre/width (the first one when several are
given), else the full stored range of the pixels, then MONOCHROME1
inversion (so that bone is always white), then scaling to 0..255. 8- to
16-bit images are handled.
"""

import io
import os
import pathlib

import numpy as np

DICOM_SUFFIXES = (".dcm", ".dicom")


class ImageDecodeError(ValueError):
    """An image file that is missing, truncated or not a radiograph.

    The message names the file (or the `name` given to `decode_image`).

    Example:
    >>> try:
    ...     decode_image(b"not an image", name="row 7")
    ... except ImageDecodeError as error:
    ...     print("row 7" in str(error))
    True
    """


def is_dicom(path_or_bytes):
    """True when a path ends in .dcm/.dicom or bytes carry the DICM tag.

    Example:
    >>> is_dicom("a/b.dcm"), is_dicom(b"\\x89PNG")
    (True, False)
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return len(path_or_bytes) > 132 and path_or_bytes[128:132] == b"DICM"
    return str(path_or_bytes).lower().endswith(DICOM_SUFFIXES)


def _to_uint8(array, lo=None, hi=None):
    array = np.asarray(array, np.float64)
    lo = float(np.min(array)) if lo is None else lo
    hi = float(np.max(array)) if hi is None else hi
    if hi <= lo:
        return np.zeros(array.shape, np.uint8)
    scaled = (np.clip(array, lo, hi) - lo) / (hi - lo)
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def dicom_to_array(dataset, name="<dicom>"):
    """Pixel data of a pydicom dataset as uint8 grayscale, display-ready.

    Args:
        dataset: a `pydicom.Dataset` with pixel data.
        name: the file name, for error messages.

    Returns:
        uint8 (H, W); dense tissue bright whatever the photometric
        interpretation.

    Example:
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    >>> dicom_to_array(ds).dtype.name
    'uint8'
    """
    from pydicom.pixels import apply_modality_lut
    from pydicom.pixels import apply_voi_lut

    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageDecodeError(
            f"{name}: photometric interpretation {photometric!r} is not a "
            "grayscale radiograph (MONOCHROME1 or MONOCHROME2)."
        )
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many kinds here
        raise ImageDecodeError(
            f"{name}: cannot read the DICOM pixel data ({error})."
        ) from error
    if pixels.ndim == 3:  # multi-frame: take the first frame
        pixels = pixels[0]
    if pixels.ndim != 2:
        raise ImageDecodeError(
            f"{name}: expected a 2-D image, got shape {pixels.shape}."
        )
    values = apply_modality_lut(pixels, dataset)
    has_voi = "VOILUTSequence" in dataset or (
        "WindowCenter" in dataset and "WindowWidth" in dataset
    )
    if has_voi:
        values = apply_voi_lut(values, dataset, index=0)
        if "VOILUTSequence" in dataset:
            lut = dataset.VOILUTSequence[0]
            bits = int(lut.LUTDescriptor[2])
            lo, hi = 0.0, float(2**bits - 1)
        else:
            # Windowing maps the window onto the full stored range.
            bits = int(dataset.get("BitsStored", 16))
            if int(dataset.get("PixelRepresentation", 0)) == 1:
                lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
            else:
                lo, hi = 0.0, 2.0**bits - 1
        image = _to_uint8(values, lo, hi)
    else:
        image = _to_uint8(values)
    if photometric == "MONOCHROME1":
        image = 255 - image
    return image


def decode_image(source, name=None):
    """Decode a PNG, JPEG or DICOM image to uint8 grayscale (H, W).

    Args:
        source: a path (str or `pathlib.Path`) or the file's bytes.
        name: a name for error messages (defaults to the path).

    Returns:
        uint8 (H, W).

    Raises:
        ImageDecodeError: naming the file when it is missing, empty,
            truncated or not an image.

    Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.zeros((4, 6), np.uint8)).save(buffer, "PNG")
    >>> decode_image(buffer.getvalue()).shape
    (4, 6)
    """
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = name or "<bytes>"
        dicom = is_dicom(data)
    else:
        path = pathlib.Path(os.fspath(source))
        name = name or str(path)
        if not path.is_file():
            raise ImageDecodeError(f"{name}: image file not found.")
        data = path.read_bytes()
        dicom = is_dicom(path) or is_dicom(data)
    if not data:
        raise ImageDecodeError(f"{name}: image file is empty.")
    if dicom:
        import pydicom

        try:
            dataset = pydicom.dcmread(io.BytesIO(data))
        except Exception as error:
            raise ImageDecodeError(
                f"{name}: not a readable DICOM file ({error})."
            ) from error
        return dicom_to_array(dataset, name)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, np.float64)
                bits = 16 if array.max() > 4095 else 12
                return _to_uint8(array, 0.0, 2.0**bits - 1)
            return np.asarray(image.convert("L"), np.uint8)
    except Exception as error:
        raise ImageDecodeError(
            f"{name}: not a readable image ({type(error).__name__}: {error})."
        ) from error
