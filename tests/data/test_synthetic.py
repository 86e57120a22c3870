"""SynthCXR, templates and synthetic_pairs (pure numpy)."""

import math

import numpy as np
import pytest

from keras_clinclip import chexpert
from keras_clinclip.data import synthcxr
from keras_clinclip.data import templates
from keras_clinclip.data.synthcxr import SynthCXR
from keras_clinclip.data.synthcxr import masks as synthcxr_masks
from keras_clinclip.data.synthcxr import synthetic_pairs

pytestmark = pytest.mark.backend_independent

SIZE = 64


@pytest.fixture(scope="module")
def renderer():
    return SynthCXR(SIZE)


def test_render_is_deterministic_and_varies_with_seed(renderer):
    a = renderer.render(["effusion"], seed=4)
    b = renderer.render(["effusion"], seed=4)
    c = renderer.render(["effusion"], seed=5)
    assert a.shape == (SIZE, SIZE) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def _region(image, side, rows=(0.55, 0.8)):
    # The patient's right is on the image's left.
    h, w = image.shape
    r0, r1 = int(rows[0] * h), int(rows[1] * h)
    cols = slice(int(0.12 * w), int(0.4 * w))
    if side == "left":
        cols = slice(int(0.6 * w), int(0.88 * w))
    return image[r0:r1, cols].astype(float).mean()


@pytest.mark.parametrize("side", ["right", "left"])
def test_effusion_brightens_the_stated_base(renderer, side):
    other = "left" if side == "right" else "right"
    gains = {"same": [], "other": []}
    for seed in range(4):
        normal = renderer.render([], seed=seed)
        sick = renderer.render([("effusion", side, None, 0.9)], seed=seed)
        gains["same"].append(_region(sick, side) - _region(normal, side))
        gains["other"].append(_region(sick, other) - _region(normal, other))
    assert np.mean(gains["same"]) > 8
    assert np.mean(gains["same"]) > 4 * abs(np.mean(gains["other"])) + 4


def test_severity_grows_the_finding(renderer):
    changes = []
    for severity in (0.1, 0.5, 0.95):
        diff = []
        for seed in range(3):
            normal = renderer.render([], seed=seed).astype(float)
            sick = renderer.render(
                [("consolidation", "right", "lower", severity)], seed=seed
            ).astype(float)
            diff.append(np.abs(sick - normal).sum())
        changes.append(np.mean(diff))
    assert changes[0] < changes[1] < changes[2]


def _bright_width(image, row):
    line = image[int(row * image.shape[0])].astype(float)
    return (line > line.max() * 0.8).sum()


def test_cardiomegaly_widens_the_heart():
    renderer = SynthCXR(128)
    normal, big = [], []
    for seed in range(4):
        normal.append(_bright_width(renderer.render([], seed), 0.62))
        big.append(
            _bright_width(
                renderer.render([("cardiomegaly", None, None, 1.0)], seed), 0.62
            )
        )
    assert np.mean(big) > np.mean(normal) * 1.25


def test_pneumothorax_darkens_the_lung(renderer):
    deltas = []
    for seed in range(4):
        normal = renderer.render([], seed=seed).astype(float)
        ptx = renderer.render([("pneumothorax", "left", None, 0.9)], seed)
        deltas.append(
            _region(ptx.astype(float), "left", (0.15, 0.5))
            - _region(normal, "left", (0.15, 0.5))
        )
    assert np.mean(deltas) < -3


def test_every_finding_changes_the_image(renderer):
    normal = renderer.render([], seed=11).astype(float)
    for name in synthcxr.FINDINGS:
        image = renderer.render([{"name": name, "severity": 0.9}], seed=11)
        changed = np.abs(image.astype(float) - normal) > 8
        assert changed.sum() >= 3, name


def test_bad_findings_raise_clear_errors(renderer):
    with pytest.raises(ValueError, match="Unknown SynthCXR finding 'tumour'"):
        renderer.render(["tumour"])
    with pytest.raises(ValueError, match="side"):
        renderer.render([("effusion", "middle", None, 0.5)])
    with pytest.raises(ValueError, match="severity"):
        renderer.render([("effusion", "left", None, 2.0)])


def test_fallback_masks_without_torchxrayvision(monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("no torchxrayvision")

    monkeypatch.setattr(synthcxr_masks, "_MASKS", {})
    monkeypatch.setattr(synthcxr_masks.utils, "package_data_path", missing)
    masks = synthcxr.lung_masks()
    assert masks["source"] == "fallback"
    image = SynthCXR(32).render(["nodule"], seed=0)
    assert image.std() > 10


def test_real_masks_are_used():
    masks = synthcxr.lung_masks()
    assert masks["source"] == "torchxrayvision"
    # Most of the 517 masks of the archive are kept (empty ones are not).
    assert 300 < len(masks["masks"]) <= 517
    fill = masks["masks"].mean(axis=(1, 2))
    assert 0.3 < float(np.median(fill)) < 0.9


def test_label_frequencies_follow_chexpert():
    labels = synthcxr.sample_chexpert_labels(4000, seed=0)
    table = chexpert.chexpert_label_table()
    assert table is not None and table.shape[1] == 14
    for j in (3, 10, 13):  # Lung Opacity, Pleural Effusion, Support Dev.
        expected = float(np.mean(table[:, j] == 1.0))
        observed = float(np.mean(labels[:, j] == 1.0))
        assert abs(observed - expected) < 0.04
    # The fallback keeps the marginals too.
    chexpert._LABEL_TABLE["table"] = None
    try:
        fallback = synthcxr.sample_chexpert_labels(4000, seed=1)
    finally:
        chexpert._LABEL_TABLE.clear()
    p1 = synthcxr.FALLBACK_FREQUENCIES["Pleural Effusion"][0]
    assert abs(float(np.mean(fallback[:, 10] == 1.0)) - p1) < 0.04


def test_synthetic_pairs_records():
    records = synthetic_pairs(12, seed=3, image_size=32, num_negations=2)
    n = 12
    assert records["image"].shape == (n, 32, 32)
    assert records["labels"].shape == (n, 14)
    assert records["negation_labels"].shape == (n, 2, 14)
    assert records["graph_nodes"].shape[0] == n
    values = records["labels"][~np.isnan(records["labels"])]
    assert set(np.unique(values)) <= {1.0, 0.0, -1.0}
    assert set(records["split"]) <= {"train", "validate", "test"}
    for i in range(n):
        positives = [
            name
            for name, v in zip(
                templates.CHEXPERT_OBSERVATIONS, records["labels"][i]
            )
            if v == 1.0 and name != "No Finding"
        ]
        assert len(records["negations"][i]) == min(2, len(positives))
        for k, text in enumerate(records["negations"][i]):
            assert text != records["report"][i]
            row = records["negation_labels"][i, k]
            changed = np.nonzero(
                ~(
                    (row == records["labels"][i])
                    | (np.isnan(row) & np.isnan(records["labels"][i]))
                )
            )[0]
            assert len(changed) == 1
            assert row[changed[0]] == 0.0
            assert records["labels"][i, changed[0]] == 1.0
    again = synthetic_pairs(12, seed=3, image_size=32, num_negations=2)
    np.testing.assert_array_equal(again["image"], records["image"])
    assert again["report"] == records["report"]


def test_templates_negation_uses_a_negative_sentence():
    labels = [math.nan] * 14
    labels[10] = 1.0  # Pleural Effusion
    labels[9] = 0.0  # Pneumothorax
    out = templates.labels_to_report(labels, seed=1)
    assert "effusion" in out["report"].lower()
    assert "pneumothorax" in out["report"].lower()
    negated = out["negations"][0].lower()
    assert "no pleural effusion" in negated or "no pleural" in negated
    assert "effusion" not in out["omissions"][0].lower()
    with pytest.raises(ValueError, match="Pleural Effusion"):
        bad = list(labels)
        bad[10] = 2.0
        templates.labels_to_report(bad)
