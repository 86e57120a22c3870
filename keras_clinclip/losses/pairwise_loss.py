"""The one base class of the pairwise losses: options, the batch, blocks.

A call, from `loss(y_true, y_pred)` to the log-sum-exp, in order:

1. `__call__` reads the batch dicts once (`read_batch`): the entries the
   options need (a missing one is a `KeyError` naming the option that
   needs it), their shapes, the label values and the logit scale, and
   with `check_finite=True` NaN/inf. It hands Keras the explicit float32
   tensors of the functional core, already normalised: V, U, the soft
   target features, the negated reports, s, b and lambda.
2. Keras's `Loss.__call__` calls `call`, which gathers the columns from
   every replica (`functional.gather_columns`) and runs the subclass's
   `row_losses` on the local rows, in one block or in blocks of
   `chunk_size` rows (`losses.chunking`); Keras then reduces the per-row
   losses.
3. `row_losses` is `functional.info_nce_rows` (the log-sum-exp of each
   row and column of L = s V U^T) or `functional.sigmoid_rows`.

A subclass chooses only its row function and its columns (`col_key`,
`uses_bias`, `takes_negations`) and, for `GraphAlignment`, the defaults.
"""

import warnings

import keras
from keras import ops

from keras_clinclip import training_defaults
from keras_clinclip.backend import collectives
from keras_clinclip.backend import compile_guard
from keras_clinclip.losses import batch as batch_lib
from keras_clinclip.losses import chunking
from keras_clinclip.losses import functional
from keras_clinclip.losses import targets

NEGATIVES = ("batch", "own", None)

# The `read_batch` entries that are `functional.Rows` fields.
_ROW_FIELDS = functional.Rows._fields


def _is_schedule(value):
    return callable(value) or isinstance(
        value, keras.optimizers.schedules.LearningRateSchedule
    )


def _first(value):
    """The first value of a scalar or per-example entry, in float32."""
    return ops.reshape(ops.cast(value, "float32"), (-1,))[0]


class PairwiseSoftTargetLoss(keras.losses.Loss):
    """Base class of the pairwise losses: it owns every option.

    A subclass sets `col_key` (the columns U: `"text_embeddings"` or
    `"graph_embeddings"`), `uses_bias` (reads `y_pred["logit_bias"]`),
    `takes_negations` (negated reports may be columns) and implements
    `row_losses(rows, columns, square)`, the per-row losses of
    `functional.Rows` against `functional.Columns`. The options are
    documented on `SoftLabelContrastive`.

    Args:
        sources: `"auto"`, or a list of `"text"`, `"clinical"`, `"graph"`.
        source_weights: None (equal), a list matching `sources`, or a dict.
        target_temperature: temperature of the target softmax.
        soft_weight: mass of the soft part (float or step schedule).
        uncertain_value: clinical value of uncertain (-1) labels.
        negatives: `"batch"`, `"own"` or None (no negated reports).
        negation_soft_targets: clinical soft targets for negated reports.
        logit_scale: None to read `y_pred["logit_scale"]`, or a fixed
            positive scale s.
        max_logit_scale: clamp of the logit scale (None: no clamp).
        chunk_size: rows per block (O(N * chunk) extra memory).
        check_finite: name the entry holding NaN/inf.
        name: name of the loss.
        reduction: Keras reduction of the per-study losses.
        dtype: ignored (the loss always computes in float32).

    Example:
    >>> from keras_clinclip.losses import SoftLabelContrastive
    >>> issubclass(SoftLabelContrastive, PairwiseSoftTargetLoss)
    True
    """

    col_key = "text_embeddings"
    uses_bias = False
    takes_negations = True
    # Reads whole `y_true`/`y_pred` dicts: Keras's own `compile`, which
    # gives a loss one output, says so at once (`compile_guard`).
    takes_whole_dicts = True

    def __init__(
        self,
        sources="auto",
        source_weights=None,
        target_temperature=training_defaults.TARGET_TEMPERATURE,
        soft_weight=training_defaults.SOFT_WEIGHT,
        uncertain_value=1.0,
        negatives="batch",
        negation_soft_targets=False,
        logit_scale=None,
        max_logit_scale=100.0,
        chunk_size=None,
        check_finite=False,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        # The loss always computes in float32, whatever the inputs' dtype.
        super().__init__(name=name, reduction=reduction, dtype="float32")
        del dtype
        compile_guard.install()
        self._sources, self._weights = targets.check_sources(
            sources, source_weights
        )
        self.sources = (
            sources if self._sources == "auto" else list(self._sources)
        )
        self.source_weights = source_weights
        if float(target_temperature) <= 0:
            raise ValueError(
                f"`target_temperature` must be > 0, got {target_temperature}."
            )
        self.target_temperature = float(target_temperature)
        if isinstance(soft_weight, dict):
            soft_weight = keras.saving.deserialize_keras_object(soft_weight)
        if not _is_schedule(soft_weight):
            soft_weight = float(soft_weight)
            if not 0.0 <= soft_weight <= 1.0:
                raise ValueError(
                    f"`soft_weight` must be in [0, 1], got {soft_weight}."
                )
        self.soft_weight = soft_weight
        self.uncertain_value = float(uncertain_value)
        if negatives not in NEGATIVES:
            raise ValueError(
                f"`negatives` must be one of {NEGATIVES}, got {negatives!r}."
            )
        if negatives is not None and not self.takes_negations:
            raise ValueError(
                f"{type(self).__name__} has no negated-report columns: "
                f"`negatives` must be None, got {negatives!r}."
            )
        self.negatives = negatives
        self.negation_soft_targets = bool(negation_soft_targets)
        if self.negation_soft_targets and (
            self._sources != "auto" and "clinical" not in self._sources
        ):
            raise ValueError(
                "`negation_soft_targets=True` gives negated reports "
                "clinical soft-target mass, so `sources` must include "
                f"'clinical'; got sources={tuple(self._sources)}."
            )
        if logit_scale is not None and not float(logit_scale) > 0:
            raise ValueError(
                "`logit_scale` must be a positive multiplier s (e.g. "
                f"1 / 0.07) or None; got {logit_scale}."
            )
        self.fixed_logit_scale = (
            None if logit_scale is None else float(logit_scale)
        )
        if max_logit_scale is not None and not float(max_logit_scale) > 0:
            raise ValueError(
                "`max_logit_scale` must be > 0 (it clamps the positive "
                f"multiplier s = exp(t)) or None; got {max_logit_scale}."
            )
        self.max_logit_scale = (
            None if max_logit_scale is None else float(max_logit_scale)
        )
        if chunk_size is not None:
            chunk_size = int(chunk_size)
            if chunk_size < 1:
                raise ValueError(
                    f"`chunk_size` must be >= 1, got {chunk_size}."
                )
        self.chunk_size = chunk_size
        self.check_finite = bool(check_finite)
        self._announced_sources = False

    # === Config ===
    def get_config(self):
        config = super().get_config()
        soft_weight = self.soft_weight
        if not isinstance(soft_weight, float):
            soft_weight = keras.saving.serialize_keras_object(soft_weight)
        config.update(
            {
                "sources": self.sources,
                "source_weights": self.source_weights,
                "target_temperature": self.target_temperature,
                "soft_weight": soft_weight,
                "uncertain_value": self.uncertain_value,
                "logit_scale": self.fixed_logit_scale,
                "max_logit_scale": self.max_logit_scale,
                "chunk_size": self.chunk_size,
                "check_finite": self.check_finite,
            }
        )
        if self.takes_negations:
            config["negatives"] = self.negatives
            config["negation_soft_targets"] = self.negation_soft_targets
        return config

    # === What the loss reads and trains ===
    @property
    def trained_keys(self):
        """The `y_pred` entries this loss passes gradient to."""
        keys = ["image_embeddings", self.col_key]
        if self.negatives is not None:
            keys.append("negation_embeddings")
        if self.fixed_logit_scale is None:
            keys.append("logit_scale")
        return tuple(keys)

    @property
    def required_outputs(self):
        """The `y_pred` entries every call reads, whatever the batch."""
        return tuple(self._needed_keys((), {})[1])

    @property
    def uses_training_step(self):
        """True when `soft_weight` is a schedule of the training step."""
        return _is_schedule(self.soft_weight)

    def needed_keys(self, y_true, y_pred):
        """The (y_true keys, y_pred keys) a call on this batch reads."""
        return self._needed_keys(
            targets.resolve_sources(self._sources, y_true, y_pred), y_pred
        )

    def _needed_keys(self, sources, y_pred):
        pred = ["image_embeddings", self.col_key]
        true = []
        if self.fixed_logit_scale is None:
            pred.append("logit_scale")
        if self.uses_bias:
            pred.append("logit_bias")
        for name in sources:
            where, key = targets.SOURCE_KEYS[name]
            (pred if where == "y_pred" else true).append(key)
        if self.negatives is not None and "negation_embeddings" in y_pred:
            pred.append("negation_embeddings")
            true.append("negation_mask")
            if self.negation_soft_targets:
                true.append("negation_labels")
        if self.uses_training_step:
            pred.append("training_step")
        return true, pred

    # === 1. Reading the batch, once ===
    def __call__(self, y_true, y_pred, sample_weight=None):
        batch = self.read_batch(y_true, y_pred)
        return super().__call__({}, batch, sample_weight=sample_weight)

    def read_batch(self, y_true, y_pred):
        """The checked batch dicts as the functional core's float32 tensors.

        Args:
            y_true: the batch's targets (`labels`, negation masks, ...).
            y_pred: the model's outputs (embeddings, logit scale, ...).

        Returns:
            A dict: `functional.Rows` fields (`v`, `u`, `features`,
            `clinical`, `negations`, `negation_valid`,
            `negation_clinical`), `col_features`, `scale`, and `bias` /
            `soft_weight` when they are tensors.
        """
        name = type(self).__name__
        batch_lib.check_dicts(name, y_true, y_pred)
        sources = targets.resolve_sources(self._sources, y_true, y_pred)
        true_keys, pred_keys = self._needed_keys(sources, y_pred)
        for where, values, keys in (
            ("y_pred", y_pred, pred_keys),
            ("y_true", y_true, true_keys),
        ):
            for key in keys:
                if key not in values:
                    raise KeyError(
                        f"`{where}[{key!r}]` is missing: "
                        f"{batch_lib.why(key, name, self.negatives)} needs "
                        f"it. `{where}` has keys {sorted(values)}."
                        f"{batch_lib.auto_hint(key, self._sources)}"
                    )
        y_true = {k: y_true[k] for k in true_keys}
        y_pred = {k: y_pred[k] for k in pred_keys}
        if self._sources == "auto" and not self._announced_sources:
            self._announced_sources = True  # say it once
            batch_lib.announce_sources(name, sources)
        batch_lib.check_shapes(name, self.col_key, sources, y_true, y_pred)
        if self.check_finite:
            y_true, y_pred = batch_lib.checked_finite(y_true, y_pred)
        y_true, y_pred = batch_lib.checked_values(y_true, y_pred)

        soft_weight = self.soft_weight
        if self.uses_training_step:
            step = _first(y_pred["training_step"])
            soft_weight = ops.clip(
                ops.cast(self.soft_weight(step), "float32"), 0.0, 1.0
            )
        elif soft_weight == 0.0:
            sources = ()  # no soft part: hard targets, no source features
        batch = {
            "v": targets.l2_normalize(y_pred["image_embeddings"]),
            "u": targets.l2_normalize(y_pred[self.col_key]),
            "scale": self._scale(y_pred),
        }
        if not isinstance(soft_weight, float):
            batch["soft_weight"] = soft_weight
        if self.uses_bias:
            batch["bias"] = _first(y_pred["logit_bias"])
        # Target features, no gradient: S = F_rows F_cols^T in one matmul
        # (rows weighted by w_k / sum w, columns as they are).
        features = {
            source: ops.stop_gradient(
                targets.source_features(
                    source, y_true, y_pred, self.uncertain_value
                )
            )
            for source in sources
        }
        rows, cols = targets.mixed_features(sources, self._weights, features)
        if rows is not None:
            batch["features"], batch["col_features"] = rows, cols
        if "negation_embeddings" in y_pred:
            mask = y_true["negation_mask"]
            batch["negations"] = functional.mask_negations(
                y_pred["negation_embeddings"], mask
            )
            batch["negation_valid"] = ops.stop_gradient(
                ops.cast(mask, "float32")
            )
            if self.negation_soft_targets and "clinical" in features:
                batch["clinical"] = features["clinical"]
                batch["negation_clinical"] = ops.stop_gradient(
                    targets.clinical_features(
                        targets.clinical_vectors(
                            y_true["negation_labels"], self.uncertain_value
                        )
                    )
                )
        return batch

    def _scale(self, y_pred):
        """s: fixed, or the first value of `y_pred["logit_scale"]`; clamped."""
        if self.fixed_logit_scale is not None:
            scale = ops.convert_to_tensor(self.fixed_logit_scale, "float32")
        else:
            scale = _first(y_pred["logit_scale"])
        if self.max_logit_scale is not None:
            scale = ops.minimum(scale, self.max_logit_scale)
        return scale

    # === 2. The rows against the gathered columns ===
    def call(self, y_true, y_pred):
        del y_true  # `y_pred` is the batch `read_batch` read from both
        batch = y_pred
        rows = functional.Rows(
            **{k: batch[k] for k in _ROW_FIELDS if k in batch}
        )
        rows, columns = functional.gather_columns(
            rows,
            scale=batch["scale"],
            soft_weight=batch.get("soft_weight", self.soft_weight),
            bias=batch.get("bias"),
            col_features=batch.get("col_features"),
            negatives=self.negatives,
        )
        n = batch_lib.static_dim(rows.v, 0)
        chunk = self.chunk_size
        if chunk is None or (n is not None and n <= chunk):
            # One block: the local rows are the whole batch on one replica.
            square = collectives.num_replicas() == 1
            return self.row_losses(rows, columns, square=square)
        if n is None:
            warnings.warn(
                f"{type(self).__name__}: `chunk_size` needs a static batch "
                "size (e.g. `drop_remainder=True`); computing unchunked.",
                stacklevel=2,
            )
            return self.row_losses(rows, columns)
        return chunking.chunked_rows(self.row_losses, rows, columns, n, chunk)

    # === 3. The row function (subclasses) ===
    def row_losses(self, rows, columns, square=False):
        """The (r,) losses of `rows` against `columns` (subclasses)."""
        raise NotImplementedError
