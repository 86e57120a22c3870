"""Pure-numpy metrics: AUROC, AUPRC, operating points, calibration, CIs.

Nothing here imports Keras: every function takes numpy arrays (or
anything `np.asarray` accepts) and returns numpy values, so the metrics can
be checked by hand and reused on embeddings from any framework.

Conventions:
- A metric that is undefined (an AUROC with no positive or no negative
  example) is `NaN` and a `UserWarning` says why; it never raises.
- Ties count half in AUROC (the Mann-Whitney convention), and
  pessimistically in retrieval ranks (see `first_relevant_ranks`).
- Bootstrap intervals are percentile intervals over resampled examples,
  seeded, and drop the resamples where the metric is undefined.
"""

import warnings

import numpy as np

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


def _percentile_interval(samples, confidence):
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    metric_fn,
    *arrays,
    n_resamples=1000,
    confidence=0.95,
    seed=0,
):
    """Percentile bootstrap confidence interval of a metric.

    The examples (the first axis of every array) are resampled with
    replacement `n_resamples` times; resamples where the metric is `NaN`
    are dropped (their warnings silenced).

    Args:
        metric_fn: a function of the arrays returning a float.
        *arrays: arrays sharing their first dimension.
        n_resamples: the number of bootstrap resamples.
        confidence: the coverage of the interval (0.95 for 95%).
        seed: the seed of the resampling (same seed, same interval).

    Returns:
        `(low, high)` floats (`NaN` when every resample was undefined).

    Example:
    >>> y = [0, 0, 1, 1, 0, 1]
    >>> s = [0.1, 0.3, 0.7, 0.9, 0.2, 0.8]
    >>> bootstrap_ci(auroc, y, s, n_resamples=200, seed=0)
    (1.0, 1.0)
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    for position, array in enumerate(arrays[1:], start=2):
        if array.shape[0] != n:
            raise ValueError(
                f"array {position} has {array.shape[0]} rows but array 1 "
                f"has {n}"
            )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for r in range(n_resamples):
            index = rng.integers(0, n, size=n)
            values[r] = metric_fn(*(a[index] for a in arrays))
    return _percentile_interval(values, confidence)


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
            low[j], high[j] = _percentile_interval(samples[:, j], confidence)
        # Macro over the classes defined on the full set, per resample.
        if defined.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                macro_samples = np.nanmean(samples[:, defined], axis=1)
            macro_low, macro_high = _percentile_interval(
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


def first_relevant_ranks(similarity, relevance, ties="pessimistic"):
    """The rank of the best-ranked relevant candidate of each query.

    Rank 1 means a relevant candidate scored highest. Relevant candidates
    never push each other down (any one of them counts as a hit). Ties
    between the best relevant candidate and irrelevant ones are broken
    `"pessimistic"`-ally by default (the irrelevant ones come first, so a
    collapsed model that gives every pair the same score gets the worst
    rank, not the best) or `"optimistic"`-ally.

    Args:
        similarity: (Q, K) scores of Q queries against K candidates.
        relevance: (Q, K) booleans, True where the candidate is relevant.
            Each query needs at least one relevant candidate.
        ties: `"pessimistic"` or `"optimistic"`.

    Returns:
        int64 (Q,) ranks in 1..K.

    Example:
    >>> sim = [[0.9, 0.5, 0.1], [0.2, 0.2, 0.6]]
    >>> rel = [[False, True, False], [True, False, False]]
    >>> first_relevant_ranks(sim, rel).tolist()
    [2, 3]
    >>> first_relevant_ranks(sim, rel, ties="optimistic").tolist()
    [2, 2]
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    relevance = np.asarray(relevance, dtype=bool)
    if similarity.ndim != 2 or similarity.shape != relevance.shape:
        raise ValueError(
            f"similarity {similarity.shape} and relevance "
            f"{relevance.shape} must be equal (Q, K) matrices"
        )
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(
            f"ties must be 'pessimistic' or 'optimistic', got {ties!r}"
        )
    has_relevant = relevance.any(axis=1)
    if not has_relevant.all():
        row = int(np.flatnonzero(~has_relevant)[0])
        raise ValueError(f"query {row} has no relevant candidate")
    best = np.where(relevance, similarity, -np.inf).max(axis=1)
    irrelevant = ~relevance
    above = (similarity > best[:, None]) & irrelevant
    ranks = 1 + above.sum(axis=1)
    if ties == "pessimistic":
        ranks = ranks + ((similarity == best[:, None]) & irrelevant).sum(1)
    return ranks.astype(np.int64)


def recall_at_k(ranks, ks=(1, 5, 10)):
    """Share of queries whose first relevant candidate is in the top K.

    Args:
        ranks: (Q,) ranks from `first_relevant_ranks`.
        ks: the cut-offs.

    Returns:
        dict `{k: recall}` with floats in [0, 1].

    Example:
    >>> recall_at_k([1, 2, 7, 30], ks=(1, 5))
    {1: 0.25, 5: 0.5}
    """
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("recall_at_k needs at least one rank")
    return {int(k): float(np.mean(ranks <= k)) for k in ks}


# --------------------------------------------------------------------------
# Clinical metrics: precision-recall, operating points, calibration
# --------------------------------------------------------------------------


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
