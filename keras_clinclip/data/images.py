"""Decode radiographs (PNG, JPEG, TIFF, DICOM) to grayscale arrays.

PNG and TIFF: the sample depth comes from the file (PNG `sBIT` or bit
depth, TIFF `BitsPerSample`/`SampleFormat`) or from `bit_depth=`, never
from the pixel values; float samples are scaled by their own range.

DICOM is read with pydicom: the modality LUT (rescale slope/intercept),
then the VOI LUT or window centre/width (the first one when several are
given), else the full stored range of the pixels, then MONOCHROME1
inversion (so that bone is always white), then scaling to 0..255 (or
0..65535 with `output_bits=16`). 8- to 16-bit images are handled, one
frame of a multi-frame file (`frame=`), and compressed transfer syntaxes
(JPEG Lossless, JPEG-LS, JPEG 2000, RLE) through pydicom's pixel-data
plugins (the `pylibjpeg` packages of the `[data]` extra). `window=`
overrides the header's VOI window.
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


OUTPUT_DTYPES = {8: np.uint8, 16: np.uint16}


def _to_uint8(array, lo=None, hi=None, output_bits=8):
    """`lo..hi` (default: the array's range) onto 0..2^output_bits - 1."""
    array = np.asarray(array, np.float64)
    lo = float(np.min(array)) if lo is None else lo
    hi = float(np.max(array)) if hi is None else hi
    dtype = OUTPUT_DTYPES[output_bits]
    if hi <= lo:
        return np.zeros(array.shape, dtype)
    scaled = (np.clip(array, lo, hi) - lo) / (hi - lo)
    return (scaled * float(2**output_bits - 1) + 0.5).astype(dtype)


def _window_range(window):
    """DICOM's linear VOI function: (center, width) -> input `lo..hi`."""
    center, width = window
    return center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2


def _check_options(window, output_bits, frame):
    if not (window is None or window == "header"):
        ok = isinstance(window, (tuple, list)) and len(window) == 2
        ok = ok and all(
            isinstance(v, (int, float, np.number)) and np.isfinite(v)
            for v in window
        )
        if not ok or window[1] < 1:
            raise ValueError(
                "window must be 'header', None or (center, width) with "
                f"width >= 1, got {window!r}."
            )
        window = (float(window[0]), float(window[1]))
    if output_bits not in OUTPUT_DTYPES:
        raise ValueError(
            f"output_bits must be 8 (uint8) or 16 (uint16), got "
            f"{output_bits!r}."
        )
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
        raise ValueError(f"frame must be an int, got {frame!r}.")
    if frame < 0:
        raise ValueError(f"frame must be >= 0, got {frame}.")
    return window, int(frame)


def dicom_to_array(
    dataset, name="<dicom>", window="header", output_bits=8, frame=0
):
    """Pixel data of a pydicom dataset as grayscale, display-ready.

    Compressed transfer syntaxes (JPEG Lossless, JPEG 2000, JPEG-LS, RLE)
    are decoded by pydicom's pixel-data plugins (the `pylibjpeg`
    packages of the `[data]` extra).

    Args:
        dataset: a `pydicom.Dataset` with pixel data.
        name: the file name, for error messages.
        window: `"header"` (default) applies the file's VOI LUT or first
            window centre/width, else the pixels' full range; `None`
            ignores the header's window (the full range); `(center,
            width)` applies that window (in modality-LUT units, e.g. HU)
            with DICOM's linear VOI function.
        output_bits: 8 (uint8, 0..255) or 16 (uint16, 0..65535).
        frame: the frame of a multi-frame image (0: the first).

    Returns:
        (H, W) uint8 or uint16; dense tissue bright whatever the
        photometric interpretation.

    Example:
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    >>> dicom_to_array(ds).dtype.name
    'uint8'
    >>> dicom_to_array(ds, window=(600, 1600), output_bits=16).dtype.name
    'uint16'
    """
    from pydicom.pixels import apply_modality_lut
    from pydicom.pixels import apply_voi_lut

    window, frame = _check_options(window, output_bits, frame)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageDecodeError(
            f"{name}: photometric interpretation {photometric!r} is not a "
            "grayscale radiograph (MONOCHROME1 or MONOCHROME2)."
        )
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frame >= frames:
        raise ImageDecodeError(
            f"{name}: frame={frame} but the file has {frames} frame(s)."
        )
    try:
        if frames > 1:
            dataset.pixel_array_options(index=frame)
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many kinds here
        hint = ""
        if "missing dependencies" in str(error) or "plugin" in str(error):
            hint = (
                " Compressed DICOM needs pydicom's pixel-data plugins: "
                "pip install 'keras-clinclip[data]'."
            )
        raise ImageDecodeError(
            f"{name}: cannot read the DICOM pixel data ({error}).{hint}"
        ) from error
    if pixels.ndim == 3 and frames > 1:  # all frames decoded
        pixels = pixels[frame] if len(pixels) == frames else pixels[0]
    if pixels.ndim != 2:
        raise ImageDecodeError(
            f"{name}: expected a 2-D image, got shape {pixels.shape}."
        )
    values = apply_modality_lut(pixels, dataset)
    has_voi = "VOILUTSequence" in dataset or (
        "WindowCenter" in dataset and "WindowWidth" in dataset
    )
    if isinstance(window, tuple):
        image = _to_uint8(values, *_window_range(window), output_bits)
    elif has_voi and window == "header":
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
        image = _to_uint8(values, lo, hi, output_bits)
    else:
        image = _to_uint8(values, output_bits=output_bits)
    if photometric == "MONOCHROME1":
        image = np.iinfo(image.dtype).max - image
    return image


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bit_depth(data):
    """The sample depth of a PNG: `(bit depth, significant bits or None)`.

    Read from the `IHDR` chunk (1, 2, 4, 8 or 16) and the optional `sBIT`
    chunk (the significant bits of a grayscale sample, e.g. 12 for a
    12-bit radiograph in a 16-bit PNG).

    Args:
        data: the file's bytes.

    Returns:
        `(depth, significant)`, or `(None, None)` when `data` is not a PNG.

    Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.zeros((2, 2), np.uint16)).save(buffer, "PNG")
    >>> png_bit_depth(buffer.getvalue())
    (16, None)
    """
    if not data.startswith(_PNG_SIGNATURE):
        return None, None
    depth = significant = None
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR" and len(body) >= 9:
            depth = body[8]
        elif kind == b"sBIT" and body:
            significant = body[0]  # gray, or the first (red) channel
        elif kind in (b"IDAT", b"IEND"):
            break
        position += 12 + length
    return depth, significant


def _check_bit_depth(bit_depth):
    if bit_depth is None:
        return None
    if isinstance(bit_depth, bool) or not isinstance(
        bit_depth, (int, np.integer)
    ):
        raise ValueError(f"bit_depth must be an int, got {bit_depth!r}.")
    if not 1 <= bit_depth <= 32:
        raise ValueError(f"bit_depth must be 1..32, got {bit_depth}.")
    return int(bit_depth)


def _integer_range(bits, signed):
    if signed:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0**bits - 1


def _pil_to_uint8(image, data, name, bit_depth, window=None, output_bits=8):
    """A decoded Pillow image as uint8/16, by the rules of decode_image."""
    array, lo, hi = _pil_samples(image, data, name, bit_depth)
    if isinstance(window, tuple):
        lo, hi = _window_range(window)
    return _to_uint8(array, lo, hi, output_bits)


def _pil_samples(image, data, name, bit_depth):
    """`(samples, lo, hi)`: the range `lo..hi` maps onto black..white."""
    tags = getattr(image, "tag_v2", None) or {}
    sample_format = tags.get(339, 1)
    if isinstance(sample_format, tuple):
        sample_format = sample_format[0]
    if image.mode == "F" or sample_format == 3:
        if bit_depth is not None:
            raise ImageDecodeError(
                f"{name}: bit_depth={bit_depth} applies to integer samples; "
                "this image has float samples (scaled by their own range)."
            )
        array = np.asarray(image, np.float64)
        bad = int(np.size(array) - np.isfinite(array).sum())
        if bad:
            raise ImageDecodeError(
                f"{name}: {bad} pixel(s) are not finite (NaN or inf)."
            )
        return array, None, None
    if image.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "I;16S"):
        if bit_depth is not None:
            raise ImageDecodeError(
                f"{name}: bit_depth={bit_depth} applies to grayscale "
                f"images; this one is {image.mode}."
            )
        return np.asarray(image.convert("L"), np.uint8), 0.0, 255.0
    container = {"L": 8, "I": 32}.get(image.mode, 16)
    signed = image.mode == "I;16S" or sample_format == 2
    significant = None
    depth, sbit = png_bit_depth(data)
    if depth in (8, 16):
        container = depth
        significant = sbit if sbit and sbit < depth else None
    elif 258 in tags:
        bits = tags[258]
        container = int(bits[0] if isinstance(bits, tuple) else bits)
    array = np.asarray(image)
    if bit_depth is not None:
        if bit_depth > container:
            raise ImageDecodeError(
                f"{name}: bit_depth={bit_depth} but the file holds "
                f"{container}-bit samples."
            )
        lo, hi = _integer_range(bit_depth, signed)
        if array.size and (array.max() > hi or array.min() < lo):
            raise ImageDecodeError(
                f"{name}: a sample ({array.max()}) is outside the range of "
                f"bit_depth={bit_depth} ({lo:.0f}..{hi:.0f})."
            )
        return array, lo, hi
    if significant is None:
        return array, *_integer_range(container, signed)
    # sBIT: b-bit samples. Stored as they are (0..2^b-1), or, as the PNG
    # specification describes, scaled up to the container's bits; a sample
    # above 2^b-1 can only be the second kind.
    array = np.asarray(array, np.int64)
    if array.size and array.max() > 2**significant - 1:
        array = array >> (container - significant)
    return array, 0.0, 2.0**significant - 1


def decode_image(
    source,
    name=None,
    bit_depth=None,
    window="header",
    output_bits=8,
    frame=0,
    reduce_to=None,
):
    """Decode a PNG, JPEG, TIFF or DICOM image to grayscale (H, W).

    The sample depth comes from the file, never from the pixel values:

    - PNG: the `sBIT` chunk (significant bits: a 12-bit image in a 16-bit
      PNG, samples 0..4095) when present, else the PNG bit depth (8 or
      16). Samples above 2^sBIT - 1 mean the file stores them scaled to
      16 bits as the PNG specification describes; they are read so.
    - TIFF: `BitsPerSample` and `SampleFormat` (signed samples are mapped
      from -2^(b-1)..2^(b-1)-1).
    - Float samples (TIFF `F`) have no fixed range: they are scaled by
      their own range (minimum -> 0, maximum -> 255); NaN or inf is an
      error.
    - DICOM: its header (see the module docstring), compressed or not.

    `bit_depth=b` overrides the file for integer samples (0..2^b-1): for
    16-bit files that hold 10-, 12- or 14-bit samples without an `sBIT`
    chunk (a 12-bit image without it is read as 16-bit, i.e. dark). A
    sample outside that range is an error.

    Args:
        source: a path (str or `pathlib.Path`) or the file's bytes.
        name: a name for error messages (defaults to the path).
        bit_depth: the bits per sample of integer PNG/TIFF/JPEG images
            (1..32), or None for the file's own depth. Not for DICOM.
        window: the VOI window. `"header"` (default): a DICOM file's own
            VOI LUT or first window centre/width (other formats have
            none); `None`: no window (DICOM: the pixels' full range);
            `(center, width)`: this window, in modality-LUT units for
            DICOM (e.g. HU) and in sample values for PNG/TIFF, with
            DICOM's linear function (values below it black, above white).
        output_bits: 8 (uint8 0..255, the default) or 16 (uint16
            0..65535, for 10- to 16-bit radiographs without losing
            levels).
        frame: the frame of a multi-frame DICOM or TIFF (0: the first);
            past the last frame is an error.
        reduce_to: JPEG only: decode at 1/2, 1/4 or 1/8 of the size (in
            the DCT, Pillow's `draft`; several times cheaper) while both
            sides stay >= `reduce_to`, for a pipeline that resizes to
            that side anyway. None (default): the full size.

    Returns:
        (H, W) uint8, or uint16 with `output_bits=16`.

    Raises:
        ImageDecodeError: naming the file when it is missing, empty,
            truncated, not an image, or has samples outside `bit_depth`.

    Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.zeros((4, 6), np.uint8)).save(buffer, "PNG")
    >>> decode_image(buffer.getvalue()).shape
    (4, 6)
    >>> buffer = io.BytesIO()
    >>> twelve_bit = np.array([[0, 2048, 4095]], np.uint16)
    >>> Image.fromarray(twelve_bit).save(buffer, "PNG")
    >>> decode_image(buffer.getvalue(), bit_depth=12).tolist()
    [[0, 128, 255]]
    >>> decode_image(buffer.getvalue(), window=(1024.5, 2048)).tolist()
    [[0, 255, 255]]
    >>> decode_image(buffer.getvalue(), bit_depth=12, output_bits=16).tolist()
    [[0, 32776, 65535]]
    """
    bit_depth = _check_bit_depth(bit_depth)
    window, frame = _check_options(window, output_bits, frame)
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
        if bit_depth is not None:
            raise ValueError(
                f"{name}: bit_depth is not used for DICOM, whose header "
                "gives the depth; leave it None."
            )
        import pydicom

        try:
            dataset = pydicom.dcmread(io.BytesIO(data))
        except Exception as error:
            raise ImageDecodeError(
                f"{name}: not a readable DICOM file ({error})."
            ) from error
        try:
            return dicom_to_array(dataset, name, window, output_bits, frame)
        except ImageDecodeError:
            raise
        except Exception as error:  # a header pydicom cannot apply
            raise ImageDecodeError(
                f"{name}: cannot convert the DICOM pixels "
                f"({type(error).__name__}: {error})."
            ) from error
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1)
            if frame >= frames:
                raise ImageDecodeError(
                    f"{name}: frame={frame} but the file has {frames} frame(s)."
                )
            image.seek(frame)
            if reduce_to and image.format == "JPEG":
                image.draft(image.mode, (int(reduce_to), int(reduce_to)))
            image.load()
            return _pil_to_uint8(
                image, data, name, bit_depth, window, output_bits
            )
    except ImageDecodeError:
        raise
    except Exception as error:
        raise ImageDecodeError(
            f"{name}: not a readable image ({type(error).__name__}: {error})."
        ) from error
