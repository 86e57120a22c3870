"""Augmentation of chest radiographs, stateless and seeded.

Random resized crop, a small rotation, brightness and contrast; no
horizontal flip by default (laterality matters in chest X-rays).
"""

import numpy as np

DEFAULT_AUGMENTATION = {
    "crop_scale": (0.8, 1.0),
    "crop_ratio": (3 / 4, 4 / 3),
    "rotation": 7.0,
    "brightness": 0.1,
    "contrast": 0.2,
    "horizontal_flip": False,
}


def checked_config(augmentation=None):
    """`DEFAULT_AUGMENTATION` updated with `augmentation`, checked.

    Args:
        augmentation: a dict of options to override, or None.

    Returns:
        The full dict of options.

    Raises:
        ValueError: naming the unknown options and the known ones.

    Example:
    >>> checked_config({"rotation": 0.0})["rotation"]
    0.0
    """
    config = dict(DEFAULT_AUGMENTATION, **(augmentation or {}))
    unknown = set(config) - set(DEFAULT_AUGMENTATION)
    if unknown:
        raise ValueError(
            f"Unknown augmentation options {sorted(unknown)}; known: "
            f"{sorted(DEFAULT_AUGMENTATION)}."
        )
    return config


def augment_batch(images, seed, config=None, size=None):
    """Random resized crop, rotation, brightness and contrast of a batch.

    Stateless: the same `seed` gives the same draws, so a resumed run
    replays the augmentation of an uninterrupted one. Chest X-rays keep
    their laterality: no horizontal flip unless `config` asks for it.

    Args:
        images: float32 `tf.Tensor` (B, S, S, 1) in [0, 1].
        seed: an int64 scalar (Python int or tensor).
        config: a dict overriding `DEFAULT_AUGMENTATION`.
        size: the output side (default: the input's).

    Returns:
        float32 (B, size, size, 1) in [0, 1].

    Example:
    >>> import numpy as np, tensorflow as tf
    >>> images = tf.constant(np.random.rand(2, 16, 16, 1), tf.float32)
    >>> out = augment_batch(images, 3)
    >>> tuple(out.shape), bool(np.all(augment_batch(images, 3) == out))
    ((2, 16, 16, 1), True)
    """
    import tensorflow as tf

    config = checked_config(config)
    size = int(images.shape[1]) if size is None else int(size)
    seed = tf.cast(seed, tf.int64)
    batch = tf.shape(images)[0]
    base = tf.stack([seed, tf.constant(0, tf.int64)])

    def uniform(index, shape, lo, hi):
        s = base + tf.constant([0, 1], tf.int64) * index
        return tf.random.stateless_uniform(shape, s, lo, hi)

    lo_scale, hi_scale = config["crop_scale"]
    lo_ratio, hi_ratio = config["crop_ratio"]
    area = uniform(1, [batch], lo_scale, hi_scale)
    log_ratio = uniform(
        2, [batch], float(np.log(lo_ratio)), float(np.log(hi_ratio))
    )
    ratio = tf.exp(log_ratio)
    height = tf.minimum(tf.sqrt(area / ratio), 1.0)
    width = tf.minimum(tf.sqrt(area * ratio), 1.0)
    top = uniform(3, [batch], 0.0, 1.0) * (1.0 - height)
    left = uniform(4, [batch], 0.0, 1.0) * (1.0 - width)
    boxes = tf.stack([top, left, top + height, left + width], axis=1)
    images = tf.image.crop_and_resize(
        images, boxes, tf.range(batch), (size, size)
    )
    if config["rotation"]:
        limit = float(np.deg2rad(config["rotation"]))
        angle = uniform(5, [batch], -limit, limit)
        cos, sin = tf.cos(angle), tf.sin(angle)
        extent = float(size - 1)
        x_off = (extent - (cos * extent - sin * extent)) / 2.0
        y_off = (extent - (sin * extent + cos * extent)) / 2.0
        zeros = tf.zeros_like(cos)
        transforms = tf.stack(
            [cos, -sin, x_off, sin, cos, y_off, zeros, zeros], axis=1
        )
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=[size, size],
            interpolation="BILINEAR",
            fill_mode="NEAREST",
            fill_value=0.0,
        )
    if config["brightness"]:
        delta = uniform(6, [batch, 1, 1, 1], -1.0, 1.0) * config["brightness"]
        images = images + delta
    if config["contrast"]:
        c = config["contrast"]
        factor = uniform(7, [batch, 1, 1, 1], 1.0 - c, 1.0 + c)
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - mean) * factor + mean
    if config["horizontal_flip"]:
        flip = uniform(8, [batch, 1, 1, 1], 0.0, 1.0) < 0.5
        images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    return tf.clip_by_value(images, 0.0, 1.0)
