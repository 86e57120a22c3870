"""Negated, omitted and affirmed reports."""

import math

import pytest

from keras_clinclip.reports import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports import affirm_finding
from keras_clinclip.reports import label_report
from keras_clinclip.reports import negate_finding
from keras_clinclip.reports import omit_finding

pytestmark = pytest.mark.backend_independent

REPORT = (
    "Small left pleural effusion. Mild cardiomegaly. Bibasilar opacities "
    "likely represent atelectasis or pneumonia. No pneumothorax."
)


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def _others_unchanged(before, after, finding):
    return all(
        _same(before[o], after[o])
        for o in CHEXPERT_OBSERVATIONS[1:]
        if o != finding
    )


@pytest.mark.parametrize(
    "finding",
    [
        "Pleural Effusion",
        "Cardiomegaly",
        "Atelectasis",
        "Pneumonia",
        "Lung Opacity",
    ],
)
def test_negate_and_omit_round_trip(finding):
    before = label_report(REPORT)
    negated = negate_finding(REPORT, finding)
    after = label_report(negated)
    assert after[finding] == 0.0, negated
    assert _others_unchanged(before, after, finding), negated
    omitted = omit_finding(REPORT, finding)
    after = label_report(omitted)
    assert math.isnan(after[finding]), omitted
    assert _others_unchanged(before, after, finding), omitted


def test_negation_keeps_laterality_and_the_rest():
    negated = negate_finding(REPORT, "Pleural Effusion")
    first = negated.split(".")[0]
    assert "left" in first and "effusion" in first
    assert negated.endswith(
        "Mild cardiomegaly. Bibasilar opacities likely represent "
        "atelectasis or pneumonia. No pneumothorax."
    )
    negated = negate_finding("Right lower lobe pneumonia.", "Pneumonia")
    assert "right" in negated.lower()
    assert label_report(negated)["Pneumonia"] == 0.0


def test_list_items_are_cut_cleanly():
    text = "Cardiomegaly and small left effusion. No pneumothorax."
    assert omit_finding(text, "Pleural Effusion") == (
        "Cardiomegaly. No pneumothorax."
    )
    text = "No focal consolidation, pleural effusion, or pneumothorax."
    omitted = omit_finding(text, "Pleural Effusion")
    labels = label_report(omitted)
    assert math.isnan(labels["Pleural Effusion"])
    assert labels["Consolidation"] == 0.0 and labels["Pneumothorax"] == 0.0
    assert omitted.startswith("No ")


def test_uncertain_statements_are_negated_too():
    negated = negate_finding("Pneumonia cannot be excluded.", "Pneumonia")
    assert label_report(negated)["Pneumonia"] == 0.0


def test_seed_changes_phrasing_deterministically():
    texts = {
        negate_finding("Large pneumothorax.", "Pneumothorax", seed=s)
        for s in range(12)
    }
    assert len(texts) >= 2
    assert negate_finding("Large pneumothorax.", "Pneumothorax", seed=3) == (
        negate_finding("Large pneumothorax.", "Pneumothorax", seed=3)
    )
    for text in texts:
        assert label_report(text)["Pneumothorax"] == 0.0


def test_unmentioned_or_negative_finding_is_refused_or_kept():
    # Nothing to negate: an error by default (issue 19), the report itself
    # with if_absent="keep".
    for finding in ("Fracture", "Pneumothorax"):
        with pytest.raises(ValueError, match="nothing to negate"):
            negate_finding(REPORT, finding)
        assert negate_finding(REPORT, finding, if_absent="keep") == REPORT


def test_affirm_finding():
    affirmed = affirm_finding(
        "No pneumothorax. Heart size is normal.", "Pneumothorax"
    )
    labels = label_report(affirmed)
    assert labels["Pneumothorax"] == 1.0
    assert labels["Cardiomegaly"] == 0.0
    affirmed = affirm_finding(
        "No focal consolidation, pleural effusion, or pneumothorax.",
        "Pleural Effusion",
    )
    labels = label_report(affirmed)
    assert labels["Pleural Effusion"] == 1.0
    assert labels["Pneumothorax"] == 0.0 and labels["Consolidation"] == 0.0
    # Not mentioned at all: a positive sentence is appended.
    affirmed = affirm_finding("Clear lungs.", "Fracture")
    assert affirmed.startswith("Clear lungs.")
    assert label_report(affirmed)["Fracture"] == 1.0


@pytest.mark.parametrize(
    "function", [negate_finding, omit_finding, affirm_finding]
)
def test_unknown_finding_is_named(function):
    with pytest.raises(ValueError, match="Pleural effusion"):
        function(REPORT, "Pleural effusion")
    with pytest.raises(ValueError, match="No Finding"):
        function(REPORT, "No Finding")
    with pytest.raises(TypeError, match="None"):
        function(None, "Pneumonia")


def test_every_template_labels_as_intended():
    # Each observation, several phrasings, with and without a side.
    for finding in CHEXPERT_OBSERVATIONS[1:]:
        for seed in range(6):
            affirmed = affirm_finding("", finding, seed)
            assert label_report(affirmed)[finding] == 1.0, affirmed
            negated = negate_finding(affirmed, finding, seed)
            assert label_report(negated)[finding] == 0.0, negated
            sided = negate_finding(f"Left {affirmed}", finding, seed)
            assert label_report(sided)[finding] == 0.0, sided
