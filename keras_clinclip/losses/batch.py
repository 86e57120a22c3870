"""Reading the batch dicts of a pairwise loss: keys, shapes and checks.

The errors a user meets live here: a missing key names the key, the option
that needs it and the keys present; mismatched sizes name both shapes; an
empty batch says so; a label outside {1, 0, -1, NaN} or a logit scale
<= 0 is named with its place (always checked: it is cheap);
`check_finite=True` names the entry holding NaN/inf. Private to
`keras_clinclip.losses`.
"""

from keras import ops

from keras_clinclip.backend.numerics import assert_finite
from keras_clinclip.backend.numerics import assert_valid
from keras_clinclip.losses import targets


def static_dim(x, axis):
    """The static size of `x` along `axis`, or None when unknown."""
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    dim = shape[axis]
    return None if dim is None else int(dim)


def check_dicts(name, y_true, y_pred):
    """A `TypeError` that says how to pass whole dicts to the loss."""
    for where, value in (("y_true", y_true), ("y_pred", y_pred)):
        if not isinstance(value, dict):
            raise TypeError(
                f"{name} takes dicts: `{where}` must be a "
                f"dict of tensors, got {type(value).__name__}. Compile "
                "a `keras_clinclip.models.ContrastiveModel` (or use "
                "`ContrastiveLossMixin`) so whole dicts reach the loss."
            )


def why(key, name, negatives):
    """The option of loss `name` that needs `key` (for error messages)."""
    reasons = {
        "labels": f"the 'clinical' entry of `sources` of {name}",
        "graph_embeddings": f"the 'graph' entry of `sources` of {name}",
        "text_embeddings": f"{name} (and the 'text' source)",
        "image_embeddings": name,
        "logit_scale": f"{name} (the positive scale s)",
        "logit_bias": f"{name} (the sigmoid bias b)",
        "negation_mask": (
            f"`negatives={negatives!r}` of {name}, with "
            "`y_pred['negation_embeddings']` given,"
        ),
        "negation_labels": f"`negation_soft_targets=True` of {name}",
        "training_step": (
            f"the `soft_weight` schedule of {name} (ContrastiveModel passes it)"
        ),
    }
    return reasons.get(key, name)


def auto_hint(key, sources):
    """For a source the user named, how to use what the batch has."""
    source_keys = {k for _, k in targets.SOURCE_KEYS.values()}
    if sources == "auto" or key not in source_keys:
        return ""
    return (
        ' Listed `sources` are required; pass `sources="auto"` (the '
        "default) to use only the sources present in the batch."
    )


def announce_sources(name, chosen):
    """Print which sources `sources="auto"` resolved to."""
    missing = [s for s in targets.SOURCES if s not in chosen]
    print(
        f"{name}: soft-target sources from the batch: "
        f"{', '.join(chosen) or 'none (hard CLIP targets)'}"
        + (f" (absent: {', '.join(missing)})." if missing else "."),
        flush=True,
    )


def check_not_empty(name, key, rows):
    """A `ValueError` for a batch of no study."""
    n = static_dim(rows, 0)
    if n is None:
        try:
            n = int(ops.shape(rows)[0])
        except (TypeError, ValueError):
            n = None
    if n == 0:
        raise ValueError(
            f"{name} got an empty batch: "
            f"`y_pred[{key!r}]` has shape "
            f"{tuple(rows.shape)}. A contrastive loss needs at least "
            "one study; drop empty batches from the dataset."
        )


def check_rows(tensors):
    """Mismatched batch sizes of `[(key, tensor), ...]` name both shapes."""
    first_key, first = tensors[0]
    n = static_dim(first, 0)
    for key, value in tensors[1:]:
        m = static_dim(value, 0)
        if n is not None and m is not None and n != m:
            raise ValueError(
                f"Batch sizes differ: `{first_key}` has shape "
                f"{tuple(first.shape)} but `{key}` has shape "
                f"{tuple(value.shape)}."
            )


def check_width(key_a, a, key_b, b):
    """Mismatched embedding sizes name both shapes."""
    da, db = static_dim(a, -1), static_dim(b, -1)
    if da is not None and db is not None and da != db:
        raise ValueError(
            f"Embedding sizes differ: `{key_a}` has shape "
            f"{tuple(a.shape)} but `{key_b}` has shape {tuple(b.shape)}."
        )


def check_negations(row_key, rows, neg, mask):
    """The negated reports match the rows' width and the mask's count."""
    check_width(row_key, rows, "negation_embeddings", neg)
    kn, km = static_dim(neg, 1), static_dim(mask, 1)
    if kn is not None and km is not None and kn != km:
        raise ValueError(
            "Negation counts differ: `negation_embeddings` has shape "
            f"{tuple(neg.shape)} but `negation_mask` has shape "
            f"{tuple(mask.shape)}."
        )


def check_shapes(name, col_key, sources, y_true, y_pred):
    """A batch of studies, the same count in every entry, matching widths.

    Args:
        name: the loss's name, for the messages.
        col_key: the columns' entry (`text_embeddings`, ...).
        sources: the soft-target sources read from the batch.
        y_true: the loss's `y_true` entries.
        y_pred: the loss's `y_pred` entries.
    """
    v, u = y_pred["image_embeddings"], y_pred[col_key]
    check_not_empty(name, "image_embeddings", v)
    checks = [("image_embeddings", v), (col_key, u)]
    for source in sources:
        where, key = targets.SOURCE_KEYS[source]
        checks.append((key, (y_pred if where == "y_pred" else y_true)[key]))
    if "negation_embeddings" in y_pred:
        neg, mask = y_pred["negation_embeddings"], y_true["negation_mask"]
        checks += [("negation_embeddings", neg), ("negation_mask", mask)]
        check_negations("image_embeddings", v, neg, mask)
    check_rows(checks)
    check_width("image_embeddings", v, col_key, u)


LABEL_RULE = (
    "labels follow the CheXpert convention (1 positive, 0 negative, -1 "
    "uncertain, NaN not mentioned); map other values (e.g. 2 or a "
    "probability) to these before training."
)
SCALE_RULE = (
    "the logit scale is the positive multiplier s = exp(t); output "
    "exp of the learned temperature (as `ClinCLIPBackbone` does)."
)


def _not_a_label(x):
    return ~((x == 1.0) | (x == 0.0) | (x == -1.0) | (x != x))


def _not_positive(x):
    return x <= 0.0  # NaN is `check_finite`'s


def checked_values(y_true, y_pred):
    """Labels in {1, 0, -1, NaN} and a logit scale > 0 (always checked).

    Args:
        y_true: the loss's `y_true` entries.
        y_pred: the loss's `y_pred` entries.

    Returns:
        `(y_true, y_pred)`, with the checked tensors.
    """
    y_true = dict(y_true)
    for key in ("labels", "negation_labels"):
        if key in y_true:
            y_true[key] = assert_valid(
                y_true[key], f"y_true[{key!r}]", _not_a_label, LABEL_RULE
            )
    y_pred = dict(y_pred)
    if "logit_scale" in y_pred:
        y_pred["logit_scale"] = assert_valid(
            y_pred["logit_scale"],
            "y_pred['logit_scale']",
            _not_positive,
            SCALE_RULE,
        )
    return y_true, y_pred


def checked_finite(y_true, y_pred):
    """`check_finite=True`: name the key holding NaN/inf (or s <= 0).

    Masked-out negation slots are exempt (they may hold anything); the
    labels are `checked_values`'s (always on: inf is not a label). The
    checks fire inside compiled steps too
    (`backend.numerics.assert_finite`).

    Args:
        y_true: the loss's `y_true` entries.
        y_pred: the loss's `y_pred` entries.

    Returns:
        `(y_true, y_pred)`, with the checked tensors.
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
    return y_true, y_pred
