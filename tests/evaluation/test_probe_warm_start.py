"""Nested probe fits start from the smaller subset's head (issue 17)."""

import importlib
import importlib.util

import numpy as np
import pytest

lp = importlib.import_module("keras_clinclip.evaluation.probe")

pytestmark = pytest.mark.backend_independent


def _data(n=3000, d=24, c=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + 2.0
    w = rng.normal(size=(d, c)) * 0.4
    y = (rng.random((n, c)) < 1 / (1 + np.exp(-(x - 2.0) @ w))).astype(float)
    return x, y


def test_warm_start_same_optimum_fewer_iterations():
    x, y = _data()
    cold = lp.fit_logistic_regression(x, y)
    small = lp.fit_logistic_regression(x[:300], y[:300])
    warm = lp.fit_logistic_regression(x, y, init=small)
    assert cold["converged"].all() and warm["converged"].all()
    np.testing.assert_allclose(warm["weights"], cold["weights"], atol=1e-5)
    np.testing.assert_allclose(warm["bias"], cold["bias"], atol=1e-5)
    assert warm["n_iter"] < cold["n_iter"]
    # The init is used as the same linear function, whatever its
    # standardisation: starting from the optimum stops at once.
    again = lp.fit_logistic_regression(x, y, init=cold)
    assert again["n_iter"] <= 2


def test_probe_with_all_fractions_equals_one_at_a_time():
    x, y = _data(n=2500, seed=1)
    x, y, test_x, test_y = x[:2000], y[:2000], x[2000:], y[2000:]
    together = lp.linear_probe(
        x, y, test_x, test_y, fractions=(1.0, 0.1), solver="numpy"
    )
    assert list(together) == [1.0, 0.1]  # the order asked for
    for fraction in (0.1, 1.0):
        alone = lp.linear_probe(
            x, y, test_x, test_y, fractions=(fraction,), solver="numpy"
        )
        a = together[fraction]["macro"]["auroc"]
        b = alone[fraction]["macro"]["auroc"]
        assert abs(a - b) < 1e-4 and a > 0.6


def test_sklearn_solver_gives_the_same_aurocs(monkeypatch):
    # scikit-learn is in the [probe] extra and in dev.
    x, y = _data(n=3000, d=16, c=3, seed=3)
    y[::7, 1] = -1.0  # uncertain labels: rows left out of head 1
    x, y, test_x, test_y = x[:2400], y[:2400], x[2400:], y[2400:]
    numpy_ = lp.linear_probe(x, y, test_x, test_y, solver="numpy")
    sklearn = lp.linear_probe(x, y, test_x, test_y, solver="sklearn")
    default = lp.linear_probe(x, y, test_x, test_y, fractions=(1.0,))
    monkeypatch.setattr(lp, "SKLEARN_FROM", 1000)  # "auto" by size
    large = lp.linear_probe(x, y, test_x, test_y, fractions=(1.0,))
    for fraction in (0.01, 0.1, 1.0):
        for name, value in numpy_[fraction]["per_class"].items():
            other = sklearn[fraction]["per_class"][name]["auroc"]
            if np.isnan(value["auroc"]):
                assert np.isnan(other)
            else:
                assert abs(value["auroc"] - other) < 0.005, (fraction, name)
    auroc = {
        name: result[1.0]["macro"]["auroc"]
        for name, result in (
            ("default", default),
            ("large", large),
            ("numpy", numpy_),
            ("sklearn", sklearn),
        )
    }
    assert auroc["default"] == pytest.approx(auroc["numpy"], abs=1e-6)
    assert auroc["large"] == pytest.approx(auroc["sklearn"], abs=1e-9)
    assert numpy_[1.0]["macro"]["auroc"] > 0.6
    with pytest.raises(ValueError, match="solver"):
        lp.linear_probe(x, y, test_x, test_y, solver="liblinear")


def test_sklearn_solver_missing_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        return None if name == "sklearn" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    x, y = _data(n=600, d=4, c=1)
    with pytest.raises(Exception, match=r"keras-clinclip\[probe\]"):
        lp.linear_probe(x, y, x, y, solver="sklearn")
    # "auto" falls back to the numpy solver, at any size.
    monkeypatch.setattr(lp, "SKLEARN_FROM", 10)
    result = lp.linear_probe(x, y, x, y, fractions=(1.0,))
    assert result[1.0]["macro"]["auroc"] > 0.55
