"""The benchmark protocols reproduce their published conventions.

Every metric has a case computed by hand here (or from the formula written
out in numpy), so that a wrong convention fails: CheXzero's pair softmax,
CXR-CLIP's mean and GLoRIA's max over 5x200 prompts, R@K with identical
reports collapsed, BioViL's CNR, IoU/Dice at a validation threshold, and
temperature scaling that leaves every AUROC as it was.
"""

import numpy as np
import pytest

from keras_clinclip.evaluation import calibration
from keras_clinclip.evaluation import metrics
from keras_clinclip.evaluation import region_localization as loc
from keras_clinclip.evaluation import retrieval
from keras_clinclip.evaluation import zero_shot_binary as binary
from keras_clinclip.evaluation import zero_shot_multiclass as multiclass
from keras_clinclip.evaluation.metrics import estimate_with_ci

pytestmark = pytest.mark.backend_independent


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# --- Zero-shot binary ---


def test_chexzero_pair_softmax_and_argmax_metrics_by_hand():
    images = np.array([[1.0, 0.2], [0.1, 1.0], [0.9, 0.5], [0.2, 0.6]])
    pos, neg = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    labels = np.array([[1.0], [0.0], [0.0], [1.0]])
    r = binary.binary_zero_shot(
        images,
        labels,
        pos[:, None],
        neg[:, None],
        ["Edema"],
        10.0,
        n_bootstrap=0,
    )
    a = np.exp(10.0 * unit(images) @ unit(pos).T)
    b = np.exp(10.0 * unit(images) @ unit(neg).T)
    np.testing.assert_allclose(r["scores"], a / (a + b), rtol=1e-12)
    # argmax: positive for images 0 and 2 -> TP 1, FP 1, FN 1, TN 1.
    edema = r["per_class"]["Edema"]
    assert edema["accuracy"] == 0.5
    assert edema["F1"] == 0.5
    # scores 0.99.., 0.0.., 0.8.., 0.03..: positives ranks 4 and 2 of 4.
    assert edema["AUROC"] == 0.75


def test_chexzero_prompts_refuse_no_no_finding_unless_overridden():
    assert binary.chexzero_prompts(["Pleural Effusion"]) == {
        "Pleural Effusion": {
            "positive": ["pleural effusion"],
            "negative": ["no pleural effusion"],
        }
    }
    with pytest.raises(ValueError, match="double negation"):
        binary.chexzero_prompts(["No Finding"])
    override = {"No Finding": {"positive": ["normal"], "negative": ["abn"]}}
    got = binary.chexzero_prompts(["No Finding"], override)
    assert got["No Finding"]["negative"] == ["abn"]


def test_rsna_uses_its_two_sentences_and_others_the_defaults():
    rsna = binary.dataset_prompts("rsna", ["Pneumonia"])["Pneumonia"]
    assert len(rsna["positive"]) == len(rsna["negative"]) == 1
    default = binary.dataset_prompts("chestx-ray14", ["Pneumonia"])
    assert len(default["Pneumonia"]["positive"]) > 1


def test_mean_and_max_ensembles_of_a_pair():
    images = np.array([[1.0, 0.0]])
    positives = [np.array([[1.0, 0.0], [0.0, 1.0]])]
    negatives = [np.array([[0.0, 1.0], [0.0, 1.0]])]
    for ensemble, margin in (("mean", 0.5), ("max", 1.0)):
        r = binary.binary_zero_shot(
            images,
            [[1.0]],
            positives,
            negatives,
            ["a"],
            2.0,
            ensemble,
            n_bootstrap=0,
        )
        np.testing.assert_allclose(r["logits"], [[2.0 * margin]])


# --- Zero-shot multi-class (CheXpert 5x200) ---


def test_cxr_clip_mean_over_every_prompt_and_gloria_max():
    parts = multiclass.CHEXPERT_5X200_PARTS
    prompts = multiclass.chexpert_5x200_prompts()
    for name, entry in parts.items():
        size = np.prod([len(entry[k]) for k in entry])
        assert len(prompts[name]) == size
    # Class a: one prompt at 0.6; class b: prompts at 0.9 and -0.5.
    image = np.array([[1.0, 0.0, 0.0]])
    a = [np.array([[0.6, 0.8, 0.0]])]
    b = [np.array([[0.9, 0.0, np.sqrt(1 - 0.81)], [-0.5, np.sqrt(0.75), 0]])]
    embeddings = a + b
    mean = multiclass.multiclass_zero_shot(
        image, [0], embeddings, ["a", "b"], "mean", n_bootstrap=0
    )
    np.testing.assert_allclose(mean["similarity"], [[0.6, 0.2]])
    assert mean["metrics"]["accuracy"]["value"] == 1.0
    top = multiclass.multiclass_zero_shot(
        image, [0], embeddings, ["a", "b"], "max", n_bootstrap=0
    )
    np.testing.assert_allclose(top["similarity"], [[0.6, 0.9]])
    assert top["metrics"]["accuracy"]["value"] == 0.0


def test_gloria_samples_five_seeded_and_one_hot_rows_need_one_class():
    prompts = multiclass.chexpert_5x200_prompts()
    first = multiclass.sample_prompts(prompts, 5, seed=3)
    assert first == multiclass.sample_prompts(prompts, 5, seed=3)
    assert all(set(v) <= set(prompts[k]) for k, v in first.items())
    with pytest.raises(ValueError, match="row 2 .* 2 positive"):
        multiclass.class_indices([[1, 0], [1, 1]], 2)


# --- Retrieval ---


def test_recall_at_k_collapses_identical_reports():
    # Image 0's report is "Effusion."; "Normal." appears three times and is
    # more similar. Without collapsing, rank 4; collapsed, rank 2.
    texts = ["Effusion.", "Normal.", "normal.", "NORMAL. "]
    images = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    text_emb = np.array([[0.6, 0.8], [0.1, 1.0], [0.1, 1.0], [0.1, 1.0]])
    r = retrieval.image_to_text_retrieval(images, text_emb, texts, (1, 5))
    assert r["num_candidates"] == 2
    assert r["ranks"].tolist() == [1, 1, 1, 1]
    images[0] = [0.0, 1.0]
    r = retrieval.image_to_text_retrieval(images, text_emb, texts, (1, 5))
    assert r["ranks"].tolist() == [2, 1, 1, 1]
    assert r["metrics"]["R@1"]["value"] == 0.75
    assert r["metrics"]["mean_rank"]["value"] == 1.25


def test_report_text_is_the_longer_of_findings_and_impression():
    report = "FINDINGS: Clear.\nIMPRESSION: No acute cardiopulmonary process."
    assert retrieval.report_text(report) == "No acute cardiopulmonary process."
    assert retrieval.report_text("") == ""


# --- Localisation ---


def test_boxes_scale_to_the_grid():
    mask = loc.boxes_to_mask(
        [[50, 0, 50, 50], [0, 75, 1, 1]], (100, 100), (4, 4)
    )
    expected = np.zeros((4, 4), bool)
    expected[:2, 2:] = True
    expected[3, 0] = True  # a tiny box keeps its nearest cell
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(ValueError, match="box 1 .* no area"):
        loc.boxes_to_mask([[0, 0, 0, 5]], (10, 10), (2, 2))


def test_iou_dice_cnr_by_hand_and_threshold_from_validation():
    maps = np.array([[[0.0, 0.4], [0.8, 1.0]]])
    masks = np.array([[[False, False], [True, True]]])
    iou, dice = loc.overlap_scores(maps, masks, 0.3)  # predicts 3 cells
    assert iou.tolist() == [2 / 3] and dice.tolist() == [0.8]
    # CNR: inside {0.8, 1.0} mean .9 var .01; outside {0, .4} mean .2 var .04
    np.testing.assert_allclose(
        loc.contrast_to_noise(maps, masks), [0.7 / np.sqrt(0.05)]
    )
    # Validation prefers a high threshold; it is applied to the test maps.
    val_maps = np.array([[[0.0, 0.85], [0.9, 1.0]]])
    r = loc.region_localization(maps, masks, val_maps, masks, n_bootstrap=0)
    assert r["threshold_split"] == "validation"
    assert r["threshold"] == 0.9
    assert r["metrics"]["IoU"]["value"] == 0.5  # only the 1.0 cell
    assert r["metrics"]["pointing_game"]["value"] == 1.0


# --- Calibration ---


def test_fitted_temperature_minimises_the_nll():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    z = 8.0 * (y - 0.5) + 6.0 * rng.normal(size=400)
    t = calibration.fit_temperature(z, y)
    grid = np.linspace(0.5, 20.0, 4000)
    nll = [np.sum(np.logaddexp(0, z / g) - y * z / g) for g in grid]
    assert abs(t - grid[int(np.argmin(nll))]) < 0.01
    assert calibration.fit_temperature([3.0, -3.0], [1, 0]) < 1e-5
    assert calibration.fit_temperature([3.0, -3.0], [0, 1]) > 1e5


def test_temperature_scaling_lowers_ece_and_keeps_every_auroc():
    rng = np.random.default_rng(1)
    names = ["a", "b", "c"]
    # Gaussian classes: the true log-odds is z / 9 (z / 11.7 for "c"),
    # so sigmoid(z) is over-confident; |z| < 35 keeps sigmoid(z) < 1 in
    # float64, where ties would otherwise change the AUROC.
    y = rng.integers(0, 2, (4000, 3)).astype(float)
    y[::7, 1] = np.nan
    z = 4.0 * (np.nan_to_num(y) - 0.5) + 6.0 * rng.normal(size=(4000, 3))
    z[:, 2] *= 1.3
    assert np.abs(z).max() < 35
    r = calibration.temperature_scaling(
        z[:2000], y[:2000], z[2000:], y[2000:], names
    )
    assert r["before"]["macro"]["ece"] > 0.3
    assert r["per_finding"]["calibration"]["macro"]["ece"] < 0.06
    assert r["shared"]["calibration"]["macro"]["ece"] < 0.1
    before = metrics.multilabel_auroc(
        y[2000:],
        calibration.apply_temperature(z[2000:], 1.0),
        names,
        n_bootstrap=0,
    )["per_class"]
    for mode in calibration.MODES:
        assert r["auroc"][mode] == r["auroc"]["before"]
        after = metrics.multilabel_auroc(
            y[2000:], r[mode]["probabilities"], names, n_bootstrap=0
        )["per_class"]
        for name in names:  # the probabilities themselves rank the same
            assert after[name]["auroc"] == before[name]["auroc"]
    shared = set(r["shared"]["temperature"].values())
    assert len(shared) == 1
    per = r["per_finding"]["temperature"]
    assert 8 < per["a"] < 10 and 10.5 < per["c"] < 13
    with pytest.raises(ValueError, match="> 0"):
        calibration.apply_temperature([[1.0]], [0.0])


def test_a_bias_fixes_shifted_logits_that_no_temperature_can():
    rng = np.random.default_rng(2)
    y = (rng.random((3000, 1)) < 0.1).astype(float)  # prevalence 10%
    z = 6.0 + 2.0 * y + rng.normal(size=(3000, 1))  # all "present"
    r = calibration.temperature_scaling(
        z[:1500], y[:1500], z[1500:], y[1500:], ["a"]
    )
    assert r["per_finding"]["calibration"]["macro"]["ece"] > 0.3
    assert r["per_finding_bias"]["calibration"]["macro"]["ece"] < 0.05
    assert r["per_finding_bias"]["bias"]["a"] < -5.0
    assert r["auroc"]["per_finding_bias"] == r["auroc"]["before"]
    # Not the optimiser: no temperature at all, even one chosen on the
    # test split, gets below |mean p - prevalence| > 0.5 - 0.1.
    zt, yt = z[1500:, 0], y[1500:, 0]
    assert (zt > 0).all()
    best = min(
        metrics.expected_calibration_error(yt, calibration._sigmoid(zt / t))
        for t in np.exp(np.linspace(-3.0, 12.0, 300))
    )
    assert best > 0.5 - yt.mean() - 1e-9


def test_default_calibration_on_a_hand_case():
    # Two groups of logits, 0 and 2, with 1/4 and 3/4 positives: the NLL
    # optimum of sigmoid(z / T + b) hits both rates exactly, sigmoid(b) =
    # 1/4 and sigmoid(2 / T + b) = 3/4, so b = -ln 3 and T = 1 / ln 3.
    z = np.array([0.0] * 4 + [2.0] * 4)[:, None]
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0], float)[:, None]
    assert calibration.DEFAULT_MODE == "per_finding_bias"
    t, b = calibration.fit_calibration(z, y)
    assert t[0] == pytest.approx(1.0 / np.log(3.0), abs=1e-6)
    assert b[0] == pytest.approx(-np.log(3.0), abs=1e-6)
    r = calibration.temperature_scaling(z, y, z, y, ["a"])
    assert r["default"] == "per_finding_bias"
    # ECE by hand: bins of p = 0.5 (rate 1/4) and sigmoid(2) (rate 3/4).
    sig2 = 1.0 / (1.0 + np.exp(-2.0))
    ece_before = 0.5 * 0.25 + 0.5 * (sig2 - 0.75)
    assert r["before"]["macro"]["ece"] == pytest.approx(ece_before)
    after = r["per_finding_bias"]
    np.testing.assert_allclose(
        after["probabilities"][:, 0], [0.25] * 4 + [0.75] * 4, atol=1e-6
    )
    assert after["calibration"]["macro"]["ece"] == pytest.approx(0, abs=1e-6)
    assert r["auroc"]["per_finding_bias"] == r["auroc"]["before"]
    np.testing.assert_allclose(
        calibration.apply_temperature(z, t, b), after["probabilities"]
    )


def test_estimate_with_ci_holds_the_value_and_an_interval():
    cell = estimate_with_ci(np.mean, np.array([0.0, 1.0, 1.0, 0.0]))
    assert cell["value"] == 0.5
    assert 0.0 <= cell["ci"][0] <= 0.5 <= cell["ci"][1] <= 1.0
