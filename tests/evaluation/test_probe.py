"""Logistic-regression probes against an independent Newton solver."""

import importlib

import numpy as np
import pytest

# The package re-exports the function `linear_probe` under the module's name.
lp = importlib.import_module("keras_clinclip.evaluation.probe")

pytestmark = pytest.mark.backend_independent


def newton_reference(x, y, lam, iterations=50):
    """Plain Newton's method on the same objective (standardised x)."""
    mean, std = x.mean(0), x.std(0)
    xs = np.c_[(x - mean) / std, np.ones(len(x))]
    penal = np.r_[np.ones(x.shape[1]), 0.0]
    theta = np.zeros(xs.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-xs @ theta))
        grad = xs.T @ (p - y) / len(y) + lam * penal * theta
        hess = (xs * (p * (1 - p))[:, None]).T @ xs / len(y)
        theta -= np.linalg.solve(hess + np.diag(lam * penal), grad)
    return theta[:-1], theta[-1]


def test_fit_matches_newton_and_decreases_the_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5)) * [1, 2, 3, 0.5, 1]
    w_true = np.array([1.0, -0.5, 0.3, 2.0, 0.0])
    y = rng.random((120, 2)) < 1 / (1 + np.exp(-x @ np.c_[w_true, -w_true]))
    y = y.astype(float)
    head = lp.fit_logistic_regression(x, y, l2=0.05)
    assert head["converged"].all()
    for j in range(2):
        w, b = newton_reference(x, y[:, j], 0.05)
        np.testing.assert_allclose(head["weights"][:, j], w, atol=1e-5)
        np.testing.assert_allclose(head["bias"][j], b, atol=1e-5)
    zero = dict(head, weights=np.zeros_like(head["weights"]), bias=np.zeros(2))
    assert np.all(
        lp.logistic_loss(head, x, y, l2=0.05)
        < lp.logistic_loss(zero, x, y, l2=0.05)
    )


def test_valid_mask_restricts_training_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    y = (rng.random(60) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(float)
    valid = np.ones(60, bool)
    valid[:20] = False
    y_corrupted = y.copy()
    y_corrupted[:20] = 1 - y_corrupted[:20]  # only in the masked rows
    masked = lp.fit_logistic_regression(x, y_corrupted, valid, l2=1e-9)
    subset = lp.fit_logistic_regression(x[20:], y[20:], l2=1e-9)
    # Unpenalised, the fit does not depend on the standardisation (which
    # uses all rows), so both give the same probabilities.
    np.testing.assert_allclose(
        lp.predict_logistic_regression(masked, x),
        lp.predict_logistic_regression(subset, x),
        atol=1e-4,
    )


def test_linear_probe_fractions_nan_heads_and_perfect_separation():
    rng = np.random.default_rng(0)
    n = 300
    labels = np.zeros((n, 3))
    labels[:, 0] = rng.integers(0, 2, n)
    labels[:, 1] = rng.integers(0, 2, n)
    labels[:5, 2] = 1.0  # rare: absent from small training subsets
    x = np.c_[labels[:, :2] * 3.0, rng.normal(size=(n, 4))]
    x[:, 2] += 3.0 * labels[:, 2]
    train, test = slice(0, 200), slice(200, None)
    labels_test = labels[test].copy()
    labels_test[:3, 2] = 1.0
    with pytest.warns(UserWarning, match="'c' has no positive"):
        result = lp.linear_probe(
            x[train],
            labels[train],
            x[test],
            labels_test,
            ["a", "b", "c"],
            fractions=(0.01, 0.1, 1.0),
            seed=0,
        )
    assert [result[f]["num_train"] for f in (0.01, 0.1, 1.0)] == [2, 20, 200]
    assert result[1.0]["per_class"]["a"]["auroc"] > 0.99
    assert result[1.0]["per_class"]["b"]["auroc"] > 0.99
    assert np.isnan(result[0.1]["per_class"]["c"]["auroc"])
    assert result[0.1]["per_class"]["c"]["n_positive"] == 3
    assert "c" not in result[0.1]["trainable"]
    assert result[1.0]["trainable"] == ["a", "b", "c"]


def test_linear_probe_errors():
    with pytest.raises(ValueError, match="3 training embeddings but 2"):
        lp.linear_probe(
            np.ones((3, 2)), np.ones((2, 1)), np.ones((2, 2)), np.ones((2, 1))
        )
    with pytest.raises(ValueError, match=r"fractions must be in \(0, 1\]"):
        lp.linear_probe(
            np.ones((3, 2)),
            np.ones((3, 1)),
            np.ones((2, 2)),
            np.ones((2, 1)),
            fractions=(0,),
        )
    with pytest.raises(ValueError, match="targets must be 0 or 1"):
        lp.fit_logistic_regression(np.ones((2, 2)), np.array([1.0, -1.0]))
