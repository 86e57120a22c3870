"""Encode every negation slot: stack the negated reports after the reports.

With `K` negated reports per study and no `negation_capacity`, the text
tower encodes the `B` reports and all `B·K` negation slots in one pass:
`NegationStacking` stacks `(B, L)` and `(B, K, L)` into `(B + B·K, L)`,
and `NegationUnstacking` splits the embeddings back into `(B, d)` and
`(B, K, d)`. `keras_clinclip.layers.NegationPacking` is the variant that
encodes only the valid slots, in a buffer of static size;
`embed_with_negations` wires either around a text branch.
"""

import keras
from keras import ops

from keras_clinclip.layers.negation_packing import NegationUnpacking
from keras_clinclip.layers.shapes import static_shape


@keras.saving.register_keras_serializable(package="keras_clinclip")
class NegationStacking(keras.layers.Layer):
    """Stacks `(B, L)` reports and `(B, K, L)` negations into `(B+BK, L)`.

    Call arguments:
        token_ids: int `(B, L)` reports.
        padding_mask: bool/int `(B, L)`.
        negation_token_ids: int `(B, K, L)` negated reports.
        negation_padding_mask: bool/int `(B, K, L)`.

    Returns:
        `(token_ids, padding_mask)`: `(B + B·K, L)` ids (the dtype of
        `token_ids`) and an int32 mask, the reports first, then the
        negations in row-major `(B, K)` order.

    Example:
    >>> import numpy as np
    >>> ids, mask = NegationStacking()(
    ...     np.ones((2, 3), "int32"), np.ones((2, 3), "int32"),
    ...     np.zeros((2, 4, 3), "int32"), np.zeros((2, 4, 3), "int32"))
    >>> tuple(ids.shape), tuple(mask.shape)
    ((10, 3), (10, 3))
    """

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
            static_shape(token_ids),
            static_shape(padding_mask),
            static_shape(negation_ids),
            static_shape(negation_mask),
        )
        dtype = keras.backend.standardize_dtype(token_ids.dtype)
        return (
            keras.KerasTensor(ids_shape, dtype=dtype),
            keras.KerasTensor(mask_shape, dtype="int32"),
        )


@keras.saving.register_keras_serializable(package="keras_clinclip")
class NegationUnstacking(keras.layers.Layer):
    """Splits `(B+BK, d)` embeddings into `(B, d)` and `(B, K, d)`.

    Args:
        num_negations: int K, negation slots per study.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        embeddings: `(B + B·K, d)`, in `NegationStacking`'s order.
        token_ids: the `(B, L)` reports (only their batch size is read).

    Returns:
        `(reports, negations)`: `(B, d)` and `(B, K, d)`.

    Example:
    >>> import numpy as np
    >>> reports, negations = NegationUnstacking(2)(
    ...     np.ones((6, 5), "float32"), np.ones((2, 3), "int32"))
    >>> tuple(reports.shape), tuple(negations.shape)
    ((2, 5), (2, 2, 5))
    """

    def __init__(self, num_negations, **kwargs):
        super().__init__(**kwargs)
        self.num_negations = int(num_negations)

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
            static_shape(embeddings), static_shape(token_ids)
        )
        dtype = embeddings.dtype
        return (
            keras.KerasTensor(reports, dtype=dtype),
            keras.KerasTensor(negations, dtype=dtype),
        )

    def get_config(self):
        config = super().get_config()
        config["num_negations"] = self.num_negations
        return config


def embed_with_negations(
    embed_texts, inputs, num_negations, packing=None, dtype=None
):
    """Embeds the reports and their negated versions in one text pass.

    Every negation slot is stacked after the reports (`NegationStacking`),
    or, with `packing` (a `NegationPacking`), only the valid ones, in a
    buffer of static size; the embeddings are then split back.

    Args:
        embed_texts: the text branch, `(token_ids, padding_mask) ->
            (N, d)` embeddings.
        inputs: dict with `token_ids` `(B, L)`, `padding_mask`,
            `negation_token_ids` `(B, K, L)`, `negation_padding_mask` and,
            with `packing`, `negation_mask` `(B, K)`.
        num_negations: int K >= 1.
        packing: None or a `NegationPacking` layer.
        dtype: dtype policy of the stacking layers.

    Returns:
        A dict: `text_embeddings` `(B, d)`, `negation_embeddings`
        `(B, K, d)` and, with `packing`, `negation_encoded` `(B, K)` and
        `negation_overflow` `(B, 1)`.

    Example:
    >>> import numpy as np
    >>> ones = np.ones((2, 1, 3), "int32")
    >>> inputs = {"token_ids": ones[:, 0], "padding_mask": ones[:, 0],
    ...           "negation_token_ids": 2 * ones,
    ...           "negation_padding_mask": ones}
    >>> out = embed_with_negations(
    ...     lambda ids, mask: ops.cast(ids, "float32"), inputs, 1)
    >>> ops.convert_to_numpy(out["negation_embeddings"]).tolist()
    [[[2.0, 2.0, 2.0]], [[2.0, 2.0, 2.0]]]
    """
    token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
    negations = (inputs["negation_token_ids"], inputs["negation_padding_mask"])
    outputs = {}
    if packing is None:
        ids, mask = NegationStacking(dtype=dtype, name="pack_negations")(
            token_ids, padding_mask, *negations
        )
        unpack = NegationUnstacking(
            num_negations, dtype=dtype, name="unpack_negations"
        )
        extra = ()
    else:
        ids, mask, positions, encoded, overflow = packing(
            token_ids, padding_mask, *negations, inputs["negation_mask"]
        )
        unpack = NegationUnpacking(dtype=dtype, name="unpack_negations")
        extra = (positions, encoded)
        outputs["negation_encoded"] = encoded
        outputs["negation_overflow"] = overflow
    reports, negation_embeddings = unpack(
        embed_texts(ids, mask), token_ids, *extra
    )
    outputs["negation_embeddings"] = negation_embeddings
    outputs["text_embeddings"] = reports
    return outputs
