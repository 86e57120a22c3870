"""Percentile bootstrap confidence intervals over resampled examples.

Pure numpy: the examples (the first axis) are resampled with replacement,
seeded, and the resamples where the metric is undefined (`NaN`) are
dropped before the percentiles are taken.
"""

import warnings

import numpy as np


def percentile_interval(samples, confidence):
    """The central `confidence` interval of the finite `samples`.

    Args:
        samples: 1-D array of metric values (`NaN`/`inf` are dropped).
        confidence: the coverage, e.g. 0.95.

    Returns:
        `(low, high)` floats, `(NaN, NaN)` when no sample is finite.

    Example:
    >>> percentile_interval([1.0, 2.0, 3.0, float("nan")], 0.5)
    (1.5, 2.5)
    """
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
    >>> from keras_clinclip.evaluation.metrics import auroc
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
    return percentile_interval(values, confidence)


def estimate_with_ci(
    metric_fn, *arrays, n_resamples=1000, confidence=0.95, seed=0
):
    """A metric on all examples and its percentile bootstrap interval.

    The one shape of a benchmark table's cell (`clinclip benchmark`).

    Args:
        metric_fn: a function of the arrays returning a float.
        *arrays: arrays sharing their first dimension (the examples).
        n_resamples: bootstrap resamples (0: the interval is NaN).
        confidence: the interval's coverage.
        seed: the resampling seed.

    Returns:
        `{"value": float, "ci": [low, high]}`.

    Example:
    >>> estimate_with_ci(np.mean, np.ones(4), n_resamples=10)
    {'value': 1.0, 'ci': [1.0, 1.0]}
    """
    value = float(metric_fn(*(np.asarray(a) for a in arrays)))
    low = high = float("nan")
    if n_resamples and len(arrays[0]):
        low, high = bootstrap_ci(
            metric_fn,
            *arrays,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
    return {"value": value, "ci": [float(low), float(high)]}
