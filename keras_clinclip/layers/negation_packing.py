"""Encode only the negation slots that exist, in a buffer of static size.

A batch of `B` studies carries `K` negated-report slots per study, but on
real data most slots are empty (on the embedded IU data 36% of the studies
have a positive finding to negate). `NegationPacking` gathers the valid
slots, in slot order, into a buffer of `C` rows placed after the `B`
reports, so that the text tower runs on `B + C` texts instead of
`B + B·K`; `NegationUnpacking` scatters the buffer's embeddings back to
`(B, K, d)`, with zeros in the slots that were not encoded.

`C` is static (XLA and TPUs need static shapes), set by `capacity`:

- a float `f` in (0, 1]: `C = ceil(f · B · K)` (per replica: `B` is the
  batch the layer sees);
- an int `n >= 1`: `C = min(n, B · K)`.

Overflow (more valid slots than `C`): the first `C` valid slots in slot
order (row-major over `(B, K)`) are encoded; the others are dropped, and
counted: `encoded` is 0 for them, and `overflow` holds how many valid slots
the batch dropped. `mask_dropped_negations` folds `encoded` into the
loss's `y_true["negation_mask"]` (`ClinCLIPBackbone.compute_loss` does it),
so a dropped slot is masked exactly as an empty one. Nothing else changes:
the values and gradients of the encoded slots are those of encoding every
slot, and masked slots contribute exactly zero to the losses.
`negation_capacity_for` sets `f` from the data.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_clinclip.data import balance


def _check_capacity(capacity):
    if isinstance(capacity, bool) or not isinstance(
        capacity, (int, float, np.integer, np.floating)
    ):
        raise ValueError(
            "`negation_capacity` must be a float in (0, 1] (a fraction of "
            "the batch's B·K negation slots) or an int >= 1 (rows); got "
            f"{capacity!r}."
        )
    if isinstance(capacity, (float, np.floating)):
        if not 0.0 < float(capacity) <= 1.0:
            raise ValueError(
                "`negation_capacity` as a float is a fraction of the B·K "
                f"negation slots and must be in (0, 1]; got {capacity}."
            )
        return float(capacity)
    if int(capacity) < 1:
        raise ValueError(
            f"`negation_capacity` as an int is a number of rows and must be "
            f">= 1; got {capacity}."
        )
    return int(capacity)


def buffer_rows(capacity, slots):
    """Rows `C` of the negation buffer for `slots` = B·K slots.

    Args:
        capacity: a float in (0, 1] (fraction of the slots) or an int >= 1
            (rows), see `NegationPacking`.
        slots: int B·K, or a scalar tensor when the batch is dynamic (a
            TensorFlow graph without a static batch size).

    Returns:
        `C`, an int when `slots` is, else an int32 scalar tensor; never more
        than `slots`.

    Example:
    >>> buffer_rows(0.5, 32), buffer_rows(0.3, 10), buffer_rows(40, 32)
    (16, 3, 32)
    """
    capacity = _check_capacity(capacity)
    if isinstance(slots, (int, np.integer)):
        slots = int(slots)
        if isinstance(capacity, float):
            # The epsilon absorbs the rounding of f = C / slots.
            rows = math.ceil(capacity * slots - 1e-9)
        else:
            rows = capacity
        return min(max(rows, 1), slots)
    slots = ops.cast(slots, "int32")
    if isinstance(capacity, float):
        rows = ops.ceil(ops.cast(slots, "float64") * capacity - 1e-9)
        rows = ops.cast(rows, "int32")
    else:
        rows = ops.convert_to_tensor(capacity, "int32")
    return ops.minimum(ops.maximum(rows, 1), slots)


def _static_or_dynamic(tensor, axis):
    dim = tensor.shape[axis]
    if dim is None:
        return ops.shape(tensor)[axis]
    return int(dim)


@keras.saving.register_keras_serializable(package="keras_clinclip")
class NegationPacking(keras.layers.Layer):
    """Packs the reports and the valid negated reports into one text batch.

    The valid negation slots (`negation_mask > 0`), in slot order, fill a
    buffer of `C` rows (see `buffer_rows`) that follows the `B` reports;
    unused buffer rows repeat an empty slot (their embeddings are thrown
    away). Valid slots beyond `C` are dropped and counted (module
    docstring).

    Args:
        capacity: float in (0, 1] (a fraction of the batch's B·K slots)
            or int >= 1 (rows of the buffer).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        token_ids: int `(B, L)` reports.
        padding_mask: bool/int `(B, L)`.
        negation_token_ids: int `(B, K, L)` negated reports.
        negation_padding_mask: bool/int `(B, K, L)`.
        negation_mask: `(B, K)`, > 0 where the slot holds a negated report
            (the loss's `negation_mask`).

    Returns:
        `(token_ids, padding_mask, positions, encoded, overflow)`: int32
        `(B + C, L)` texts and their int32 mask for the text tower; int32
        `(B, K)` buffer row of each slot (0 where not encoded); float32
        `(B, K)` 1 where the slot was encoded; float32 `(B, 1)` the number
        of valid slots of the batch that did not fit, on every row.

    Example:
    >>> import numpy as np
    >>> ids = np.arange(6, dtype="int32").reshape(3, 2)
    >>> negations = 10 + np.arange(12, dtype="int32").reshape(3, 2, 2)
    >>> mask = np.array([[1, 0], [1, 1], [0, 0]], "float32")
    >>> packed, _, positions, encoded, overflow = NegationPacking(2)(
    ...     ids, ids > -1, negations, negations > 0, mask)
    >>> keras.ops.convert_to_numpy(packed)[3:].tolist()
    [[10, 11], [14, 15]]
    >>> keras.ops.convert_to_numpy(encoded).tolist()
    [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]
    >>> float(keras.ops.convert_to_numpy(overflow)[0, 0])
    1.0
    """

    def __init__(self, capacity=0.5, **kwargs):
        super().__init__(**kwargs)
        self.capacity = _check_capacity(capacity)

    def call(
        self,
        token_ids,
        padding_mask,
        negation_token_ids,
        negation_padding_mask,
        negation_mask,
    ):
        batch = _static_or_dynamic(token_ids, 0)
        k = int(negation_token_ids.shape[1])
        slots = batch * k
        rows = buffer_rows(self.capacity, slots)
        valid = ops.reshape(ops.greater(negation_mask, 0), (-1,))
        # Rank of each valid slot among the valid ones, in slot order.
        rank = ops.cast(ops.cumsum(ops.cast(valid, "int32")), "int32") - 1
        kept = ops.logical_and(valid, ops.less(rank, rows))
        # Kept slots first, in slot order; the buffer takes the first C.
        index = ops.arange(slots, dtype="int32")
        key = ops.where(kept, index, index + slots)
        order = ops.cast(ops.argsort(key), "int32")[:rows]
        length = ops.shape(token_ids)[-1]
        flat_ids = ops.reshape(negation_token_ids, (-1, length))
        flat_mask = ops.reshape(negation_padding_mask, (-1, length))
        ids = ops.concatenate(
            [
                ops.cast(token_ids, "int32"),
                ops.cast(ops.take(flat_ids, order, axis=0), "int32"),
            ],
            axis=0,
        )
        mask = ops.concatenate(
            [
                ops.cast(padding_mask, "int32"),
                ops.cast(ops.take(flat_mask, order, axis=0), "int32"),
            ],
            axis=0,
        )
        positions = ops.where(kept, rank, ops.zeros_like(rank))
        positions = ops.reshape(positions, (-1, k))
        encoded = ops.reshape(ops.cast(kept, "float32"), (-1, k))
        dropped = ops.sum(ops.cast(valid, "float32")) - ops.sum(encoded)
        overflow = ops.ones_like(encoded[:, :1]) * dropped
        return ids, mask, positions, encoded, overflow

    def compute_output_spec(
        self,
        token_ids,
        padding_mask,
        negation_token_ids,
        negation_padding_mask,
        negation_mask,
    ):
        batch, length = token_ids.shape[0], token_ids.shape[-1]
        k = negation_token_ids.shape[1]
        return (
            keras.KerasTensor((None, length), dtype="int32"),
            keras.KerasTensor((None, length), dtype="int32"),
            keras.KerasTensor((batch, k), dtype="int32"),
            keras.KerasTensor((batch, k), dtype="float32"),
            keras.KerasTensor((batch, 1), dtype="float32"),
        )

    def get_config(self):
        config = super().get_config()
        config["capacity"] = self.capacity
        return config


@keras.saving.register_keras_serializable(package="keras_clinclip")
class NegationUnpacking(keras.layers.Layer):
    """Splits `(B + C, d)` text embeddings into reports and negations.

    The inverse of `NegationPacking`: the first `B` rows are the reports;
    each negation slot takes its buffer row (`positions`), and slots not
    encoded get zeros (the losses mask them; `mask_dropped_negations`).

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        embeddings: `(B + C, d)` embeddings of `NegationPacking`'s texts.
        token_ids: `(B, L)` reports (for `B`).
        positions: int `(B, K)` buffer row of each slot.
        encoded: `(B, K)`, 1 where the slot was encoded.

    Returns:
        `(reports, negations)`: `(B, d)` and `(B, K, d)`.

    Example:
    >>> import numpy as np
    >>> embeddings = np.arange(10, dtype="float32").reshape(5, 2)
    >>> reports, negations = NegationUnpacking()(
    ...     embeddings, np.zeros((3, 4), "int32"),
    ...     np.array([[0, 0], [1, 0], [0, 0]], "int32"),
    ...     np.array([[1, 0], [1, 0], [0, 0]], "float32"))
    >>> keras.ops.convert_to_numpy(negations)[:, 0].tolist()
    [[6.0, 7.0], [8.0, 9.0], [0.0, 0.0]]
    """

    def call(self, embeddings, token_ids, positions, encoded):
        batch = _static_or_dynamic(token_ids, 0)
        k = int(positions.shape[1])
        dim = ops.shape(embeddings)[-1]
        reports = embeddings[:batch]
        buffer = embeddings[batch:]
        negations = ops.take(buffer, ops.reshape(positions, (-1,)), axis=0)
        negations = ops.reshape(negations, (-1, k, dim))
        keep = ops.greater(encoded, 0)[:, :, None]
        negations = ops.where(keep, negations, ops.zeros_like(negations))
        return reports, negations

    def compute_output_spec(self, embeddings, token_ids, positions, encoded):
        batch, dim = token_ids.shape[0], embeddings.shape[-1]
        dtype = embeddings.dtype
        return (
            keras.KerasTensor((batch, dim), dtype=dtype),
            keras.KerasTensor((batch, positions.shape[1], dim), dtype=dtype),
        )


def mask_dropped_negations(y_true, y_pred):
    """`y_true` whose `negation_mask` also masks the slots not encoded.

    With a `negation_capacity`, `ClinCLIPBackbone` returns
    `y_pred["negation_encoded"]` (B, K); a valid slot dropped by an
    overflow has zeros for its embedding and must be masked like an empty
    one. `ClinCLIPBackbone.compute_loss` calls this; call it yourself when
    you apply the losses to the model's outputs outside `fit`.

    Args:
        y_true: dict of targets, with `negation_mask` (B, K) when the batch
            has negations.
        y_pred: dict of model outputs.

    Returns:
        `y_true` itself when there is nothing to fold, else a new dict.

    Example:
    >>> import numpy as np
    >>> y = mask_dropped_negations(
    ...     {"negation_mask": np.ones((1, 2), "float32")},
    ...     {"negation_encoded": np.array([[1.0, 0.0]], "float32")})
    >>> keras.ops.convert_to_numpy(y["negation_mask"]).tolist()
    [[1.0, 0.0]]
    """
    if not isinstance(y_true, dict) or not isinstance(y_pred, dict):
        return y_true
    if "negation_mask" not in y_true or "negation_encoded" not in y_pred:
        return y_true
    mask = ops.cast(y_true["negation_mask"], "float32")
    encoded = ops.cast(y_pred["negation_encoded"], "float32")
    return dict(y_true, negation_mask=mask * encoded)


def negation_capacity_for(
    negation_mask,
    batch_size,
    overflow_rate=0.01,
    samples=4000,
    seed=0,
    balanced=False,
):
    """The smallest capacity fraction that (rarely) overflows on some data.

    With `balanced=True` (batches of `make_dataset(...,
    negations=NegationOptions(balance=True))`), every batch holds a known number
    of valid slots, and the fraction returned is that of the largest, so the
    buffer never overflows (`keras_clinclip.data.balance`). Otherwise (random
    batches) it draws `samples` batches of `batch_size` studies (without
    replacement within a batch) from the rows of `negation_mask` and
    returns the fraction `C / (batch_size · K)` of the smallest `C` that
    holds every valid slot in all but `overflow_rate` of them.

    Args:
        negation_mask: `(N, K)` 0/1 array, the `negation_mask` of the
            training records (e.g. `records["negation_mask"]`).
        batch_size: studies per batch *per replica* (the batch the
            backbone sees: the global batch under JAX, a replica's under
            `tf.distribute` and torch DDP).
        overflow_rate: the share of batches allowed to overflow (random
            batches only).
        samples: batches drawn (random batches only).
        seed: seed of the draw.
        balanced: the batches are negation-balanced; `negation_mask` must
            then be in the pipeline's row order (`dataset.negation_mask`).

    Returns:
        A float in (0, 1], for `ClinCLIPBackbone(negation_capacity=...)`.

    Example:
    >>> import numpy as np
    >>> mask = np.zeros((100, 1), "float32")
    >>> mask[:30] = 1.0
    >>> negation_capacity_for(mask, 10) <= 0.7
    True
    >>> negation_capacity_for(np.ones((100, 2)), 10)
    1.0
    >>> negation_capacity_for(mask, 10, balanced=True)
    0.3
    """
    mask = np.asarray(negation_mask, dtype="float32")
    if mask.ndim != 2 or mask.shape[0] == 0:
        raise ValueError(
            "`negation_mask` must be a non-empty (studies, K) array; got "
            f"shape {mask.shape}."
        )
    batch_size = int(batch_size)
    if not 1 <= batch_size <= mask.shape[0]:
        raise ValueError(
            f"`batch_size` must be in [1, {mask.shape[0]}] (the studies in "
            f"`negation_mask`); got {batch_size}."
        )
    if not 0.0 <= overflow_rate < 1.0:
        raise ValueError(
            f"`overflow_rate` must be in [0, 1); got {overflow_rate}."
        )
    if balanced:
        return balance.balanced_negation_capacity(mask, batch_size)
    per_study = (mask > 0).sum(axis=1)
    rng = np.random.default_rng(seed)
    counts = np.array(
        [
            per_study[
                rng.choice(len(per_study), batch_size, replace=False)
            ].sum()
            for _ in range(int(samples))
        ]
    )
    rows = int(np.quantile(counts, 1.0 - overflow_rate, method="higher"))
    slots = batch_size * mask.shape[1]
    return max(rows, 1) / slots
