"""Percentile bootstrap intervals: coverage, seeding, checks."""

import numpy as np
import pytest

from keras_clinclip.evaluation import metrics

pytestmark = pytest.mark.backend_independent


def test_bootstrap_ci_of_a_mean_matches_the_normal_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=2.0, scale=1.0, size=2000)
    low, high = metrics.bootstrap_ci(np.mean, x, n_resamples=2000, seed=3)
    half = 1.96 * x.std() / np.sqrt(x.size)
    assert low == pytest.approx(x.mean() - half, abs=0.01)
    assert high == pytest.approx(x.mean() + half, abs=0.01)


def test_bootstrap_ci_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = rng.normal(size=50) + y
    a = metrics.bootstrap_ci(metrics.auroc, y, s, n_resamples=100, seed=7)
    b = metrics.bootstrap_ci(metrics.auroc, y, s, n_resamples=100, seed=7)
    c = metrics.bootstrap_ci(metrics.auroc, y, s, n_resamples=100, seed=8)
    assert a == b and a != c
    assert a[0] < metrics.auroc(y, s) < a[1]


def test_bootstrap_ci_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="array 2 has 2 rows"):
        metrics.bootstrap_ci(metrics.auroc, [0, 1, 1], [0.1, 0.2])


def test_percentile_interval_drops_undefined_samples():
    samples = [np.nan, 0.0, 1.0, 2.0, 3.0, 4.0, np.inf]
    assert metrics.percentile_interval(samples, 0.5) == (1.0, 3.0)
    assert np.isnan(metrics.percentile_interval([np.nan], 0.9)).all()
