"""Clinical metrics: precision-recall, operating points, calibration.

Pure numpy: AUPRC (average precision), sensitivity/specificity/F1 at a
threshold, the Youden and fixed-specificity thresholds, reliability
curves and the expected calibration error, and `clinical_metrics`, which
chooses the thresholds on a validation split and reports every value on
the test split with bootstrap intervals.
"""

import warnings

import numpy as np

from keras_clinclip.evaluation.metrics.bootstrap import bootstrap_ci
from keras_clinclip.evaluation.metrics.classification import _check_binary
from keras_clinclip.evaluation.metrics.classification import (
    _counts_by_threshold,
)
from keras_clinclip.evaluation.metrics.classification import binarize_labels
from keras_clinclip.evaluation.metrics.classification import roc_curve


def auprc(y_true, y_score, name=None):
    """Area under the precision-recall curve (average precision).

    AP = sum over the distinct thresholds t (decreasing) of
    (R_t - R_prev) * P_t, with recall R and precision P of the rule
    `score >= t`; tied scores enter together (no interpolation). A random
    classifier scores the positive rate, not 0.5.

    Args:
        y_true: 1-D array of 0/1 labels.
        y_score: 1-D array of scores (higher means more positive).
        name: optional class name used in the warning.

    Returns:
        A float in [0, 1], or `NaN` (with a `UserWarning`) when there is no
        positive example.

    Example:
    >>> float(auprc([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.6]))
    0.8333333333333333
    """
    y_true, y_score = _check_binary(y_true, y_score)
    n_pos = y_true.sum()
    if n_pos == 0:
        label = f" for {name!r}" if name else ""
        warnings.warn(
            f"AUPRC{label} is undefined: no positive example among "
            f"{y_true.size}; returning NaN",
            UserWarning,
            stacklevel=2,
        )
        return float("nan")
    tps, fps, _ = _counts_by_threshold(y_true, y_score)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * precision))


def confusion_at(y_true, y_score, threshold):
    """Sensitivity, specificity, precision and F1 of `score >= threshold`.

    Args:
        y_true: 1-D array of 0/1 labels.
        y_score: 1-D array of scores.
        threshold: the decision threshold (a score equal to it is
            positive).

    Returns:
        dict with `sensitivity`, `specificity`, `precision`, `f1` (each
        `NaN` when its denominator is 0) and the counts `tp`, `fp`, `tn`,
        `fn`.

    Example:
    >>> r = confusion_at([1, 1, 0, 0, 1], [0.9, 0.4, 0.6, 0.1, 0.7], 0.5)
    >>> r["tp"], r["fp"], r["sensitivity"], r["specificity"], r["f1"]
    (2, 1, 0.6666666666666666, 0.5, 0.6666666666666666)
    """
    y_true, y_score = _check_binary(y_true, y_score)
    predicted = y_score >= float(threshold)
    positive = y_true == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    tn = int(np.sum(~predicted & ~positive))

    def ratio(a, b):
        return a / b if b else float("nan")

    return {
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def youden_threshold(y_true, y_score):
    """The threshold maximising Youden's J = sensitivity + specificity - 1.

    Among equal maxima the highest threshold (fewest positive calls) wins.

    Args:
        y_true: 1-D array of 0/1 labels with both classes present.
        y_score: 1-D array of scores.

    Returns:
        The threshold (a score of the data; `score >= t` is positive).

    Example:
    >>> float(youden_threshold([0, 0, 1, 1], [0.1, 0.3, 0.4, 0.8]))
    0.4
    """
    fpr, tpr, thresholds = roc_curve(y_true, y_score)
    # Skip the curve's (0, 0) start: its threshold +inf calls nothing.
    j = tpr[1:] - fpr[1:]
    best = np.flatnonzero(j >= j.max() - 1e-12)[0]  # ties: highest cut
    return float(thresholds[1 + int(best)])


def threshold_at_specificity(y_true, y_score, specificity=0.9):
    """The lowest threshold whose specificity is at least `specificity`.

    That is the most sensitive rule `score >= t` that keeps the false
    positive rate at or below `1 - specificity` on these data.

    Args:
        y_true: 1-D array of 0/1 labels with both classes present.
        y_score: 1-D array of scores.
        specificity: the target specificity in (0, 1].

    Returns:
        The threshold (`inf` when even the highest score breaks the
        target: nothing is called positive).

    Example:
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> s = [0.1, 0.2, 0.3, 0.7, 0.6, 0.9]
    >>> float(threshold_at_specificity(y, s, 0.75))
    0.6
    >>> float(threshold_at_specificity(y, s, 1.0))
    0.9
    """
    if not 0.0 < specificity <= 1.0:
        raise ValueError(f"specificity must be in (0, 1], got {specificity}")
    fpr, _, thresholds = roc_curve(y_true, y_score)
    # fpr grows along the curve: the last point within the budget.
    allowed = np.flatnonzero(fpr <= 1.0 - specificity + 1e-12)
    return float(thresholds[allowed[-1]])


def reliability_curve(y_true, y_prob, n_bins=10):
    """Observed frequency against mean predicted probability per bin.

    Bins are equal-width on [0, 1]; bin b holds `b/n <= p < (b+1)/n` (the
    last bin includes 1).

    Args:
        y_true: 1-D array of 0/1 labels.
        y_prob: 1-D array of probabilities in [0, 1].
        n_bins: the number of bins.

    Returns:
        dict of (n_bins,) arrays `confidence` (mean probability),
        `frequency` (share of positives), `count`; empty bins hold `NaN`.

    Example:
    >>> r = reliability_curve([0, 1, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2)
    >>> r["confidence"].tolist(), r["frequency"].tolist()
    ([0.15000000000000002, 0.8500000000000001], [0.5, 1.0])
    """
    y_true, y_prob = _check_binary(y_true, y_prob)
    if np.any((y_prob < 0.0) | (y_prob > 1.0)):
        row = int(np.flatnonzero((y_prob < 0.0) | (y_prob > 1.0))[0])
        raise ValueError(
            f"y_prob must be probabilities in [0, 1]; row {row} is "
            f"{float(y_prob[row])}"
        )
    n_bins = int(n_bins)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    bins = np.minimum((y_prob * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    total_prob = np.bincount(bins, weights=y_prob, minlength=n_bins)
    total_true = np.bincount(bins, weights=y_true, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, total_prob / count, np.nan)
        frequency = np.where(count > 0, total_true / count, np.nan)
    return {
        "confidence": confidence,
        "frequency": frequency,
        "count": count.astype(np.int64),
    }


def expected_calibration_error(y_true, y_prob, n_bins=10):
    """Expected calibration error of probabilities (equal-width bins).

    ECE = sum_b (n_b / N) |frequency_b - confidence_b| over the bins of
    `reliability_curve`: 0 for a calibrated model.

    Args:
        y_true: 1-D array of 0/1 labels.
        y_prob: 1-D array of probabilities in [0, 1].
        n_bins: the number of bins.

    Returns:
        A float in [0, 1] (`NaN` for no examples).

    Example:
    >>> round(expected_calibration_error(
    ...     [0, 1, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2), 4)
    0.25
    """
    curve = reliability_curve(y_true, y_prob, n_bins)
    count = curve["count"]
    if count.sum() == 0:
        return float("nan")
    filled = count > 0
    gaps = np.abs(curve["frequency"][filled] - curve["confidence"][filled])
    return float(np.sum(count[filled] * gaps) / count.sum())


def _operating_point(y, s, threshold, confidence, n_bootstrap, seed):
    """Test metrics of a fixed threshold, with bootstrap intervals."""
    entry = {"threshold": float(threshold)}
    point = confusion_at(y, s, threshold)
    for key in ("sensitivity", "specificity", "f1"):
        entry[key] = point[key]
        low = high = float("nan")
        if n_bootstrap:
            low, high = bootstrap_ci(
                lambda a, b, k=key: confusion_at(a, b, threshold)[k],
                y,
                s,
                n_resamples=n_bootstrap,
                confidence=confidence,
                seed=seed,
            )
        entry[f"{key}_ci"] = (low, high)
    return entry


def clinical_metrics(
    labels,
    scores,
    class_names=None,
    validation_labels=None,
    validation_scores=None,
    specificity=0.9,
    n_bins=10,
    uncertain="exclude",
    blank="negative",
    n_bootstrap=1000,
    confidence=0.95,
    seed=0,
):
    """AUPRC, operating points and calibration per class, with CIs.

    For each class the two thresholds (Youden's J maximum and the lowest
    threshold reaching `specificity`) are chosen on the validation split
    and applied unchanged to the test split, as a deployed model would be;
    without validation data they are chosen on the test split itself
    (`"selected_on": "test"`, optimistic). Sensitivity, specificity and F1
    at each point, AUPRC and the expected calibration error are computed
    on the test split with percentile bootstrap intervals over test
    examples (`bootstrap_ci`, thresholds held fixed).

    Args:
        labels: (N, C) CheXpert test labels.
        scores: (N, C) test probabilities (ECE needs values in [0, 1]).
        class_names: C names (default `"class_0"`...).
        validation_labels: (M, C) labels to choose thresholds on, or None.
        validation_scores: (M, C) scores of the same model, or None.
        specificity: the target of the fixed-specificity point.
        n_bins: calibration bins.
        uncertain: see `binarize_labels`.
        blank: see `binarize_labels`.
        n_bootstrap: resamples of the intervals (0 disables them).
        confidence: interval coverage.
        seed: bootstrap seed.

    Returns:
        dict with `"per_class"`: name -> {`auprc`, `auprc_ci`,
        `prevalence`, `ece`, `ece_ci`, `reliability` (the curve),
        `youden` and `fixed_specificity` (each {`threshold`,
        `sensitivity`, `specificity`, `f1` and their `_ci`}) or `None`
        where a class lacks positives or negatives}; `"macro"` (means of
        the defined `auprc` and `ece`); and `"settings"`.

    Example:
    >>> y = [[1], [0], [1], [0]]
    >>> s = [[0.9], [0.2], [0.7], [0.4]]
    >>> r = clinical_metrics(y, s, ["Edema"], n_bootstrap=0)
    >>> e = r["per_class"]["Edema"]
    >>> e["auprc"], e["youden"]["sensitivity"], r["settings"]["selected_on"]
    (1.0, 1.0, 'test')
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores must both be (N, C); got labels "
            f"{labels.shape} and scores {scores.shape}"
        )
    c = labels.shape[1]
    class_names = list(class_names or [f"class_{j}" for j in range(c)])
    if len(class_names) != c:
        raise ValueError(
            f"{len(class_names)} class_names for {c} label columns"
        )
    has_validation = validation_labels is not None
    if has_validation != (validation_scores is not None):
        raise ValueError(
            "give both validation_labels and validation_scores, or neither"
        )
    if has_validation:
        val_labels = np.asarray(validation_labels, dtype=np.float64)
        val_scores = np.asarray(validation_scores, dtype=np.float64)
        if val_labels.shape != val_scores.shape or val_labels.shape[1:] != (c,):
            raise ValueError(
                f"validation labels {val_labels.shape} and scores "
                f"{val_scores.shape} must both be (M, {c})"
            )
        val_t, val_v = binarize_labels(val_labels, uncertain, blank)
    targets, valid = binarize_labels(labels, uncertain, blank)
    per_class = {}
    for j, name in enumerate(class_names):
        y = targets[valid[:, j], j]
        s = scores[valid[:, j], j]
        entry = {
            "n_positive": int(y.sum()),
            "n_negative": int(y.size - y.sum()),
            "prevalence": float(y.mean()) if y.size else float("nan"),
        }
        entry["auprc"] = auprc(y, s, name) if y.size else float("nan")
        entry["ece"] = expected_calibration_error(y, s, n_bins)
        entry["reliability"] = reliability_curve(y, s, n_bins)
        for key, fn in (("auprc", auprc), ("ece", expected_calibration_error)):
            interval = (float("nan"), float("nan"))
            if n_bootstrap and y.size:
                interval = bootstrap_ci(
                    fn,
                    y,
                    s,
                    n_resamples=n_bootstrap,
                    confidence=confidence,
                    seed=seed,
                )
            entry[f"{key}_ci"] = interval
        # Thresholds: on validation when it has both classes, else test.
        ty, ts, chosen_on = y, s, "test"
        if has_validation:
            mask = val_v[:, j]
            vy, vs = val_t[mask, j], val_scores[mask, j]
            if 0 < vy.sum() < vy.size:
                ty, ts, chosen_on = vy, vs, "validation"
        entry["threshold_split"] = chosen_on
        both = 0 < ty.sum() < ty.size and 0 < y.sum() < y.size
        for key, choose in (
            ("youden", youden_threshold),
            (
                "fixed_specificity",
                lambda a, b: threshold_at_specificity(a, b, specificity),
            ),
        ):
            entry[key] = None
            if both:
                entry[key] = _operating_point(
                    y, s, choose(ty, ts), confidence, n_bootstrap, seed
                )
        per_class[name] = entry

    def mean_of(key):
        values = [e[key] for e in per_class.values()]
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    splits = {e["threshold_split"] for e in per_class.values()}
    return {
        "per_class": per_class,
        "macro": {"auprc": mean_of("auprc"), "ece": mean_of("ece")},
        "settings": {
            "specificity": float(specificity),
            "n_bins": int(n_bins),
            "selected_on": "validation"
            if splits == {"validation"}
            else ("test" if splits == {"test"} else "mixed"),
            "n_bootstrap": int(n_bootstrap),
            "confidence": confidence,
            "seed": seed,
        },
    }
