"""AUPRC, operating points and calibration against hand-computed cases."""

import itertools

import numpy as np
import pytest

from keras_clinclip.evaluation import metrics

pytestmark = pytest.mark.backend_independent


def reference_ap(y, s):
    """Independent reference: precision at each positive, ties together."""
    y, s = np.asarray(y), np.asarray(s)
    total = 0.0
    for t in sorted(set(s[y == 1]), reverse=True):
        called = s >= t
        precision = (y[called] == 1).mean()
        new_positives = ((s == t) & (y == 1)).sum()
        total += precision * new_positives
    return total / (y == 1).sum()


def test_auprc_hand_computed():
    # Order 0.9(+) 0.6(-) 0.4(+) 0.1(-): P@R=.5 is 1, P@R=1 is 2/3.
    assert metrics.auprc([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.6]) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )


def test_auprc_ties_enter_together():
    # All tied: one threshold, precision = prevalence.
    assert metrics.auprc([1, 0, 0, 1], [0.5] * 4) == pytest.approx(0.5)


def test_auprc_matches_reference_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, n)
        y[0] = 1
        s = rng.integers(0, 6, n) / 5.0
        assert metrics.auprc(y, s) == pytest.approx(reference_ap(y, s))


def test_auprc_without_positives_is_nan_with_warning():
    with pytest.warns(UserWarning, match="AUPRC for 'x' is undefined"):
        assert np.isnan(metrics.auprc([0, 0], [0.1, 0.2], name="x"))


def test_confusion_at_counts_and_ratios():
    r = metrics.confusion_at([1, 0, 1, 0, 0], [0.8, 0.8, 0.3, 0.2, 0.5], 0.5)
    # Called positive: 0.8, 0.8, 0.5 -> tp 1, fp 2; fn 1 (0.3), tn 1 (0.2).
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (1, 2, 1, 1)
    assert r["sensitivity"] == 0.5
    assert r["specificity"] == pytest.approx(1 / 3)
    assert r["precision"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(2 * 1 / (2 * 1 + 2 + 1))


def test_confusion_at_undefined_ratio_is_nan():
    r = metrics.confusion_at([0, 0], [0.1, 0.2], 0.5)
    assert np.isnan(r["sensitivity"]) and np.isnan(r["precision"])
    assert r["specificity"] == 1.0


def brute_force_youden(y, s):
    best, best_t = -2.0, None
    for t in sorted(set(s), reverse=True):
        r = metrics.confusion_at(y, s, t)
        j = r["sensitivity"] + r["specificity"] - 1
        if j > best + 1e-12:
            best, best_t = j, t
    return best_t, best


def test_youden_threshold_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(4, 30))
        y = rng.integers(0, 2, n)
        y[:2] = (0, 1)
        s = rng.integers(0, 8, n) / 7.0
        t = metrics.youden_threshold(y, s)
        expected_t, expected_j = brute_force_youden(y, s)
        r = metrics.confusion_at(y, s, t)
        assert r["sensitivity"] + r["specificity"] - 1 == pytest.approx(
            expected_j
        )
        assert t == pytest.approx(expected_t)


def test_threshold_at_specificity_hand_computed():
    y = [0] * 10 + [1, 1, 1]
    s = [i / 10 for i in range(10)] + [0.85, 0.95, 0.05]
    # Negatives 0.0..0.9; spec >= 0.9 allows one false positive (0.9):
    # the lowest such threshold is 0.85 (0.85 and 0.95 called, 0.9 too).
    t = metrics.threshold_at_specificity(y, s, 0.9)
    assert t == pytest.approx(0.85)
    r = metrics.confusion_at(y, s, t)
    assert r["specificity"] == pytest.approx(0.9)
    assert r["sensitivity"] == pytest.approx(2 / 3)
    # Spec 1.0: only 0.95 passes.
    assert metrics.threshold_at_specificity(y, s, 1.0) == pytest.approx(0.95)


def test_threshold_at_specificity_is_most_sensitive_within_budget():
    rng = np.random.default_rng(5)
    for spec in (0.5, 0.8, 0.9):
        y = rng.integers(0, 2, 40)
        y[:2] = (0, 1)
        s = rng.random(40)
        t = metrics.threshold_at_specificity(y, s, spec)
        assert metrics.confusion_at(y, s, t)["specificity"] >= spec
        lower = [v for v in s if v < t]
        if lower:  # the next lower threshold breaks the budget
            r = metrics.confusion_at(y, s, max(lower))
            assert r["specificity"] < spec


def test_threshold_at_specificity_rejects_bad_target():
    with pytest.raises(ValueError, match="specificity must be in"):
        metrics.threshold_at_specificity([0, 1], [0.1, 0.9], 0.0)


def test_reliability_curve_and_ece_hand_computed():
    y = [0, 0, 1, 1, 1, 0]
    p = [0.05, 0.15, 0.55, 0.65, 0.95, 0.9]
    r = metrics.reliability_curve(y, p, n_bins=2)
    assert r["count"].tolist() == [2, 4]
    assert r["confidence"][0] == pytest.approx(0.1)
    assert r["frequency"].tolist() == [0.0, 0.75]
    # ECE = 2/6 * |0 - 0.1| + 4/6 * |0.75 - 0.7625|
    expected = 2 / 6 * 0.1 + 4 / 6 * abs(0.75 - (0.55 + 0.65 + 0.95 + 0.9) / 4)
    assert metrics.expected_calibration_error(y, p, 2) == pytest.approx(
        expected
    )


def test_ece_is_zero_for_calibrated_bins_and_one_at_worst():
    assert metrics.expected_calibration_error([0, 1], [0.5, 0.5], 4) == 0.0
    assert metrics.expected_calibration_error([0, 1], [1.0, 0.0], 4) == 1.0


def test_reliability_curve_rejects_non_probabilities():
    with pytest.raises(ValueError, match="row 1 is 1.5"):
        metrics.reliability_curve([0, 1], [0.2, 1.5])


def test_clinical_metrics_thresholds_come_from_validation():
    # On validation the best cut is 0.5; on test it would be 0.3.
    val_y = [[0], [0], [1], [1]]
    val_s = [[0.2], [0.4], [0.5], [0.9]]
    test_y = [[0], [1], [1], [0]]
    test_s = [[0.1], [0.3], [0.8], [0.25]]
    r = metrics.clinical_metrics(
        test_y, test_s, ["Edema"], val_y, val_s, n_bootstrap=0
    )
    e = r["per_class"]["Edema"]
    assert e["threshold_split"] == "validation"
    assert r["settings"]["selected_on"] == "validation"
    assert e["youden"]["threshold"] == 0.5
    assert e["youden"]["sensitivity"] == 0.5  # 0.8 called, 0.3 missed
    assert e["youden"]["specificity"] == 1.0
    assert e["youden"]["f1"] == pytest.approx(2 / 3)
    assert e["fixed_specificity"]["threshold"] == 0.5
    # Chosen on test instead, Youden's cut would be 0.3.
    alone = metrics.clinical_metrics(test_y, test_s, n_bootstrap=0)
    assert alone["per_class"]["class_0"]["youden"]["threshold"] == 0.3


def test_clinical_metrics_intervals_and_undefined_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (60, 2)).astype(float)
    y[:, 1] = 0.0  # no positive: undefined
    s = np.clip(0.3 * y + 0.7 * rng.random((60, 2)), 0, 1)
    with pytest.warns(UserWarning, match="AUPRC for 'b'"):
        r = metrics.clinical_metrics(y, s, ["a", "b"], n_bootstrap=50)
    a = r["per_class"]["a"]
    for low, high, value in (
        (*a["auprc_ci"], a["auprc"]),
        (*a["ece_ci"], a["ece"]),
        (*a["youden"]["sensitivity_ci"], a["youden"]["sensitivity"]),
    ):
        assert low <= high and 0.0 <= low and high <= 1.0
        assert low - 0.2 <= value <= high + 0.2
    assert r["per_class"]["b"]["youden"] is None
    assert r["macro"]["auprc"] == pytest.approx(a["auprc"])


def test_clinical_metrics_validates_shapes():
    with pytest.raises(ValueError, match="both validation_labels"):
        metrics.clinical_metrics([[1], [0]], [[0.5], [0.5]], None, [[1]])
    with pytest.raises(ValueError, match=r"must both be \(M, 1\)"):
        metrics.clinical_metrics(
            [[1], [0]], [[0.5], [0.5]], None, [[1, 0]], [[0.2, 0.1]]
        )


@pytest.mark.parametrize("n", [3, 5])
def test_auprc_of_perfect_ranking_is_one(n):
    for perm in itertools.permutations(range(n)):
        y = [1 if i < 2 else 0 for i in perm]
        s = [1.0 - i / n for i in perm]
        assert metrics.auprc(y, s) == 1.0
