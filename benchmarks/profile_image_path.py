"""CPU ms per image of each step of `make_dataset`'s image path.

One SynthCXR JPEG at 512 and at 2,500 px (the longer side), each step
timed alone in this process (`time.process_time`, median of 15 calls):
the JPEG decode at full size and reduced in the DCT
(`decode_image(reduce_to=224)`), TensorFlow's antialiased resize to 224
px, Pillow's bilinear resize of the float image (what `make_dataset`
uses; its largest difference from TensorFlow's is printed), and the
image converter on a batch already at 224 px (same-size resize skipped).

    KERAS_BACKEND=tensorflow nice python benchmarks/profile_image_path.py
"""

import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ms(function, repeats=15):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


def main():
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from keras_clinclip.data import decode_image
    from keras_clinclip.models.clinclip_image_converter import (
        ClinCLIPImageConverter,
    )
    from tests.data.lookalikes import jpeg_bytes

    size = 224
    tf_resize = tf.function(
        lambda x: tf.image.resize(
            tf.cast(x, tf.float32) / 255.0, (size, size), antialias=True
        )
    )

    def pil_resize(pixels):
        image = Image.fromarray(pixels.astype(np.float32) / 255.0)
        return np.asarray(image.resize((size, size), Image.BILINEAR))

    def row(side):
        data = jpeg_bytes(0, side)
        full = decode_image(data)
        reduced = decode_image(data, reduce_to=size)
        expected = tf_resize(full[..., None]).numpy()[..., 0]
        gap = np.abs(pil_resize(full) - expected).max()
        print(
            f"{side} px: decode {_ms(lambda: decode_image(data)):.2f}, "
            f"reduced to {reduced.shape} "
            f"{_ms(lambda: decode_image(data, reduce_to=size)):.2f}; "
            f"resize: TF antialiased "
            f"{_ms(lambda: tf_resize(full[..., None])):.2f}, Pillow "
            f"{_ms(lambda: pil_resize(full)):.2f} (largest difference "
            f"{gap:.1e}), Pillow from the reduced decode "
            f"{_ms(lambda: pil_resize(reduced)):.2f} ms per image"
        )

    for side in (512, 2500):
        row(side)
    converter = ClinCLIPImageConverter(image_size=size)
    batch = tf.random.stateless_uniform((32, size, size, 1), (0, 1))
    convert = tf.function(converter._convert_tf)
    convert(batch)
    per_image = _ms(lambda: convert(batch)) / 32
    print(f"converter, batch at {size} px: {per_image:.2f} ms per image")


if __name__ == "__main__":
    main()
