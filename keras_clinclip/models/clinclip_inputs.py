"""The input contract of `ClinCLIPBackbone`: its `keras.Input`s and checks.

`check_arguments` checks the constructor's arguments.

`model_inputs` declares the symbolic inputs of the functional graph;
`check_inputs` (called before Keras's own input-spec check, for messages
that name the key, the shape and the fix), `check_images` and
`check_tokens` read the same contract on concrete or symbolic values.
"""

import keras

from keras_clinclip.layers.shapes import static_shape

GRAPH_KEYS = ("graph_nodes", "graph_adjacency", "graph_node_mask")
TEXT_POOLING = ("mean", "cls", "pooled")


def check_arguments(text_pooling, num_negations, graph_encoder):
    """Checks the backbone's arguments; returns `num_negations` as int.

    Args:
        text_pooling: one of `TEXT_POOLING`.
        num_negations: int >= 0 or None.
        graph_encoder: None or a layer with a `feature_dim` (F).

    Returns:
        int K.

    Example:
    >>> check_arguments("mean", None, None)
    0
    """
    if text_pooling not in TEXT_POOLING:
        raise ValueError(
            f"`text_pooling` must be one of {TEXT_POOLING}. "
            f"Got {text_pooling!r}."
        )
    num_negations = int(num_negations or 0)
    if num_negations < 0:
        raise ValueError(f"`num_negations` must be >= 0. Got {num_negations}.")
    if graph_encoder is not None and not getattr(
        graph_encoder, "feature_dim", None
    ):
        raise ValueError(
            f"`graph_encoder` ({type(graph_encoder).__name__}) has no "
            "`feature_dim`: the backbone reads the node feature size F of "
            "`graph_nodes` (B, M, F) from it. Use "
            "`ClinCLIPGraphEncoder(feature_dim=F)` or set `feature_dim` "
            "(and optionally `max_nodes`) on your layer."
        )
    return num_negations


def model_inputs(image_shape, num_negations=0, negation_mask=False, graph=None):
    """The `keras.Input` dict of a ClinCLIP backbone.

    Args:
        image_shape: `(H, W, C)` of the image tower.
        num_negations: int K (0: no negation inputs).
        negation_mask: bool. Also take `negation_mask` `(B, K)` (a
            `negation_capacity` packs the valid slots).
        graph: None (no graph inputs) or the graph tower: its
            `feature_dim` F and `max_nodes` M (None or absent: any).

    Returns:
        A dict of `keras.KerasTensor`s, keyed by input name.

    Example:
    >>> inputs = model_inputs((32, 32, 3), num_negations=2)
    >>> sorted(inputs)  # doctest: +NORMALIZE_WHITESPACE
    ['images', 'negation_padding_mask', 'negation_token_ids',
     'padding_mask', 'token_ids']
    """
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
        for name in ("negation_token_ids", "negation_padding_mask"):
            inputs[name] = keras.Input(
                shape=(num_negations, None), dtype="int32", name=name
            )
        if negation_mask:
            inputs["negation_mask"] = keras.Input(
                shape=(num_negations,), name="negation_mask"
            )
    if graph is not None:
        nodes = getattr(graph, "max_nodes", None)
        inputs["graph_nodes"] = keras.Input(
            shape=(nodes, graph.feature_dim), name="graph_nodes"
        )
        inputs["graph_adjacency"] = keras.Input(
            shape=(nodes, nodes), name="graph_adjacency"
        )
        inputs["graph_node_mask"] = keras.Input(
            shape=(nodes,), name="graph_node_mask"
        )
    return inputs


def check_images(images, image_shape, name="images"):
    """Raises a `ValueError` unless `images` is a batch the tower takes.

    Args:
        images: a tensor or array, `(B, H, W, C)` expected.
        image_shape: `(H, W, C)` of the image tower.
        name: the input's name, for the message.

    Example:
    >>> import numpy as np
    >>> check_images(np.zeros((2, 8, 8, 3)), (8, 8, 3))
    >>> check_images(np.zeros((2, 8, 8, 1)), (8, 8, 3))
    Traceback (most recent call last):
    ...
    ValueError: `images` must have 3 channels ...
    """
    shape = static_shape(images)
    if shape is None:
        return
    if len(shape) != 4:
        raise ValueError(
            f"`{name}` must be a batch of images of shape (batch, height, "
            f"width, {image_shape[-1]}); got shape {shape}. Use "
            "`ClinCLIPPreprocessor.convert_images` for single, "
            "grayscale or uint8 images."
        )
    channels = image_shape[-1]
    if shape[-1] is not None and channels and shape[-1] != channels:
        raise ValueError(
            f"`{name}` must have {channels} channels (the image tower's "
            f"input is {image_shape}); got shape {shape}. Use "
            "`ClinCLIPPreprocessor.convert_images` to turn grayscale "
            "radiographs into the tower's input."
        )


def check_tokens(token_ids, name, rank, max_length=None):
    """Raises a `ValueError` unless `token_ids` has `rank` and fits.

    Args:
        token_ids: a tensor or array of token ids (or its padding mask).
        name: the input's name, for the message.
        rank: int. The expected rank (2 for reports, 3 for negations).
        max_length: int or None. The text tower's longest sequence.

    Example:
    >>> import numpy as np
    >>> check_tokens(np.ones((2, 40)), "token_ids", 2, max_length=32)
    Traceback (most recent call last):
    ...
    ValueError: `token_ids` has 40 tokens per text but ...
    """
    shape = static_shape(token_ids)
    if shape is None:
        return
    if len(shape) != rank:
        raise ValueError(f"`{name}` must have rank {rank}; got shape {shape}.")
    if max_length and shape[-1] is not None and shape[-1] > max_length:
        raise ValueError(
            f"`{name}` has {shape[-1]} tokens per text but the text "
            f"tower takes at most {max_length} (max_sequence_length). Lower "
            "the preprocessor's `sequence_length`."
        )


def _missing_input(model, inputs, key):
    if key.startswith("negation"):
        reason = f"num_negations={model.num_negations}"
    elif key in GRAPH_KEYS:
        given = [k for k in GRAPH_KEYS if k in inputs]
        reason = (
            f"the model has a graph branch (graph_feature_dim="
            f"{model.graph_feature_dim}); graph inputs given: {given}"
        )
    else:
        reason = "every ClinCLIPBackbone needs it"
    return ValueError(
        f"Missing input `{key}` ({reason}). Inputs present: {sorted(inputs)}."
    )


def _check_graph(inputs):
    nodes = static_shape(inputs["graph_nodes"])
    adjacency = static_shape(inputs["graph_adjacency"])
    if nodes and len(nodes) != 3:
        raise ValueError(
            "`graph_nodes` must be (batch, nodes, features); got "
            f"shape {nodes}."
        )
    if not (nodes and adjacency):
        return
    counts = (nodes[1], adjacency[1], adjacency[2])
    if len(adjacency) != 3 or (
        None not in counts and not counts[0] == counts[1] == counts[2]
    ):
        raise ValueError(
            "`graph_adjacency` must be (batch, nodes, nodes) with the "
            f"node count of `graph_nodes` {nodes}; got shape {adjacency}."
        )


def check_inputs(model, inputs):
    """Raises a `ValueError` naming the key, the shape and the fix.

    Args:
        model: a `ClinCLIPBackbone` (its `model_input_names`,
            `image_shape`, `max_sequence_length`, `num_negations`,
            `graph_feature_dim`).
        inputs: the dict the model is called on (extra keys allowed).

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> check_inputs(tiny_clinclip_backbone(), {"images": None})
    Traceback (most recent call last):
    ...
    ValueError: Missing input `images` (every ClinCLIPBackbone needs it)...
    """
    if not isinstance(inputs, dict):
        raise ValueError(
            "ClinCLIPBackbone takes a dict of inputs with keys "
            f"{sorted(model.model_input_names)}; got "
            f"{type(inputs).__name__}."
        )
    for key in model.model_input_names:
        if inputs.get(key) is None:
            raise _missing_input(model, inputs, key)
    limit = model.max_sequence_length
    check_images(inputs["images"], model.image_shape)
    check_tokens(inputs["token_ids"], "token_ids", 2, limit)
    check_tokens(inputs["padding_mask"], "padding_mask", 2, limit)
    if model.num_negations:
        ids = inputs["negation_token_ids"]
        check_tokens(ids, "negation_token_ids", 3, limit)
        shape = static_shape(ids)
        if shape and shape[1] is not None and shape[1] != model.num_negations:
            raise ValueError(
                f"`negation_token_ids` has {shape[1]} negations per "
                f"study but the model was built with num_negations="
                f"{model.num_negations}; got shape {shape}."
            )
    if model.graph_feature_dim is not None:
        _check_graph(inputs)
