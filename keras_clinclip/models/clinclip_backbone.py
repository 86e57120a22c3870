"""ClinCLIP: image, text and graph towers, projections, logit scale.

Its graph and its config; around it `clinclip_inputs` (input checks),
`clinclip_tower_calls`, `clinclip_compile`, `clinclip_batch_encoder`
(numpy encoders) and `clinclip_towers` (`clinclip_from_towers`).
"""

import functools

import keras
from keras import ops
from keras_hub.models import Backbone

from keras_clinclip.layers.feature_pooling import FeaturePooling
from keras_clinclip.layers.logit_scale import LogitScale
from keras_clinclip.layers.negation_packing import NegationPacking
from keras_clinclip.layers.negation_stacking import embed_with_negations
from keras_clinclip.layers.projection_head import ProjectionHead
from keras_clinclip.models import clinclip_inputs as contract
from keras_clinclip.models import clinclip_tower_calls as towers
from keras_clinclip.models.clinclip_compile import ClinCLIPCompileMixin

__all__ = ["ClinCLIPBackbone"]


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPBackbone(ClinCLIPCompileMixin, Backbone):
    """ClinCLIP: a CLIP backbone for chest X-rays and their reports.

    Image, text and (optional) graph towers projected to a shared
    `embedding_dim`, and CLIP's learnable logit scale (1/0.07, clamped at
    100): a dict of inputs (see `docs/models.md`) to the dict of
    embeddings and `logit_scale` that `keras_clinclip.losses` take.

    Args:
        image_encoder: a Keras model from `(B, H, W, C)` images to
            features of rank 2, 3 or 4 (pooled by `FeaturePooling("auto")`).
        text_encoder: a Keras model from `token_ids` (and `padding_mask`)
            to `(B, L, D)` or a dict with `sequence_output`.
        graph_encoder: None, or the graph tower: a layer called as
            `(nodes, adjacency, node_mask)` with a `feature_dim` F (and
            `max_nodes`), e.g. `ClinCLIPGraphEncoder(feature_dim=F)`.
        embedding_dim: int. Shared embedding size `d`.
        projection_hidden_dim: int or None (linear projections, CLIP).
        text_pooling: `"mean"` (valid tokens), `"cls"` or `"pooled"`.
        num_negations: int. K negated reports per study (0 = none).
        negation_capacity: None (encode all B·K negation slots) or a
            buffer of the valid ones (`NegationPacking`, `negation_mask`).
        dtype: dtype policy of the heads (pass the same to the towers).
        **kwargs: `name`, `trainable`.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_image_encoder
    >>> from keras_clinclip.models import tiny_clinclip_text_encoder
    >>> model = ClinCLIPBackbone(tiny_clinclip_image_encoder(32),
    ...                          tiny_clinclip_text_encoder(), embedding_dim=4)
    >>> outputs = model({"images": ops.zeros((2, 32, 32, 3)),
    ...                  "token_ids": ops.ones((2, 6), "int32"),
    ...                  "padding_mask": ops.ones((2, 6), "int32")})
    >>> tuple(outputs["image_embeddings"].shape)
    (2, 4)
    """

    def __init__(
        self,
        image_encoder,
        text_encoder,
        graph_encoder=None,
        embedding_dim=256,
        projection_hidden_dim=None,
        text_pooling="mean",
        num_negations=0,
        negation_capacity=None,
        dtype=None,
        **kwargs,
    ):
        num_negations = contract.check_arguments(
            text_pooling, num_negations, graph_encoder
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
            "auto", dtype=dtype, name="image_pooler"
        )
        self.text_pooler = towers.text_pooler(text_pooling, dtype)
        self.image_projection = head("image_projection")
        self.text_projection = head("text_projection")
        self.logit_scale_layer = LogitScale(name="logit_scale")
        self.graph_encoder = graph_encoder
        self.graph_projection = (
            head("graph_projection") if graph_encoder else None
        )
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
            image_shape, num_negations, packing is not None, graph_encoder
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
        if graph_encoder is not None:
            graph = [inputs[key] for key in contract.GRAPH_KEYS]
            outputs["graph_embeddings"] = self.graph_projection(
                graph_encoder(*graph)
            )

        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.embedding_dim = int(embedding_dim)
        self.projection_hidden_dim = projection_hidden_dim
        self.text_pooling = text_pooling
        self.num_negations = num_negations
        self.negation_capacity = None if packing is None else packing.capacity
        self.image_shape = image_shape

    def embed_images(self, images, training=False):
        """Projected, unnormalised `(B, d)` image embeddings (symbolic too).

        Args:
            images: float `(B, H, W, C)` (the preprocessor's output).
            training: bool, passed to the towers.

        Returns:
            A `(B, d)` tensor.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> images = ops.zeros((2, 32, 32, 3))
        >>> tuple(tiny_clinclip_backbone().embed_images(images).shape)
        (2, 16)
        """
        features = towers.image_tower_features(
            self.image_encoder, self._image_input_names, images, training
        )
        return self.image_projection(
            self.image_pooler(features), training=training
        )

    def embed_texts(self, token_ids, padding_mask, training=False):
        """Projected, unnormalised `(B, d)` text embeddings (symbolic too).

        Args:
            token_ids: int `(B, L)`.
            padding_mask: bool/int `(B, L)`.
            training: bool, passed to the text tower.

        Returns:
            A `(B, d)` tensor.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> ids = ops.ones((2, 16), "int32")
        >>> tuple(tiny_clinclip_backbone().embed_texts(ids, ids > 0).shape)
        (2, 16)
        """
        padding_mask = ops.cast(towers.as_tensor(padding_mask), "int32")
        mode = self._text_pooling_mode
        features = towers.text_tower_features(
            self.text_encoder,
            self._text_input_names,
            token_ids,
            padding_mask,
            pooled=mode == "pooled",
            training=training,
        )
        if mode == "mean":
            features = self.text_pooler(features, padding_mask)
        elif mode == "cls":
            features = self.text_pooler(features)
        return self.text_projection(features, training=training)

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

    @property
    def graph_feature_dim(self):
        """Node feature size F of the graph tower (None: no graph)."""
        return getattr(self.graph_encoder, "feature_dim", None)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_encoder": keras.layers.serialize(self.image_encoder),
                "text_encoder": keras.layers.serialize(self.text_encoder),
                "graph_encoder": keras.layers.serialize(self.graph_encoder),
                "embedding_dim": self.embedding_dim,
                "projection_hidden_dim": self.projection_hidden_dim,
                "text_pooling": self.text_pooling,
                "num_negations": self.num_negations,
                "negation_capacity": self.negation_capacity,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**towers.deserialize_towers(config, custom_objects))
