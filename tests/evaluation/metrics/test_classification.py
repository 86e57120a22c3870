"""AUROC, ROC curves, label binarisation and multi-label AUROC."""

import itertools
import warnings

import numpy as np
import pytest

from keras_clinclip.evaluation import metrics

pytestmark = pytest.mark.backend_independent


def pairwise_auroc(y, s):
    """Independent reference: count every (positive, negative) pair."""
    pos = [b for a, b in zip(y, s) if a == 1]
    neg = [b for a, b in zip(y, s) if a == 0]
    wins = sum(
        1.0 if p > n else 0.5 if p == n else 0.0
        for p, n in itertools.product(pos, neg)
    )
    return wins / (len(pos) * len(neg))


def test_auroc_hand_computed_with_ties():
    # Pairs (pos, neg): (0.8, 0.1) win, (0.8, 0.4) win, (0.4, 0.1) win,
    # (0.4, 0.4) tie -> (3 + 0.5) / 4.
    assert metrics.auroc([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8]) == 0.875


def test_auroc_matches_pairwise_reference_on_random_data_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1
        s = rng.integers(0, 5, n) / 4.0  # many ties
        assert metrics.auroc(y, s) == pytest.approx(pairwise_auroc(y, s))


def test_auroc_extremes():
    assert metrics.auroc([0, 1], [0.0, 1.0]) == 1.0
    assert metrics.auroc([0, 1], [1.0, 0.0]) == 0.0
    assert metrics.auroc([0, 1, 0, 1], [0.5] * 4) == 0.5


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_auroc_with_one_class_is_nan_with_a_warning(labels):
    with pytest.warns(UserWarning, match="'Edema' is undefined"):
        value = metrics.auroc(labels, [0.1, 0.2, 0.3], name="Edema")
    assert np.isnan(value)


def test_auroc_rejects_bad_input():
    with pytest.raises(ValueError, match="row 1 is -1.0"):
        metrics.auroc([0, -1], [0.1, 0.2])
    with pytest.raises(ValueError, match="3 entries but y_score has 2"):
        metrics.auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="not finite"):
        metrics.auroc([0, 1], [0.1, np.nan])


def test_rankdata_averages_ties():
    np.testing.assert_array_equal(
        metrics.rankdata([3, 1, 3, 3, 2]), [4.0, 1.0, 4.0, 4.0, 2.0]
    )


def test_roc_curve_hand_computed_and_area_equals_auroc():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.4, 0.8]
    fpr, tpr, thresholds = metrics.roc_curve(y, s)
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(thresholds, [np.inf, 0.8, 0.4, 0.1])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)
    fpr, tpr, _ = metrics.roc_curve(y, s)
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(metrics.auroc(y, s))


def test_binarize_labels_policies():
    labels = np.array([1.0, 0.0, -1.0, np.nan])
    t, v = metrics.binarize_labels(labels, "positive", "exclude")
    assert t.tolist() == [1, 0, 1, 0] and v.tolist() == [1, 1, 1, 0]
    t, v = metrics.binarize_labels(labels, "negative", "negative")
    assert t.tolist() == [1, 0, 0, 0] and v.all()
    with pytest.raises(ValueError, match=r"entry \(1,\) is 2.0"):
        metrics.binarize_labels([1.0, 2.0])
    with pytest.raises(ValueError, match="uncertain must be"):
        metrics.binarize_labels(labels, uncertain="ones")


def test_multilabel_auroc_per_class_macro_and_nan_class():
    rng = np.random.default_rng(0)
    n = 80
    labels = rng.choice([1.0, 0.0, -1.0, np.nan], size=(n, 3))
    labels[:, 2] = np.where(labels[:, 2] == 1.0, 0.0, labels[:, 2])
    scores = rng.normal(size=(n, 3)) + (labels == 1.0)
    with pytest.warns(UserWarning, match="'c'.*no positive"):
        result = metrics.multilabel_auroc(
            labels, scores, ["a", "b", "c"], n_bootstrap=50
        )
    for j, name in enumerate(["a", "b"]):
        keep = labels[:, j] != -1.0  # uncertain excluded by default
        y = (labels[keep, j] == 1.0).astype(int)  # NaN counts as negative
        expected = pairwise_auroc(y, scores[keep, j])
        entry = result["per_class"][name]
        assert entry["auroc"] == pytest.approx(expected)
        assert entry["n_positive"] == y.sum()
        assert entry["n_negative"] == keep.sum() - y.sum()
        assert entry["ci_low"] <= entry["auroc"] <= entry["ci_high"]
    assert np.isnan(result["per_class"]["c"]["auroc"])
    assert result["macro"]["n_classes"] == 2
    assert result["macro"]["auroc"] == pytest.approx(
        (result["per_class"]["a"]["auroc"] + result["per_class"]["b"]["auroc"])
        / 2
    )
    assert result["macro"]["ci_low"] < result["macro"]["ci_high"]


def test_multilabel_auroc_uncertain_as_positive_changes_counts():
    labels = np.array([[1.0], [-1.0], [0.0], [np.nan]])
    scores = np.array([[0.9], [0.8], [0.1], [0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ones = metrics.multilabel_auroc(
            labels, scores, uncertain="positive", n_bootstrap=0
        )
    entry = ones["per_class"]["class_0"]
    assert (entry["n_positive"], entry["n_negative"]) == (2, 2)
    assert entry["auroc"] == 1.0
