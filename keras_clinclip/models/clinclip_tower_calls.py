"""How `ClinCLIPBackbone` reads, calls and (de)serializes any tower.

Any Keras / KerasHub model serves as a tower: these read its image shape
and input names, call it on the backbone's inputs and return its
features, choose the text pooler, freeze a BERT pooler the backbone does
not use, and deserialize the towers of a saved config.
"""

import keras
import numpy as np
from keras import ops

from keras_clinclip.layers.feature_pooling import FeaturePooling
from keras_clinclip.layers.masked_mean_pooling import MaskedMeanPooling

TOWER_KEYS = ("image_encoder", "text_encoder", "graph_encoder")


def as_tensor(value):
    """Arrays and lists as backend tensors; tensors pass as they are.

    Args:
        value: a numpy array, list, tuple or (symbolic) tensor.

    Returns:
        A tensor.

    Example:
    >>> tuple(as_tensor(np.zeros((2, 3))).shape)
    (2, 3)
    """
    if isinstance(value, (np.ndarray, list, tuple)):
        return ops.convert_to_tensor(value)
    return value


def text_pooler(text_pooling, dtype=None):
    """The text pooling layer of a mode (`clinclip_inputs.TEXT_POOLING`).

    `"mean"`: `MaskedMeanPooling` (called with the padding mask);
    `"cls"`: the first token; `"pooled"`: the tower's `pooled_output`
    as it is.

    Args:
        text_pooling: `"mean"`, `"cls"` or `"pooled"`.
        dtype: dtype policy of the layer.

    Returns:
        A Keras layer named `text_pooler`.

    Example:
    >>> type(text_pooler("mean")).__name__
    'MaskedMeanPooling'
    """
    if text_pooling == "mean":
        return MaskedMeanPooling(dtype=dtype, name="text_pooler")
    mode = "cls" if text_pooling == "cls" else "none"
    return FeaturePooling(mode, dtype=dtype, name="text_pooler")


def deserialize_towers(config, custom_objects=None):
    """A backbone config with its towers and dtype policy deserialized.

    Args:
        config: a `ClinCLIPBackbone.get_config()` dict.
        custom_objects: passed to Keras's deserialization.

    Returns:
        A new dict, ready for `ClinCLIPBackbone(**config)`.

    Example:
    >>> deserialize_towers({"dtype": None, "graph_encoder": None})
    {'dtype': None, 'graph_encoder': None}
    """
    config = dict(config)
    dtype = config.get("dtype")
    for key in TOWER_KEYS:
        if isinstance(config.get(key), dict):
            config[key] = deserialize_tower(config[key], dtype, custom_objects)
    if isinstance(dtype, dict):
        config["dtype"] = keras.dtype_policies.get(dtype)
    return config


def tower_image_shape(image_encoder):
    """The `(H, W, C)` input of an image tower; a `ValueError` otherwise.

    Args:
        image_encoder: a Keras model with an `image_shape` attribute
            (KerasHub backbones) or a known `input_shape`.

    Returns:
        A tuple of 3 ints (or Nones).

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_image_encoder
    >>> tower_image_shape(tiny_clinclip_image_encoder(32))
    (32, 32, 3)
    """
    image_shape = getattr(image_encoder, "image_shape", None)
    if image_shape is None:
        image_shape = tuple(image_encoder.input_shape[1:])
    image_shape = tuple(image_shape)
    if len(image_shape) != 3:
        raise ValueError(
            "The image encoder must take (height, width, channels) "
            f"images; its input shape is {image_shape}."
        )
    return image_shape


def tower_input_names(encoder):
    """Names of a functional tower's dict inputs, or None.

    Args:
        encoder: a Keras model.

    Returns:
        A set of str, or None when the tower takes a single tensor.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> sorted(tower_input_names(tiny_clinclip_text_encoder()))
    ['padding_mask', 'segment_ids', 'token_ids']
    """
    structure = getattr(encoder, "_inputs_struct", None)
    if isinstance(structure, dict):
        return set(structure)
    return None


def image_tower_features(encoder, names, images, training=None):
    """An image tower's features of `images`, whatever its input form.

    Args:
        encoder: the image tower.
        names: `tower_input_names(encoder)`.
        images: `(B, H, W, C)` tensor or array.
        training: passed to the tower.

    Returns:
        The tower's output (rank 2, 3 or 4).

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_image_encoder
    >>> tower = tiny_clinclip_image_encoder(32)
    >>> images = np.zeros((1, 32, 32, 3), "float32")
    >>> tuple(image_tower_features(tower, None, images).shape)
    (1, 8, 8, 64)
    """
    images = as_tensor(images)
    if names is not None:
        return encoder({"images": images}, training=training)
    return encoder(images, training=training)


def text_tower_features(
    encoder, names, token_ids, padding_mask, pooled=False, training=None
):
    """A text tower's `(B, L, D)` sequence (or `(B, D)` pooled) output.

    The tower gets `token_ids`, and `padding_mask` and zero `segment_ids`
    when it has those inputs; of a dict output, `sequence_output` (or
    `pooled_output` when `pooled`) is returned.

    Args:
        encoder: the text tower.
        names: `tower_input_names(encoder)`.
        token_ids: int `(B, L)` tensor or array (made a tensor: Keras
            refuses dicts that mix arrays and tensors).
        padding_mask: int `(B, L)` tensor.
        pooled: bool. Return the tower's `pooled_output`.
        training: passed to the tower.

    Returns:
        A tensor.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> tower = tiny_clinclip_text_encoder()
    >>> ids = keras.ops.ones((2, 5), "int32")
    >>> features = text_tower_features(
    ...     tower, tower_input_names(tower), ids, ids)
    >>> tuple(features.shape)
    (2, 5, 16)
    """
    token_ids = as_tensor(token_ids)
    if names is None:
        features = encoder(token_ids, training=training)
    else:
        inputs = {"token_ids": token_ids}
        if "padding_mask" in names:
            inputs["padding_mask"] = padding_mask
        if "segment_ids" in names:
            inputs["segment_ids"] = keras.ops.zeros_like(token_ids)
        features = encoder(inputs, training=training)
    if pooled:
        if not isinstance(features, dict):
            raise ValueError(
                "text_pooling='pooled' needs a text encoder that returns "
                "a dict with 'pooled_output'."
            )
        return features["pooled_output"]
    if isinstance(features, dict):
        return features["sequence_output"]
    return features


def freeze_unused_pooler(text_encoder):
    """Freezes a BERT tower's `pooled_dense`, unused by mean/cls pooling.

    So that the optimizer does not warn about variables without
    gradients. Towers without that layer are left as they are.

    Args:
        text_encoder: a Keras model.

    Returns:
        True when a pooler was frozen.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> tower = tiny_clinclip_text_encoder()
    >>> freeze_unused_pooler(tower)
    True
    >>> tower.get_layer("pooled_dense").trainable
    False
    """
    if not hasattr(text_encoder, "get_layer"):
        return False
    try:
        text_encoder.get_layer("pooled_dense").trainable = False
    except ValueError:
        return False
    return True


def deserialize_tower(config, dtype=None, custom_objects=None):
    """A tower from its serialized config, with the backbone's dtype.

    A tower saved without a dtype policy (older files) gets `dtype`, the
    policy of the backbone that holds it.

    Args:
        config: a dict from `keras.layers.serialize`.
        dtype: the backbone's dtype policy (a name or a serialized dict),
            or None.
        custom_objects: passed to `keras.layers.deserialize`.

    Returns:
        The tower (a Keras layer or model).

    Example:
    >>> config = keras.layers.serialize(keras.layers.Dense(2))
    >>> del config["config"]["dtype"]
    >>> deserialize_tower(config, "mixed_bfloat16").dtype_policy.name
    'mixed_bfloat16'
    """
    if dtype is not None and "dtype" not in config.get("config", {}):
        config = dict(config)
        config["config"] = dict(config["config"], dtype=dtype)
    return keras.layers.deserialize(config, custom_objects=custom_objects)
