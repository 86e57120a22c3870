"""The shared engine of the pairwise losses (private; see the public losses).

A pairwise loss compares the N local "row" embeddings with the N_g gathered
"column" embeddings (N_g = N on one device). This module validates the
batch dicts, normalises, gathers across replicas, builds the soft targets of
the local rows under stop-gradient and runs the subclass's row maths,
optionally in row chunks with rematerialisation (so that the extra memory is
O(N_g * chunk) instead of several N_g x N_g matrices).
"""

import warnings

import keras
from keras import ops

from keras_clinclip.backend import collectives as distribute
from keras_clinclip.backend.numerics import assert_finite
from keras_clinclip.losses import soft_targets as st

NEGATIVES = ("batch", "own", None)


def _static_dim(x, axis):
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    dim = shape[axis]
    return None if dim is None else int(dim)


# The entries of `parts` indexed by the local rows (sliced per block); the
# others are gathered columns or scalars, shared by every block.
_ROW_KEYS = (
    "rows",
    "cols_local",
    "neg_rows",
    "neg_valid_rows",
    "src_rows",
    "clinical_rows",
    "neg_clinical_rows",
)


def _is_schedule(value):
    return callable(value) or isinstance(
        value, keras.optimizers.schedules.LearningRateSchedule
    )


class PairwiseSoftTargetLoss(keras.losses.Loss):
    """Base class: validation, gathering, soft targets and chunking.

    Subclasses set `row_key`/`col_key`, `uses_negations`, and implement
    `row_losses(parts)` returning per-row losses of the local rows.
    """

    row_key = "image_embeddings"
    col_key = "text_embeddings"
    uses_negations = True
    uses_bias = False

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
        # The loss always computes in float32, whatever the inputs' dtype.
        super().__init__(name=name, reduction=reduction, dtype="float32")
        del dtype
        self._sources, self._weights = st.check_sources(sources, source_weights)
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
                "negatives": self.negatives,
                "negation_soft_targets": self.negation_soft_targets,
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
        if self.needs_scale_key():
            pred.append("logit_scale")
        if self.uses_bias:
            pred.append("logit_bias")
        for name in st.resolve_sources(self._sources, y_true, y_pred):
            where, key = st._SOURCE_KEYS[name]
            (pred if where == "y_pred" else true).append(key)
        if self.uses_negations and self.negatives is not None:
            if "negation_embeddings" in y_pred:
                pred.append("negation_embeddings")
                true.append("negation_mask")
                if self.negation_soft_targets:
                    true.append("negation_labels")
        if _is_schedule(self.soft_weight):
            pred.append("training_step")
        return true, pred

    def needs_scale_key(self):
        return True

    @property
    def trained_keys(self):
        """The `y_pred` entries this loss passes gradient to."""
        keys = [self.row_key, self.col_key]
        if self.uses_negations and self.negatives is not None:
            keys.append("negation_embeddings")
        if self.needs_scale_key():
            keys.append("logit_scale")
        return tuple(keys)

    @property
    def uses_training_step(self):
        """True when `soft_weight` is a schedule of the training step."""
        return _is_schedule(self.soft_weight)

    def __call__(self, y_true, y_pred, sample_weight=None):
        for name, value in (("y_true", y_true), ("y_pred", y_pred)):
            if not isinstance(value, dict):
                raise TypeError(
                    f"{type(self).__name__} takes dicts: `{name}` must be a "
                    f"dict of tensors, got {type(value).__name__}. Compile "
                    "a `keras_clinclip.models.ContrastiveModel` (or use "
                    "`ContrastiveLossMixin`) so whole dicts reach the loss."
                )
        true_keys, pred_keys = self.needed_keys(y_true, y_pred)
        for where, batch, keys in (
            ("y_pred", y_pred, pred_keys),
            ("y_true", y_true, true_keys),
        ):
            for key in keys:
                if key not in batch:
                    raise KeyError(
                        f"`{where}[{key!r}]` is missing: "
                        f"{self._why(key)} needs it. `{where}` has keys "
                        f"{sorted(batch)}.{self._auto_hint(key)}"
                    )
        y_true = {k: y_true[k] for k in true_keys}
        y_pred = {k: y_pred[k] for k in pred_keys}
        self._announce_sources(y_true, y_pred)
        self._check_not_empty(y_pred[self.row_key])
        if self.check_finite:
            y_true, y_pred = self._checked(y_true, y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def _auto_hint(self, key):
        """For a source the user named, how to use what the batch has."""
        source_keys = {k for _, k in st._SOURCE_KEYS.values()}
        if self._sources == "auto" or key not in source_keys:
            return ""
        return (
            ' Listed `sources` are required; pass `sources="auto"` (the '
            "default) to use only the sources present in the batch."
        )

    def _announce_sources(self, y_true, y_pred):
        """Say once which sources `"auto"` resolved to."""
        if self._sources != "auto" or self._announced_sources:
            return
        self._announced_sources = True
        chosen = st.resolve_sources("auto", y_true, y_pred)
        missing = [s for s in st.SOURCES if s not in chosen]
        print(
            f"{type(self).__name__}: soft-target sources from the batch: "
            f"{', '.join(chosen) or 'none (hard CLIP targets)'}"
            + (f" (absent: {', '.join(missing)})." if missing else "."),
            flush=True,
        )

    def _check_not_empty(self, rows):
        n = _static_dim(rows, 0)
        if n is None:
            try:
                n = int(ops.shape(rows)[0])
            except (TypeError, ValueError):
                n = None
        if n == 0:
            raise ValueError(
                f"{type(self).__name__} got an empty batch: "
                f"`y_pred[{self.row_key!r}]` has shape "
                f"{tuple(rows.shape)}. A contrastive loss needs at least "
                "one study; drop empty batches from the dataset."
            )

    def _checked(self, y_true, y_pred):
        """`check_finite=True`: name the key holding NaN/inf (or s <= 0).

        Masked-out negation slots are exempt: they may hold anything.
        """
        y_pred = dict(y_pred)
        for key in sorted(y_pred):
            if key in ("negation_embeddings", "training_step"):
                continue
            y_pred[key] = assert_finite(
                y_pred[key], f"y_pred[{key!r}]", positive=key == "logit_scale"
            )
        if "negation_embeddings" in y_pred and "negation_mask" in y_true:
            valid = ops.cast(y_true["negation_mask"], "bool")[..., None]
            kept = ops.where(valid, y_pred["negation_embeddings"], 0.0)
            assert_finite(kept, "y_pred['negation_embeddings'] (valid slots)")
        y_true = dict(y_true)
        if "labels" in y_true:
            labels = ops.cast(y_true["labels"], "float32")
            # NaN means "not mentioned" in the CheXpert convention.
            assert_finite(
                ops.where(ops.isnan(labels), 0.0, labels), "y_true['labels']"
            )
        return y_true, y_pred

    def _why(self, key):
        name = type(self).__name__
        reasons = {
            "labels": f"the 'clinical' entry of `sources` of {name}",
            "graph_embeddings": f"the 'graph' entry of `sources` of {name}",
            "text_embeddings": f"{name} (and the 'text' source)",
            "image_embeddings": name,
            "logit_scale": f"{name} (the positive scale s)",
            "logit_bias": f"{name} (the sigmoid bias b)",
            "negation_mask": (
                f"`negatives={self.negatives!r}` of {name}, with "
                "`y_pred['negation_embeddings']` given,"
            ),
            "negation_labels": f"`negation_soft_targets=True` of {name}",
            "training_step": (
                f"the `soft_weight` schedule of {name} (ContrastiveModel "
                "passes it)"
            ),
        }
        return reasons.get(key, name)

    def _check_rows(self, tensors):
        """Mismatched batch sizes / widths name both shapes."""
        first_key, first = tensors[0]
        n = _static_dim(first, 0)
        for key, value in tensors[1:]:
            m = _static_dim(value, 0)
            if n is not None and m is not None and n != m:
                raise ValueError(
                    f"Batch sizes differ: `{first_key}` has shape "
                    f"{tuple(first.shape)} but `{key}` has shape "
                    f"{tuple(value.shape)}."
                )

    def _check_width(self, key_a, a, key_b, b):
        da, db = _static_dim(a, -1), _static_dim(b, -1)
        if da is not None and db is not None and da != db:
            raise ValueError(
                f"Embedding sizes differ: `{key_a}` has shape "
                f"{tuple(a.shape)} but `{key_b}` has shape {tuple(b.shape)}."
            )

    def logit_scale(self, y_pred):
        scale = ops.reshape(ops.cast(y_pred["logit_scale"], "float32"), (-1,))
        scale = scale[0]
        if self.max_logit_scale is not None:
            scale = ops.minimum(scale, self.max_logit_scale)
        return scale

    def current_soft_weight(self, y_pred):
        if not _is_schedule(self.soft_weight):
            return self.soft_weight
        step = ops.reshape(y_pred["training_step"], (-1,))[0]
        weight = self.soft_weight(step)
        return ops.clip(ops.cast(weight, "float32"), 0.0, 1.0)

    # === The batch ===
    def prepare(self, y_true, y_pred):
        """Everything the row maths needs, as a dict of tensors."""
        rows = y_pred[self.row_key]
        cols = y_pred[self.col_key]
        checks = [(self.row_key, rows), (self.col_key, cols)]
        sources = st.resolve_sources(self._sources, y_true, y_pred)
        for name in sources:
            where, key = st._SOURCE_KEYS[name]
            checks.append((key, (y_pred if where == "y_pred" else y_true)[key]))
        use_negations = (
            self.uses_negations
            and self.negatives is not None
            and "negation_embeddings" in y_pred
        )
        if use_negations:
            neg = y_pred["negation_embeddings"]
            mask = y_true["negation_mask"]
            checks += [("negation_embeddings", neg), ("negation_mask", mask)]
            self._check_width(self.row_key, rows, "negation_embeddings", neg)
            kn, km = _static_dim(neg, 1), _static_dim(mask, 1)
            if kn is not None and km is not None and kn != km:
                raise ValueError(
                    "Negation counts differ: `negation_embeddings` has shape "
                    f"{tuple(neg.shape)} but `negation_mask` has shape "
                    f"{tuple(mask.shape)}."
                )
        self._check_rows(checks)
        self._check_width(self.row_key, rows, self.col_key, cols)

        parts = {}
        rows = st.l2_normalize(rows)
        cols = st.l2_normalize(cols)
        parts["rows"] = rows
        parts["cols_local"] = cols
        parts["rows_all"] = distribute.all_gather(rows)
        parts["cols_all"] = distribute.all_gather(cols)
        parts["scale"] = self.logit_scale(y_pred)
        if self.uses_bias:
            parts["bias"] = ops.reshape(
                ops.cast(y_pred["logit_bias"], "float32"), (-1,)
            )[0]
        # Target features, no gradient: S = src_rows src_cols^T in one
        # matmul (local rows, weighted; gathered columns).
        features = {
            name: ops.stop_gradient(
                st.source_features(name, y_true, y_pred, self.uncertain_value)
            )
            for name in sources
        }
        src_rows, src_cols = st.mixed_features(sources, self._weights, features)
        if src_rows is not None:
            parts["src_rows"] = src_rows
            parts["src_cols"] = ops.stop_gradient(
                distribute.all_gather(src_cols)
            )
        if use_negations:
            mask = ops.cast(y_true["negation_mask"], "float32")
            # Masked-out slots may hold anything (padding, NaN): select
            # zeros for them, so they add exactly 0 to the value and to
            # the gradient (a select, unlike a product, passes no NaN).
            neg = ops.where(
                ops.greater(mask, 0.0)[..., None],
                ops.cast(y_pred["negation_embeddings"], "float32"),
                0.0,
            )
            neg = st.l2_normalize(neg)
            d = ops.shape(neg)[-1]
            if self.negatives == "batch":
                parts["neg_cols"] = ops.reshape(
                    distribute.all_gather(neg), (-1, d)
                )
                parts["neg_valid"] = ops.reshape(
                    ops.stop_gradient(distribute.all_gather(mask)), (1, -1)
                )
            else:
                parts["neg_rows"] = neg
                parts["neg_valid_rows"] = ops.stop_gradient(mask)
            if self.negation_soft_targets and "clinical" in sources:
                parts["clinical_rows"] = features["clinical"]
                labels = st.clinical_features(
                    st.clinical_vectors(
                        y_true["negation_labels"], self.uncertain_value
                    )
                )
                labels = ops.stop_gradient(labels)
                c = ops.shape(labels)[-1]
                if self.negatives == "batch":
                    parts["neg_clinical"] = ops.reshape(
                        distribute.all_gather(labels), (-1, c)
                    )
                else:
                    parts["neg_clinical_rows"] = labels
        weight = self.current_soft_weight(y_pred)
        static = {"sources": sources, "soft_weight": weight}
        if not sources or (isinstance(weight, float) and weight == 0.0):
            static["sources"] = ()
        elif not isinstance(weight, float):
            parts["soft_weight"] = weight
            static["soft_weight"] = None
        return parts, static

    # === Targets of a block of rows ===
    def row_similarity(self, parts, static, start, stop):
        """S of rows [start, stop) against all columns (None: no source)."""
        if not static["sources"] or "src_rows" not in parts:
            return None
        rows = parts["src_rows"][start:stop]
        return ops.matmul(rows, ops.transpose(parts["src_cols"]))

    def negation_similarity(self, parts, static, start, stop):
        """Clinical S between rows and negated reports (or None)."""
        if not self.negation_soft_targets:
            return None
        if "clinical" not in static["sources"] or "clinical_rows" not in parts:
            return None
        c_rows = parts["clinical_rows"][start:stop]
        if "neg_clinical" in parts:
            return ops.matmul(c_rows, ops.transpose(parts["neg_clinical"]))
        if "neg_clinical_rows" in parts:
            # (r, K): each row against its own negations.
            neg = parts["neg_clinical_rows"][start:stop]
            return ops.sum(c_rows[:, None, :] * neg, axis=-1)
        return None

    def negation_logits(self, parts, rows, scale, start, stop):
        """(logits, valid) of the negated-report columns, or (None, None)."""
        if "neg_cols" in parts:
            logits = scale * ops.matmul(rows, ops.transpose(parts["neg_cols"]))
            valid = ops.greater(parts["neg_valid"], 0.0)
        elif "neg_rows" in parts:
            neg = parts["neg_rows"][start:stop]
            logits = scale * ops.sum(rows[:, None, :] * neg, axis=-1)
            valid = ops.greater(parts["neg_valid_rows"][start:stop], 0.0)
        else:
            return None, None
        return logits, valid

    def soft_weight_value(self, parts, static):
        if "soft_weight" in parts:
            return parts["soft_weight"]
        return static["soft_weight"]

    # === Running ===
    def row_losses(self, parts, static, start, stop):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        parts, static = self.prepare(y_true, y_pred)
        n = _static_dim(parts["rows"], 0)
        chunk = self.chunk_size
        if chunk is None or (n is not None and n <= chunk):
            # The local rows are the whole batch on a single replica.
            static["square"] = distribute.num_replicas() == 1
            return self.row_losses(parts, static, 0, None)
        if n is None:
            warnings.warn(
                f"{type(self).__name__}: `chunk_size` needs a static batch "
                "size (e.g. `drop_remainder=True`); computing unchunked.",
                stacklevel=2,
            )
            return self.row_losses(parts, static, 0, None)
        if keras.backend.backend() == "torch":
            return self._eager_blocks(parts, static, n, chunk)
        return self._scanned_blocks(parts, static, n, chunk)

    def _eager_blocks(self, parts, static, n, chunk):
        """Blocks as a Python loop (torch: eager, so one block at a time)."""
        names = sorted(parts)
        values = [parts[k] for k in names]
        outputs = []
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)

            def block(*tensors, start=start, stop=stop):
                block_parts = dict(zip(names, tensors))
                return self.row_losses(block_parts, static, start, stop)

            outputs.append(keras.remat(block)(*values))
        return ops.concatenate(outputs, axis=0)

    def _scanned_blocks(self, parts, static, n, chunk):
        """Blocks as one `ops.scan` over a rematerialised body (JAX, TF).

        Graph compilers (XLA, TF) schedule an unrolled loop as one graph and
        keep several blocks' N_g-wide intermediates alive at once (measured:
        1.23x the unchunked peak under JAX); a loop body runs one block at
        a time, and `keras.remat` makes its backward pass recompute the
        block instead of storing it (0.11x JAX, 0.07x TF; see
        docs/performance.md). A last partial block runs after the loop.
        """
        names = sorted(parts)
        values = [parts[k] for k in names]
        full = n // chunk

        def block(start, *tensors):
            block_parts = {}
            for name, tensor in zip(names, tensors):
                if name in _ROW_KEYS:
                    rank = len(tensor.shape)
                    tensor = ops.slice(
                        tensor,
                        [start] + [0] * (rank - 1),
                        [chunk] + list(tensor.shape[1:]),
                    )
                block_parts[name] = tensor
            return self.row_losses(block_parts, static, 0, None)

        block = keras.remat(block)

        def step(carry, index):
            # TF's scan wants the outputs shaped like the carry.
            out = block(index * chunk, *values)
            return out, out

        _, outputs = ops.scan(
            step,
            ops.zeros((chunk,), "float32"),
            ops.arange(full, dtype="int32"),
        )
        outputs = ops.reshape(outputs, (-1,))
        if full * chunk == n:
            return outputs
        tail = self.row_losses(parts, static, full * chunk, n)
        return ops.concatenate([outputs, tail], axis=0)
