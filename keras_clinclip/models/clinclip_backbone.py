"""ClinCLIP: image and text towers, projections, logit scale, graphs.

The backbone is its graph and its config; its inputs are checked in
`clinclip_inputs`, its compile defaults live in `clinclip_compile`.
"""

import functools

import keras
import numpy as np
from keras import ops
from keras_hub.models import Backbone

from keras_clinclip.layers.feature_pooling import FeaturePooling
from keras_clinclip.layers.logit_scale import LogitScale
from keras_clinclip.layers.masked_mean_pooling import MaskedMeanPooling
from keras_clinclip.layers.negation_packing import NegationPacking
from keras_clinclip.layers.negation_stacking import embed_with_negations
from keras_clinclip.layers.projection_head import ProjectionHead
from keras_clinclip.models import clinclip_batch_encoder as batch_encoder
from keras_clinclip.models import clinclip_inputs as contract
from keras_clinclip.models import clinclip_towers as towers
from keras_clinclip.models.clinclip_compile import ClinCLIPCompileMixin
from keras_clinclip.models.clinclip_graph_encoder import ClinCLIPGraphEncoder
from keras_clinclip.models.clinclip_model_card import write_model_card
from keras_clinclip.models.clinclip_towers import DEFAULT_IMAGE_TOWER
from keras_clinclip.models.clinclip_towers import DEFAULT_TEXT_TOWER

__all__ = ["ClinCLIPBackbone"]


def _as_tensor(value):  # symbolic and backend tensors pass as they are
    if isinstance(value, (np.ndarray, list, tuple)):
        return ops.convert_to_tensor(value)
    return value


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPBackbone(ClinCLIPCompileMixin, Backbone):
    """ClinCLIP: a CLIP backbone for chest X-rays and their reports.

    An image tower and a text tower (any Keras / KerasHub backbones: ResNet,
    ViT, ... for images; BERT-family for text), pooled and projected to a
    shared `embedding_dim`; a learnable logit scale (initialised at
    1/0.07, clamped at 100); optionally an encoder of report graphs
    (`ClinCLIPGraphEncoder`, a GCN in `keras.ops`) and `num_negations`
    negated reports per study, encoded by the same text tower in the same
    pass.

    Inputs (a dict; extra keys are ignored, so a batch of
    `keras_clinclip.data.make_dataset` can be fed whatever it carries):
    `images` float `(B, H, W, C)` (from `ClinCLIPPreprocessor`),
    `token_ids` int `(B, L)`, `padding_mask` bool/int `(B, L)`; with
    `num_negations=K > 0`, `negation_token_ids` and `negation_padding_mask`
    `(B, K, L)`; with a graph branch, `graph_nodes` `(B, M, F)`,
    `graph_adjacency` `(B, M, M)`, `graph_node_mask` `(B, M)`.

    Outputs (a dict, what `keras_clinclip.losses` take): `image_embeddings`
    `(B, d)`, `text_embeddings` `(B, d)` (projected, *not* normalised),
    `logit_scale` `(B, 1)` float32 (the clamped multiplier `s = exp(t)`,
    repeated per example so that it batches in `predict`; `compute_loss`
    hands the losses its scalar value), and when configured
    `negation_embeddings` `(B, K, d)` and `graph_embeddings` `(B, d)`.

    `compile(loss=...)` passes the whole `y_true`/`y_pred` dicts to the
    losses; with no arguments it takes the defaults of `ClinCLIPPretrainer`
    (AdamW and the full loss; `ClinCLIPCompileMixin`). For training on raw
    images and report strings, and for presets with `task.json`, use the
    task `ClinCLIPPretrainer`; to embed numpy batches, `encode_images` /
    `encode_texts` (`clinclip_batch_encoder`).

    Args:
        image_encoder: a Keras model mapping `(B, H, W, C)` images (or
            `{"images": ...}`) to features of rank 2, 3 or 4, with a known
            input shape (`image_shape` or `input_shape`).
        text_encoder: a Keras model taking `token_ids` (and `padding_mask`,
            zero `segment_ids` when it has them), returning `(B, L, D)` or
            a dict with `sequence_output` (and `pooled_output`).
        embedding_dim: int. Shared embedding size `d`.
        projection_hidden_dim: int or None. Hidden width of MLP projection
            heads; None for linear projections (CLIP).
        image_pooling: `FeaturePooling` mode for image features (`"auto"`:
            average for feature maps, class token for token sequences).
        text_pooling: `"mean"` (mean over valid tokens, the
            sentence-transformers pooling), `"cls"` (first token) or
            `"pooled"` (the tower's `pooled_output`). With `"mean"` and
            `"cls"`, a BERT tower's unused `pooled_dense` is frozen.
        num_negations: int. K negated reports per study (0 = none).
        negation_capacity: None (default: the text tower encodes all B·K
            negation slots) or the size of a buffer of the valid ones
            (`keras_clinclip.layers.NegationPacking`): a float in (0, 1]
            (a fraction of the B·K slots) or an int number of rows (e.g.
            `negation_capacity_for(records["negation_mask"], B)`). The
            model then also takes `negation_mask` `(B, K)` and returns
            `negation_encoded` `(B, K)` and `negation_overflow` `(B, 1)`
            (valid slots dropped; `compute_loss` masks them).
        graph_feature_dim: int or None. Node feature size F of the report
            graphs; None (with `graph_encoder=None`) = no graph branch.
        graph_encoder: a layer called as `(nodes, adjacency, node_mask)`
            returning `(B, h)`, or None to build a `ClinCLIPGraphEncoder`
            of `graph_hidden_dim` x `graph_num_layers` when
            `graph_feature_dim` is set.
        graph_max_nodes: int or None. Static number of nodes M (or any).
        graph_hidden_dim: int. Width of the default graph encoder.
        graph_num_layers: int. Depth of the default graph encoder.
        logit_scale_init: float. Initial multiplier (1/0.07).
        max_logit_scale: float. Clamp of the multiplier (100).
        dtype: dtype policy of the heads (pass the same to the towers),
            e.g. `"mixed_bfloat16"`.
        **kwargs: `name`, `trainable`.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.models import ClinCLIPBackbone
    >>> from keras_clinclip.models import tiny_clinclip_image_encoder
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> model = ClinCLIPBackbone(tiny_clinclip_image_encoder(32),
    ...                          tiny_clinclip_text_encoder(), embedding_dim=4)
    >>> outputs = model({
    ...     "images": np.zeros((2, 32, 32, 3), "float32"),
    ...     "token_ids": np.ones((2, 6), "int32"),
    ...     "padding_mask": np.ones((2, 6), bool),
    ... })
    >>> tuple(outputs["image_embeddings"].shape)
    (2, 4)
    >>> tuple(outputs["logit_scale"].shape)
    (2, 1)
    """

    def __init__(
        self,
        image_encoder,
        text_encoder,
        embedding_dim=256,
        projection_hidden_dim=None,
        image_pooling="auto",
        text_pooling="mean",
        num_negations=0,
        negation_capacity=None,
        graph_feature_dim=None,
        graph_encoder=None,
        graph_max_nodes=None,
        graph_hidden_dim=128,
        graph_num_layers=2,
        logit_scale_init=1.0 / 0.07,
        max_logit_scale=100.0,
        dtype=None,
        **kwargs,
    ):
        num_negations = contract.check_arguments(
            text_pooling, num_negations, graph_encoder, graph_feature_dim
        )
        image_shape = towers.tower_image_shape(image_encoder)

        # === Layers ===
        def head(name):
            return ProjectionHead(
                embedding_dim, projection_hidden_dim, dtype=dtype, name=name
            )

        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_pooler = FeaturePooling(
            image_pooling, dtype=dtype, name="image_pooler"
        )
        if text_pooling == "mean":
            self.text_pooler = MaskedMeanPooling(
                dtype=dtype, name="text_pooler"
            )
        else:
            mode = "cls" if text_pooling == "cls" else "none"
            self.text_pooler = FeaturePooling(
                mode, dtype=dtype, name="text_pooler"
            )
        self.image_projection = head("image_projection")
        self.text_projection = head("text_projection")
        self.logit_scale_layer = LogitScale(
            initial_value=logit_scale_init,
            max_scale=max_logit_scale,
            name="logit_scale",
        )
        self.graph_encoder = None
        self.graph_projection = None
        if graph_feature_dim is not None:
            if graph_encoder is None:
                graph_encoder = ClinCLIPGraphEncoder(
                    hidden_dim=graph_hidden_dim,
                    num_layers=graph_num_layers,
                    dtype=dtype,
                    name="graph_encoder",
                )
            self.graph_encoder = graph_encoder
            self.graph_projection = head("graph_projection")
        if text_pooling != "pooled":
            towers.freeze_unused_pooler(text_encoder)
        self._text_pooling_mode = text_pooling
        self._text_input_names = towers.tower_input_names(text_encoder)
        self._image_input_names = towers.tower_input_names(image_encoder)

        # === Functional Model ===
        packing = None
        if num_negations and negation_capacity is not None:
            packing = NegationPacking(negation_capacity, name="pack_negations")
        inputs = contract.model_inputs(
            image_shape,
            num_negations,
            negation_mask=packing is not None,
            graph_feature_dim=graph_feature_dim,
            graph_max_nodes=graph_max_nodes,
        )
        embed_texts = functools.partial(self.embed_texts, training=None)
        image_embeddings = self.embed_images(inputs["images"], training=None)
        outputs = {"image_embeddings": image_embeddings}
        if num_negations:
            outputs.update(
                embed_with_negations(
                    embed_texts, inputs, num_negations, packing, dtype
                )
            )
        else:
            outputs["text_embeddings"] = embed_texts(
                inputs["token_ids"], inputs["padding_mask"]
            )
        outputs["logit_scale"] = self.logit_scale_layer(image_embeddings)
        if self.graph_encoder is not None:
            graph_features = self.graph_encoder(
                inputs["graph_nodes"],
                inputs["graph_adjacency"],
                inputs["graph_node_mask"],
            )
            outputs["graph_embeddings"] = self.graph_projection(graph_features)

        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.embedding_dim = int(embedding_dim)
        self.projection_hidden_dim = projection_hidden_dim
        self.image_pooling = image_pooling
        self.text_pooling = text_pooling
        self.num_negations = num_negations
        self.negation_capacity = None if packing is None else packing.capacity
        self.graph_feature_dim = graph_feature_dim
        self.graph_max_nodes = graph_max_nodes
        self.graph_hidden_dim = graph_hidden_dim
        self.graph_num_layers = graph_num_layers
        self.logit_scale_init = float(logit_scale_init)
        self.max_logit_scale = float(max_logit_scale)
        self.image_shape = image_shape

    def embed_images(self, images, training=False):
        """Projected, unnormalised image embeddings as backend tensors.

        Unlike `encode_images`, this is symbolic-friendly: use it inside
        another model's `call` (e.g. `ClinCLIPZeroShotClassifier`).

        Args:
            images: float `(B, H, W, C)` tensor (the preprocessor's output).
            training: bool, passed to the towers.

        Returns:
            A `(B, d)` tensor.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> model = tiny_clinclip_backbone()
        >>> images = np.zeros((2,) + model.image_shape, "float32")
        >>> tuple(model.embed_images(images).shape)
        (2, 16)
        """
        features = towers.image_tower_features(
            self.image_encoder,
            self._image_input_names,
            _as_tensor(images),
            training,
        )
        return self.image_projection(
            self.image_pooler(features), training=training
        )

    def embed_texts(self, token_ids, padding_mask, training=False):
        """Projected, unnormalised text embeddings as backend tensors.

        Args:
            token_ids: int `(B, L)` tensor.
            padding_mask: bool/int `(B, L)` tensor.
            training: bool, passed to the text tower.

        Returns:
            A `(B, d)` tensor.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> model = tiny_clinclip_backbone()
        >>> ids = np.ones((2, 16), "int32")
        >>> tuple(model.embed_texts(ids, ids > 0).shape)
        (2, 16)
        """
        padding_mask = ops.cast(_as_tensor(padding_mask), "int32")
        mode = self._text_pooling_mode
        features = towers.text_tower_features(
            self.text_encoder,
            self._text_input_names,
            _as_tensor(token_ids),
            padding_mask,
            pooled=mode == "pooled",
            training=training,
        )
        if mode == "mean":
            features = self.text_pooler(features, padding_mask)
        elif mode == "cls":
            features = self.text_pooler(features)
        return self.text_projection(features, training=training)

    def encode_images(self, images, batch_size=64):
        """L2-normalised image embeddings as numpy, in compiled batches.

        `clinclip_batch_encoder.encode_images` on this model.

        Args:
            images: float `(N, H, W, C)` array (the preprocessor's output).
            batch_size: int. Images per compiled forward pass.

        Returns:
            A float32 numpy array `(N, d)` of unit rows.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> images = np.zeros((3, 32, 32, 3), "float32")
        >>> tiny_clinclip_backbone().encode_images(images, batch_size=2).shape
        (3, 16)
        """
        contract.check_images(images, self.image_shape)
        return batch_encoder.encode_images(self, images, batch_size)

    def encode_texts(self, token_ids, padding_mask, batch_size=256):
        """L2-normalised text embeddings as numpy, in compiled batches.

        `clinclip_batch_encoder.encode_texts` on this model.

        Args:
            token_ids: int `(N, L)` array (the preprocessor's `tokenize`).
            padding_mask: bool/int `(N, L)` array.
            batch_size: int. Texts per compiled forward pass.

        Returns:
            A float32 numpy array `(N, d)` of unit rows.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> ids = np.ones((5, 8), "int32")
        >>> tiny_clinclip_backbone().encode_texts(ids, ids > 0).shape
        (5, 16)
        """
        limit = self.max_sequence_length
        contract.check_tokens(token_ids, "token_ids", 2, limit)
        return batch_encoder.encode_texts(
            self, token_ids, padding_mask, batch_size
        )

    def __call__(self, *args, **kwargs):
        # Check before Keras's input-spec check, for clearer messages.
        inputs = args[0] if args else kwargs.get("inputs")
        if isinstance(inputs, dict):
            contract.check_inputs(self, inputs)
        return super().__call__(*args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        contract.check_inputs(self, inputs)
        inputs = {key: inputs[key] for key in self.model_input_names}
        return super().call(inputs, training=training, mask=mask)

    @property
    def model_input_names(self):
        """The names of the model's inputs (a tuple of str)."""
        return tuple(self._inputs_struct)

    @property
    def max_sequence_length(self):
        """The text tower's maximum token length (None if unknown)."""
        return getattr(self.text_encoder, "max_sequence_length", None)

    @property
    def logit_scale(self):
        """The current clamped multiplier `s` as a Python float."""
        return float(ops.convert_to_numpy(self.logit_scale_layer.scale()))

    @classmethod
    def from_towers(
        cls,
        image_encoder=DEFAULT_IMAGE_TOWER,
        text_encoder=DEFAULT_TEXT_TOWER,
        image_size=224,
        dtype=None,
        load_weights=True,
        **kwargs,
    ):
        """Builds a ClinCLIP from tower instances or preset names/paths.

        Args:
            image_encoder, text_encoder, image_size, load_weights: see
                `keras_clinclip.models.clinclip_towers.resolve_towers`
                (defaults: a small ResNet trained from scratch and the
                pretrained all-MiniLM-L6-v2; or any KerasHub preset).
            dtype: dtype policy for the towers and the heads.
            **kwargs: the other `ClinCLIPBackbone` arguments.

        Returns:
            A `ClinCLIPBackbone`.

        Example:
        >>> model = ClinCLIPBackbone.from_towers(image_size=32,
        ...                                      embedding_dim=8)
        >>> model.text_encoder.hidden_dim
        384
        """
        image_encoder, text_encoder = towers.resolve_towers(
            image_encoder, text_encoder, image_size, dtype, load_weights
        )
        return cls(image_encoder, text_encoder, dtype=dtype, **kwargs)

    def save_to_preset(
        self,
        preset_dir,
        max_shard_size=10,
        preprocessor=None,
        model_card=None,
    ):
        """Saves the backbone (and optionally its preprocessor) as a preset.

        It loads with `ClinCLIPBackbone.from_preset(dir)` (and, with a
        preprocessor, `ClinCLIPPreprocessor` / `ClinCLIPPretrainer`); a
        model card (`README.md`) is written and recorded in `metadata.json`.

        Args:
            preset_dir: local directory to write.
            max_shard_size: float. Weight shard size in GB (KerasHub).
            preprocessor: optional `ClinCLIPPreprocessor` saved alongside.
            model_card: optional dict for the model card (`training_data`,
                `synthetic_images`, `training_config`, `metrics`, ...; see
                `keras_clinclip.models.clinclip_model_card`).

        Example:
        >>> import tempfile, pathlib
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> tiny_clinclip_backbone().save_to_preset(
        ...     folder, model_card={"training_data": "SynthCXR",
        ...                         "synthetic_images": True})
        >>> "only synthetic images" in (folder / "README.md").read_text()
        True
        """
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        if preprocessor is not None:
            preprocessor.save_to_preset(preset_dir)
        write_model_card(preset_dir, self, model_card)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_encoder": keras.layers.serialize(self.image_encoder),
                "text_encoder": keras.layers.serialize(self.text_encoder),
                "embedding_dim": self.embedding_dim,
                "projection_hidden_dim": self.projection_hidden_dim,
                "image_pooling": self.image_pooling,
                "text_pooling": self.text_pooling,
                "num_negations": self.num_negations,
                "negation_capacity": self.negation_capacity,
                "graph_feature_dim": self.graph_feature_dim,
                "graph_encoder": (
                    None
                    if self.graph_encoder is None
                    else keras.layers.serialize(self.graph_encoder)
                ),
                "graph_max_nodes": self.graph_max_nodes,
                "graph_hidden_dim": self.graph_hidden_dim,
                "graph_num_layers": self.graph_num_layers,
                "logit_scale_init": self.logit_scale_init,
                "max_logit_scale": self.max_logit_scale,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        dtype = config.get("dtype")
        for key in ("image_encoder", "text_encoder", "graph_encoder"):
            if isinstance(config.get(key), dict):
                config[key] = towers.deserialize_tower(
                    config[key], dtype, custom_objects
                )
        if isinstance(dtype, dict):
            config["dtype"] = keras.dtype_policies.get(dtype)
        return cls(**config)
