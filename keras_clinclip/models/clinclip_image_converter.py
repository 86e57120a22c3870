"""Radiographs to the image tower's input: channels, resize, normalise."""

import keras
from keras_hub.layers import ImageConverter

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.tf_preprocessing import run_tf_preprocessing


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPImageConverter(ImageConverter):
    """Turns chest radiographs into the image tower's float input.

    Steps, all in TensorFlow so that it runs inside `tf.data` on every Keras
    backend (called eagerly, it returns backend tensors):
    1. integer images (uint8 0..255, or uint16 with `max_value`) are scaled
       to [0, 1]; float images are taken to be in [0, 1] already;
    2. grayscale `(…, 1)` or channel-less images get `channels` copies of
       their channel; RGB images asked for 1 channel are averaged;
    3. resize to `image_size` (bilinear, antialiased when shrinking);
    4. normalise `(x - mean) / std`.

    Accepted shapes: a batch `(B, H, W, C)` or `(B, H, W)` (grayscale), or
    one image `(H, W, C)` or `(H, W)`. A rank-3 input whose last axis is 1
    or 3 is one image; otherwise it is a batch of grayscale images.

    Its `backbone_cls` is `ClinCLIPBackbone`, so KerasHub's generic
    `keras_hub.layers.ImageConverter.from_preset(dir)` loads it from a
    ClinCLIP preset.

    Args:
        image_size: int or `(height, width)`. Output size.
        mean: float. Subtracted after scaling to [0, 1].
        std: float. Divisor after subtracting the mean.
        channels: int. Output channels (3 for ImageNet-style towers).
        max_value: float. The white level of integer images (255).
        interpolation: resize interpolation (`"bilinear"`, `"bicubic"`,
            `"nearest"`, ...).
        **kwargs: other `keras_hub.layers.ImageConverter` arguments.

    Example:
    >>> import numpy as np
    >>> converter = ClinCLIPImageConverter(image_size=8)
    >>> images = np.full((2, 16, 16), 255, "uint8")
    >>> out = keras.ops.convert_to_numpy(converter(images))
    >>> out.shape, round(float(out.max()), 4)
    ((2, 8, 8, 3), 2.0)
    """

    backbone_cls = ClinCLIPBackbone

    def __init__(
        self,
        image_size=224,
        mean=0.5,
        std=0.25,
        channels=3,
        max_value=255.0,
        interpolation="bilinear",
        **kwargs,
    ):
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        kwargs.pop("scale", None)
        kwargs.pop("offset", None)
        kwargs.setdefault("crop_to_aspect_ratio", False)
        super().__init__(
            image_size=tuple(image_size),
            interpolation=interpolation,
            **kwargs,
        )
        if channels not in (1, 3):
            raise ValueError(f"`channels` must be 1 or 3. Got {channels}.")
        if not std > 0:
            raise ValueError(f"`std` must be positive. Got {std}.")
        self.mean = float(mean)
        self.std = float(std)
        self.channels = int(channels)
        self.max_value = float(max_value)

    def _convert_tf(self, images):
        import tensorflow as tf

        images = tf.convert_to_tensor(images)
        rank = images.shape.rank
        if rank is None:
            raise ValueError(
                "`images` must have a known rank (2, 3 or 4) inside tf.data."
            )
        if rank not in (2, 3, 4):
            raise ValueError(
                "`images` must be (H, W), (H, W, C), (B, H, W) or "
                f"(B, H, W, C); got shape {images.shape}."
            )
        unbatched = rank == 2 or (rank == 3 and images.shape[-1] in (1, 3))
        if rank == 2 or (rank == 3 and not unbatched):
            images = images[..., None]
        if unbatched:
            images = images[None]
        if images.dtype.is_integer or images.dtype == tf.bool:
            images = tf.cast(images, "float32") / self.max_value
        else:
            images = tf.cast(images, "float32")
        in_channels = images.shape[-1]
        if in_channels not in (None, 1, 3):
            raise ValueError(
                "`images` must have 1 (grayscale) or 3 channels; got shape "
                f"{images.shape}."
            )
        if self.channels == 3:
            if in_channels == 1:
                images = tf.tile(images, [1, 1, 1, 3])
            elif in_channels is None:
                images = tf.cond(
                    tf.shape(images)[-1] == 1,
                    lambda: tf.tile(images[..., :1], [1, 1, 1, 3]),
                    lambda: images[..., :3],
                )
                images = tf.ensure_shape(images, [None, None, None, 3])
        elif in_channels != 1:
            images = tf.reduce_mean(images, axis=-1, keepdims=True)
        height, width = self.image_size
        # A resize to the same size is the identity (exactly, for every
        # method), and the costliest step of the conversion: skip it.
        if tuple(images.shape[1:3]) != (height, width):
            images = tf.image.resize(
                images,
                (height, width),
                method=self.interpolation,
                antialias=True,
            )
        images = (images - self.mean) / self.std
        if unbatched:
            images = images[0]
        return images

    def call(self, inputs):
        return run_tf_preprocessing(self, "_convert_tf", inputs)

    def get_config(self):
        config = super().get_config()
        config.pop("scale", None)
        config.pop("offset", None)
        config.update(
            {
                "mean": self.mean,
                "std": self.std,
                "channels": self.channels,
                "max_value": self.max_value,
            }
        )
        return config
