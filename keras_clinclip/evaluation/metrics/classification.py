"""Binary and multi-label classification metrics: AUROC, ROC, labels.

Pure numpy (no Keras): AUROC as the Mann-Whitney statistic (ties count
half), the ROC curve, the CheXpert label convention turned into 0/1
targets, and per-class/macro AUROC with bootstrap intervals. An undefined
metric (no positive or no negative example) is `NaN` with a
`UserWarning`; it never raises.
"""

import warnings

import numpy as np

from keras_clinclip.evaluation.metrics.bootstrap import percentile_interval

# The label conventions of CheXpert's CSVs.
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0


def rankdata(values):
    """Ranks 1..n of `values`, ties sharing their average rank.

    Args:
        values: a 1-D array.

    Returns:
        float64 array of the same length.

    Example:
    >>> rankdata([10, 20, 20, 5]).tolist()
    [2.0, 3.5, 3.5, 1.0]
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"rankdata expects a 1-D array, got {values.shape}")
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values in the sorted order.
    new_run = np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.concatenate([starts[1:], [len(values)]])
    average = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = average[run_id]
    return ranks


def _check_binary(y_true, y_score, name="y_true"):
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_score = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if y_true.shape != y_score.shape:
        raise ValueError(
            f"{name} has {y_true.shape[0]} entries but y_score has "
            f"{y_score.shape[0]}"
        )
    bad = ~np.isin(y_true, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must hold only 0 and 1 (binarise labels first with "
            f"`binarize_labels`); row {row} is {float(y_true[row])}"
        )
    if not np.all(np.isfinite(y_score)):
        row = int(np.flatnonzero(~np.isfinite(y_score))[0])
        value = float(y_score[row])
        raise ValueError(f"y_score row {row} is not finite: {value}")
    return y_true, y_score


def auroc(y_true, y_score, name=None):
    """Area under the ROC curve of binary labels and scores.

    Computed exactly as the Mann-Whitney U statistic: the probability that
    a random positive scores above a random negative, ties counting half.

    Args:
        y_true: 1-D array of 0/1 labels.
        y_score: 1-D array of scores (higher means more positive).
        name: optional class name used in the warning.

    Returns:
        A float in [0, 1], or `NaN` (with a `UserWarning`) when there is no
        positive or no negative example.

    Example:
    >>> float(auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y_true, y_score = _check_binary(y_true, y_score)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        what = "positive" if n_pos == 0 else "negative"
        label = f" for {name!r}" if name else ""
        warnings.warn(
            f"AUROC{label} is undefined: no {what} example among "
            f"{y_true.size}; returning NaN",
            UserWarning,
            stacklevel=2,
        )
        return float("nan")
    ranks = rankdata(y_score)
    u = ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y_true, y_score):
    """The ROC curve: false and true positive rates at every threshold.

    Thresholds are the distinct scores in decreasing order; the curve
    starts at (0, 0) (threshold +inf) and ends at (1, 1).

    Args:
        y_true: 1-D array of 0/1 labels with both classes present.
        y_score: 1-D array of scores.

    Returns:
        `(fpr, tpr, thresholds)`, three 1-D arrays of equal length.

    Example:
    >>> fpr, tpr, _ = roc_curve([0, 1, 1], [0.2, 0.9, 0.2])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 1.0], [0.0, 0.5, 1.0])
    """
    y_true, y_score = _check_binary(y_true, y_score)
    n_pos = y_true.sum()
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            "roc_curve needs both positive and negative examples; got "
            f"{int(n_pos)} positive and {int(n_neg)} negative"
        )
    tps, fps, cuts = _counts_by_threshold(y_true, y_score)
    fpr = np.concatenate([[0.0], fps / n_neg])
    tpr = np.concatenate([[0.0], tps / n_pos])
    thresholds = np.concatenate([[np.inf], cuts])
    return fpr, tpr, thresholds


def _counts_by_threshold(y_true, y_score):
    """True and false positives of `score >= t` at each distinct score t.

    Thresholds in decreasing order; tied scores enter together.
    """
    order = np.argsort(-y_score, kind="mergesort")
    scores = y_score[order]
    labels = y_true[order]
    last_of_run = np.concatenate([scores[1:] != scores[:-1], [True]])
    tps = np.cumsum(labels)[last_of_run]
    fps = np.cumsum(1.0 - labels)[last_of_run]
    return tps, fps, scores[last_of_run]


def binarize_labels(labels, uncertain="exclude", blank="negative"):
    """Turn CheXpert labels (1, 0, -1, NaN) into 0/1 targets and a mask.

    Args:
        labels: array of CheXpert labels, any shape.
        uncertain: what -1 becomes: `"exclude"` (default: left out of the
            metric), `"positive"` (U-ones) or `"negative"` (U-zeros).
        blank: what NaN (not mentioned) becomes: `"negative"` (default: a
            finding a radiologist did not mention is taken as absent) or
            `"exclude"`.

    Returns:
        `(targets, valid)`: float64 0/1 targets and a boolean mask of the
        entries that count, both of the shape of `labels`.

    Example:
    >>> t, v = binarize_labels([1.0, 0.0, -1.0, float("nan")])
    >>> t.tolist(), v.tolist()
    ([1.0, 0.0, 0.0, 0.0], [True, True, False, True])
    """
    choices = {"exclude", "positive", "negative"}
    if uncertain not in choices:
        raise ValueError(
            f"uncertain must be one of {sorted(choices)}, got {uncertain!r}"
        )
    if blank not in ("exclude", "negative"):
        raise ValueError(
            f"blank must be 'negative' or 'exclude', got {blank!r}"
        )
    labels = np.asarray(labels, dtype=np.float64)
    is_blank = np.isnan(labels)
    known = np.isin(labels, (POSITIVE, NEGATIVE, UNCERTAIN)) | is_blank
    if not known.all():
        index = tuple(int(i) for i in np.argwhere(~known)[0])
        raise ValueError(
            f"labels must be 1, 0, -1 or NaN (CheXpert convention); entry "
            f"{index} is {float(labels[index])}"
        )
    targets = (labels == POSITIVE).astype(np.float64)
    valid = np.ones(labels.shape, dtype=bool)
    is_uncertain = labels == UNCERTAIN
    if uncertain == "positive":
        targets[is_uncertain] = 1.0
    elif uncertain == "exclude":
        valid &= ~is_uncertain
    if blank == "exclude":
        valid &= ~is_blank
    return targets, valid


def multilabel_auroc(
    labels,
    scores,
    class_names=None,
    uncertain="exclude",
    blank="negative",
    n_bootstrap=1000,
    confidence=0.95,
    seed=0,
):
    """Per-class and macro AUROC with bootstrap confidence intervals.

    Labels follow the CheXpert convention and are binarised with
    `binarize_labels`. A class with no positive (or no negative) example
    gets `NaN` with a warning and is left out of the macro average. The
    macro AUROC is the mean of the defined per-class values; its interval
    comes from the same resamples of the examples (studies) as the
    per-class intervals.

    Args:
        labels: (N, C) CheXpert labels.
        scores: (N, C) scores (e.g. zero-shot probabilities).
        class_names: C names (default `"class_0"`...).
        uncertain: see `binarize_labels`.
        blank: see `binarize_labels`.
        n_bootstrap: resamples for the intervals (0 disables them).
        confidence: interval coverage.
        seed: bootstrap seed.

    Returns:
        A dict: `"per_class"` maps each name to a dict with `auroc`,
        `ci_low`, `ci_high`, `n_positive`, `n_negative`; `"macro"` holds
        `auroc`, `ci_low`, `ci_high`, `n_classes` (the classes averaged);
        plus the settings used.

    Example:
    >>> labels = [[1, 0], [0, 1], [1, float("nan")], [0, 1]]
    >>> scores = [[0.9, 0.2], [0.1, 0.8], [0.7, 0.3], [0.3, 0.6]]
    >>> result = multilabel_auroc(labels, scores, ["a", "b"], n_bootstrap=0)
    >>> result["per_class"]["a"]["auroc"], result["macro"]["auroc"]
    (1.0, 1.0)
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores must both be (N, C); got labels "
            f"{labels.shape} and scores {scores.shape}"
        )
    n, c = labels.shape
    if class_names is None:
        class_names = [f"class_{j}" for j in range(c)]
    class_names = list(class_names)
    if len(class_names) != c:
        raise ValueError(
            f"{len(class_names)} class_names for {c} label columns"
        )
    targets, valid = binarize_labels(labels, uncertain, blank)

    def per_class(t, v, s, warn=False):
        values = np.full(c, np.nan)
        for j in range(c):
            mask = v[:, j]
            if warn:
                values[j] = auroc(t[mask, j], s[mask, j], class_names[j])
            else:
                n_pos = t[mask, j].sum()
                if 0 < n_pos < mask.sum():
                    values[j] = auroc(t[mask, j], s[mask, j])
        return values

    point = per_class(targets, valid, scores, warn=True)
    defined = np.isfinite(point)
    macro = float(point[defined].mean()) if defined.any() else float("nan")
    if not defined.any():
        warnings.warn(
            "macro AUROC is undefined: no class has both positive and "
            "negative examples",
            UserWarning,
            stacklevel=2,
        )

    low = np.full(c, np.nan)
    high = np.full(c, np.nan)
    macro_low = macro_high = float("nan")
    if n_bootstrap and n > 0:
        rng = np.random.default_rng(seed)
        samples = np.full((n_bootstrap, c), np.nan)
        for r in range(n_bootstrap):
            index = rng.integers(0, n, size=n)
            samples[r] = per_class(targets[index], valid[index], scores[index])
        for j in range(c):
            low[j], high[j] = percentile_interval(samples[:, j], confidence)
        # Macro over the classes defined on the full set, per resample.
        if defined.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                macro_samples = np.nanmean(samples[:, defined], axis=1)
            macro_low, macro_high = percentile_interval(
                macro_samples, confidence
            )

    result = {"per_class": {}, "macro": {}}
    for j, name in enumerate(class_names):
        mask = valid[:, j]
        n_pos = int(targets[mask, j].sum())
        result["per_class"][name] = {
            "auroc": float(point[j]),
            "ci_low": float(low[j]),
            "ci_high": float(high[j]),
            "n_positive": n_pos,
            "n_negative": int(mask.sum()) - n_pos,
        }
    result["macro"] = {
        "auroc": macro,
        "ci_low": macro_low,
        "ci_high": macro_high,
        "n_classes": int(defined.sum()),
    }
    result["settings"] = {
        "uncertain": uncertain,
        "blank": blank,
        "n_bootstrap": int(n_bootstrap),
        "confidence": confidence,
        "seed": seed,
    }
    return result
