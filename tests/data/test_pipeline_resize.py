"""The input pipeline's cheaper image path (issue #26, 512-px rate):
decode and resize in one call (Pillow), JPEGs decoded reduced, and the
converter's same-size resize skipped: the same images as before."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_clinclip.data import decode_image
from keras_clinclip.data import make_dataset
from keras_clinclip.models.clinclip_image_converter import (
    ClinCLIPImageConverter,
)
from tests.data.lookalikes import jpeg_bytes
from tests.data.test_pipeline import HashPreprocessor

pytestmark = pytest.mark.backend_independent


def _records(paths):
    n = len(paths)
    return {
        "id": [str(i) for i in range(n)],
        "image_path": [str(p) for p in paths],
        "report": ["Small left effusion."] * n,
        "labels": np.full((n, 14), np.nan, np.float32),
        "split": ["train"] * n,
    }


def _images(paths, size):
    dataset = make_dataset(
        _records(paths), HashPreprocessor(), len(paths), image_size=size
    )
    return next(iter(dataset))[0]["images"].numpy()[..., 0]


def _tf_resized(pixels, size):
    image = tf.cast(pixels[..., None], tf.float32) / 255.0
    return tf.image.resize(image, (size, size), antialias=True)[..., 0]


def test_files_resize_as_tf_antialiased_resize_and_jpegs_reduce(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, shape in enumerate([(48, 40), (20, 28), (32, 32)]):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, shape, np.uint8)).save(path)
        paths.append(path)
    # Down, up and same size: equal to TensorFlow's antialiased resize.
    for got, path in zip(_images(paths, 32), paths):
        expected = _tf_resized(np.asarray(Image.open(path)), 32)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    jpeg = tmp_path / "big.jpg"
    jpeg.write_bytes(jpeg_bytes(0, 128))
    full = decode_image(jpeg)
    assert full.shape == (128, 128)
    # Reduced in the DCT by 4 (32 px), by 2 (64 >= 40 px), not at all.
    assert decode_image(jpeg, reduce_to=32).shape == (32, 32)
    assert decode_image(jpeg, reduce_to=40).shape == (64, 64)
    assert decode_image(jpeg, reduce_to=100).shape == (128, 128)
    got = _images([jpeg], 32)[0]
    difference = np.abs(got - _tf_resized(full, 32).numpy())
    assert difference.mean() < 2 / 255 and difference.max() < 24 / 255


def test_converter_same_size_gives_the_resized_values():
    converter = ClinCLIPImageConverter(image_size=16)
    images = tf.random.stateless_uniform((2, 16, 16, 1), (1, 2))
    out = converter._convert_tf(images)
    expected = tf.tile((images - 0.5) / 0.25, [1, 1, 1, 3])
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    bigger = tf.image.resize(images, (24, 24))
    resized = tf.image.resize(
        tf.tile(bigger, [1, 1, 1, 3]), (16, 16), antialias=True
    )
    np.testing.assert_allclose(
        converter._convert_tf(bigger).numpy(),
        ((resized - 0.5) / 0.25).numpy(),
        atol=1e-6,
    )
