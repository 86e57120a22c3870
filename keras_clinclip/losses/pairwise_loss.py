"""The Keras side of the pairwise losses: options, batch dicts, blocks.

`PairwiseSoftTargetLoss` is a thin `keras.losses.Loss`: it keeps the
options (and their config), reads and checks the batch dicts
(`losses.batch`), turns them into the explicit tensors of the functional
core (`losses.functional.Rows`/`Columns`) and hands them to the subclass's
`row_losses`, in blocks when `chunk_size` is set (`losses.chunking`).
`NegationAwareLoss` adds negated reports as hard negatives. The maths is
in `losses.functional` and `losses.targets`.
"""

import warnings

import keras
from keras import ops

from keras_clinclip.backend import collectives
from keras_clinclip.losses import batch
from keras_clinclip.losses import chunking
from keras_clinclip.losses import functional
from keras_clinclip.losses import targets

NEGATIVES = ("batch", "own", None)


def _is_schedule(value):
    return callable(value) or isinstance(
        value, keras.optimizers.schedules.LearningRateSchedule
    )


class PairwiseSoftTargetLoss(keras.losses.Loss):
    """Base class: options, batch dicts, soft-target features and blocks.

    Subclasses set `row_key`/`col_key` (and `uses_bias`) and implement
    `row_losses(rows, columns, square)`, the per-row losses of
    `functional.Rows` against `functional.Columns`.

    Args:
        sources: `"auto"`, or a list of `"text"`, `"clinical"`, `"graph"`.
        source_weights: None (equal), a list matching `sources`, or a dict.
        target_temperature: temperature of the target softmax.
        soft_weight: mass of the soft part (float or step schedule).
        uncertain_value: clinical value of uncertain (-1) labels.
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

    row_key = "image_embeddings"
    col_key = "text_embeddings"
    uses_bias = False
    # Negated reports are off unless a subclass turns them on
    # (`NegationAwareLoss`).
    negatives = None
    negation_soft_targets = False

    def __init__(
        self,
        sources="auto",
        source_weights=None,
        target_temperature=0.1,
        soft_weight=0.5,
        uncertain_value=1.0,
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
                "max_logit_scale": self.max_logit_scale,
                "chunk_size": self.chunk_size,
                "check_finite": self.check_finite,
            }
        )
        return config

    # === Inputs ===
    def needed_keys(self, y_true, y_pred):
        """The (y_true keys, y_pred keys) this call reads."""
        pred = [self.row_key, self.col_key]
        true = []
        if self.fixed_logit_scale is None:
            pred.append("logit_scale")
        if self.uses_bias:
            pred.append("logit_bias")
        for name in targets.resolve_sources(self._sources, y_true, y_pred):
            where, key = targets.SOURCE_KEYS[name]
            (pred if where == "y_pred" else true).append(key)
        if self.negatives is not None and "negation_embeddings" in y_pred:
            pred.append("negation_embeddings")
            true.append("negation_mask")
            if self.negation_soft_targets:
                true.append("negation_labels")
        if _is_schedule(self.soft_weight):
            pred.append("training_step")
        return true, pred

    @property
    def trained_keys(self):
        """The `y_pred` entries this loss passes gradient to."""
        keys = [self.row_key, self.col_key]
        if self.negatives is not None:
            keys.append("negation_embeddings")
        if self.fixed_logit_scale is None:
            keys.append("logit_scale")
        return tuple(keys)

    @property
    def uses_training_step(self):
        """True when `soft_weight` is a schedule of the training step."""
        return _is_schedule(self.soft_weight)

    def __call__(self, y_true, y_pred, sample_weight=None):
        name = type(self).__name__
        batch.check_dicts(name, y_true, y_pred)
        true_keys, pred_keys = self.needed_keys(y_true, y_pred)
        for where, values, keys in (
            ("y_pred", y_pred, pred_keys),
            ("y_true", y_true, true_keys),
        ):
            for key in keys:
                if key not in values:
                    raise KeyError(
                        f"`{where}[{key!r}]` is missing: "
                        f"{batch.why(key, name, self.negatives)} needs it. "
                        f"`{where}` has keys {sorted(values)}."
                        f"{batch.auto_hint(key, self._sources)}"
                    )
        y_true = {k: y_true[k] for k in true_keys}
        y_pred = {k: y_pred[k] for k in pred_keys}
        if self._sources == "auto" and not self._announced_sources:
            # Say once which sources "auto" resolved to.
            self._announced_sources = True
            chosen = targets.resolve_sources("auto", y_true, y_pred)
            batch.announce_sources(name, chosen)
        batch.check_not_empty(name, self.row_key, y_pred[self.row_key])
        if self.check_finite:
            y_true, y_pred = batch.checked_finite(y_true, y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def logit_scale(self, y_pred):
        """s: fixed, or the first value of `y_pred["logit_scale"]`; clamped."""
        if self.fixed_logit_scale is not None:
            scale = self.fixed_logit_scale
            if self.max_logit_scale is not None:
                scale = min(scale, self.max_logit_scale)
            return ops.convert_to_tensor(scale, "float32")
        scale = ops.reshape(ops.cast(y_pred["logit_scale"], "float32"), (-1,))
        scale = scale[0]
        if self.max_logit_scale is not None:
            scale = ops.minimum(scale, self.max_logit_scale)
        return scale

    def current_soft_weight(self, y_pred):
        """lambda: the float, or the schedule at `y_pred["training_step"]`."""
        if not _is_schedule(self.soft_weight):
            return self.soft_weight
        step = ops.reshape(y_pred["training_step"], (-1,))[0]
        weight = self.soft_weight(step)
        return ops.clip(ops.cast(weight, "float32"), 0.0, 1.0)

    # === The batch as explicit tensors ===
    def prepare(self, y_true, y_pred):
        """The checked dicts as `(functional.Rows, functional.Columns)`."""
        v, u = y_pred[self.row_key], y_pred[self.col_key]
        checks = [(self.row_key, v), (self.col_key, u)]
        sources = targets.resolve_sources(self._sources, y_true, y_pred)
        for name in sources:
            where, key = targets.SOURCE_KEYS[name]
            checks.append((key, (y_pred if where == "y_pred" else y_true)[key]))
        use_negations = (
            self.negatives is not None and "negation_embeddings" in y_pred
        )
        if use_negations:
            neg, mask = y_pred["negation_embeddings"], y_true["negation_mask"]
            checks += [("negation_embeddings", neg), ("negation_mask", mask)]
            batch.check_negations(self.row_key, v, neg, mask)
        batch.check_rows(checks)
        batch.check_width(self.row_key, v, self.col_key, u)

        soft_weight = self.current_soft_weight(y_pred)
        if isinstance(soft_weight, float) and soft_weight == 0.0:
            sources = ()  # no soft part: hard targets, no source features
        rows = functional.Rows(
            v=targets.l2_normalize(v), u=targets.l2_normalize(u)
        )
        # Target features, no gradient: S = F_rows F_cols^T in one matmul
        # (rows weighted by w_k / sum w, columns as they are).
        features = {
            name: ops.stop_gradient(
                targets.source_features(
                    name, y_true, y_pred, self.uncertain_value
                )
            )
            for name in sources
        }
        row_features, col_features = targets.mixed_features(
            sources, self._weights, features
        )
        rows = rows._replace(features=row_features)
        if use_negations:
            rows = rows._replace(
                negations=functional.mask_negations(
                    y_pred["negation_embeddings"], y_true["negation_mask"]
                ),
                negation_valid=ops.stop_gradient(
                    ops.cast(y_true["negation_mask"], "float32")
                ),
            )
            if self.negation_soft_targets and "clinical" in sources:
                labels = targets.clinical_features(
                    targets.clinical_vectors(
                        y_true["negation_labels"], self.uncertain_value
                    )
                )
                rows = rows._replace(
                    clinical=features["clinical"],
                    negation_clinical=ops.stop_gradient(labels),
                )
        bias = None
        if self.uses_bias:
            bias = ops.reshape(
                ops.cast(y_pred["logit_bias"], "float32"), (-1,)
            )[0]
        return functional.gather_columns(
            rows,
            scale=self.logit_scale(y_pred),
            soft_weight=soft_weight,
            bias=bias,
            col_features=col_features,
            negatives=self.negatives,
        )

    # === Running ===
    def row_losses(self, rows, columns, square=False):
        """The (r,) losses of `rows` against `columns` (subclasses)."""
        raise NotImplementedError

    def call(self, y_true, y_pred):
        rows, columns = self.prepare(y_true, y_pred)
        n = batch.static_dim(rows.v, 0)
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


class NegationAwareLoss(PairwiseSoftTargetLoss):
    """A pairwise loss with negated reports as hard negatives.

    Adds `negatives` and `negation_soft_targets` (see
    `SoftLabelContrastive`) to the options of `PairwiseSoftTargetLoss`.

    Example:
    >>> from keras_clinclip.losses import SoftLabelSigmoid
    >>> SoftLabelSigmoid(negatives="own").get_config()["negatives"]
    'own'
    """

    def __init__(
        self,
        sources="auto",
        source_weights=None,
        target_temperature=0.1,
        soft_weight=0.5,
        uncertain_value=1.0,
        negatives="batch",
        negation_soft_targets=False,
        max_logit_scale=100.0,
        chunk_size=None,
        check_finite=False,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(
            sources=sources,
            source_weights=source_weights,
            target_temperature=target_temperature,
            soft_weight=soft_weight,
            uncertain_value=uncertain_value,
            max_logit_scale=max_logit_scale,
            chunk_size=chunk_size,
            check_finite=check_finite,
            name=name,
            reduction=reduction,
            dtype=dtype,
        )
        if negatives not in NEGATIVES:
            raise ValueError(
                f"`negatives` must be one of {NEGATIVES}, got {negatives!r}."
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

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "negatives": self.negatives,
                "negation_soft_targets": self.negation_soft_targets,
            }
        )
        return config
