"""`evaluate_records` adds operating points, calibration and localisation."""

import json

import numpy as np
import pytest

from keras_clinclip.data.synthcxr import synthetic_pairs
from keras_clinclip.evaluation import EvaluationOptions
from keras_clinclip.evaluation import ReportOptions
from keras_clinclip.evaluation.calibration import temperature_scaling
from keras_clinclip.evaluation.evaluate import evaluate_records
from keras_clinclip.models import tiny_clinclip_backbone
from keras_clinclip.models import tiny_clinclip_preprocessor


class Known:
    """An image embeds as [b, 1 - b] (b: mean brightness); a text as
    [0, 1] when it says "no", else [1, 0]."""

    embedding_dim = 2
    logit_scale = 10.0

    def convert_images(self, images):
        b = np.asarray(images, dtype="float32").mean(axis=(-1, -2)) / 255.0
        return np.stack([b, 1.0 - b], axis=-1)

    def encode_images(self, images):
        return np.asarray(images)

    def tokenize(self, texts):
        neg = np.array([" no " in f" {t.lower()} " for t in texts], "f")
        ids = np.stack([1.0 - neg, neg], axis=1)
        return {"token_ids": ids, "padding_mask": ids >= 0}

    def encode_texts(self, token_ids, padding_mask):
        return np.asarray(token_ids)


@pytest.mark.backend_independent
def test_thresholds_are_chosen_on_the_validation_split(tmp_path):
    # Validation: positives are bright (>= 150); the test split has a
    # positive at 140, below the validation cut.
    brightness = [200, 150, 100, 50, 240, 140, 90, 20]
    labels = [1, 1, 0, 0, 1, 1, 0, 0]
    records = {
        "id": [f"s{i}" for i in range(8)],
        "image": np.stack([np.full((4, 4), b, np.uint8) for b in brightness]),
        "report": ["Effusion." if y else "No effusion." for y in labels],
        "labels": np.array([[float(y)] for y in labels]),
        "split": ["validate"] * 4 + ["test"] * 4,
    }
    known = Known()
    result = evaluate_records(
        known,
        known,
        records,
        EvaluationOptions(
            findings=["Pleural Effusion"], n_bootstrap=20, probe_fractions=()
        ),
        report=ReportOptions(tmp_path),
    )
    clinical = result["clinical"]
    entry = clinical["per_class"]["Pleural Effusion"]
    assert clinical["settings"]["selected_on"] == "validation"
    assert entry["youden"]["sensitivity"] == 0.5  # 140 falls below the cut
    assert entry["youden"]["specificity"] == 1.0
    assert entry["auprc"] == 1.0
    assert result["localization"] is None  # no SynthCXR findings
    text = (tmp_path / "report.md").read_text()
    assert "## Operating points and calibration" in text
    assert "chosen on the validation split and applied" in text
    assert (tmp_path / "reliability.png").exists()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["clinical"]["macro"]["auprc"] == 1.0


def test_synthcxr_records_get_localisation_in_the_report(tmp_path):
    records = synthetic_pairs(24, seed=0, image_size=32, graphs=False)
    records["split"] = ["test"] * 24
    records["labels"] = records["labels"][:, [10]]  # Pleural Effusion
    del records["negations"]  # no CXR-Align: keep the test fast
    model = tiny_clinclip_backbone(embedding_dim=4)
    preprocessor = tiny_clinclip_preprocessor(sequence_length=8)
    result = evaluate_records(
        model,
        preprocessor,
        records,
        EvaluationOptions(
            findings=["Pleural Effusion"], n_bootstrap=0, probe_fractions=()
        ),
        report=ReportOptions(tmp_path, figures=False),
    )
    located = result["localization"]
    assert located["num_cases"] > 0 and located["skipped"] == 0
    assert located["scores"]["all"]["n"] == located["num_cases"]
    assert 0.0 < located["scores"]["all"]["area"] < 0.5
    assert result["clinical"]["settings"]["selected_on"] == "test"
    text = (tmp_path / "report.md").read_text()
    assert "## Localisation" in text
    assert "| **all** |" in text


@pytest.mark.backend_independent
def test_demo_headline_reports_clinical_and_localisation_rows():
    from keras_clinclip.evaluation.report_tables import (
        format_localization_table,
    )
    from keras_clinclip.training.demo import _headline

    trained = {"n": 3, "pointing": 2 / 3, "mass": 0.5, "area": 0.1}
    result = {
        "clinical": {"macro": {"auprc": 0.4, "ece": 0.2}},
        "localization": {"scores": {"all": trained}},
    }
    # Calibration fitted on a hand case (see test_protocols): the demo
    # reports the ECE before, after the default (T and b) and after T.
    z = np.array([0.0] * 4 + [2.0] * 4)[:, None]
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0], float)[:, None]
    result["calibration"] = temperature_scaling(z, y, z, y, ["a"])
    row = _headline(result)
    assert row["zero-shot macro AUPRC"] == 0.4
    assert row["zero-shot macro ECE (lower is better)"] == 0.2
    default = row["macro ECE, calibrated (T and bias per finding, default)"]
    assert default == pytest.approx(0.0, abs=1e-6)
    alone = row["macro ECE, temperature only, per finding"]
    assert (
        alone
        == result["calibration"]["per_finding"]["calibration"]["macro"]["ece"]
    )
    assert alone > 0.01 and row["macro ECE, temperature only, shared"] > 0.01
    assert row["pointing game (all findings)"] == 2 / 3
    assert _headline({})["pointing game (all findings)"] is None
    untrained = {"all": dict(trained, pointing=0.0)}
    table = format_localization_table({"all": trained}, untrained)
    assert table.splitlines()[2] == (
        "| **all** | 3 | 0.100 | 0.000 | 0.667 | 0.500 | 0.500 |"
    )
