"""Negation generator families: coverage, labels, disjointness.

The IU X-ray reports (CC BY-NC-ND 4.0) are read at run time from the
installed `torchxrayvision` package; nothing of them is stored here.
"""

import math

import pytest

from keras_clinclip.data.iu_xray import read_iu_reports
from keras_clinclip.reports import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports import label_report
from keras_clinclip.reports import negate_finding
from keras_clinclip.reports import positive_findings
from keras_clinclip.reports._lexicon import lexicon
from keras_clinclip.reports.negation import NegationRejectedError
from keras_clinclip.reports.negation_families import FAMILIES
from keras_clinclip.reports.negation_families import finding_phrase
from keras_clinclip.reports.negation_mix import family_negations
from keras_clinclip.reports.negation_mix import held_out_families
from keras_clinclip.reports.negation_mix import parse_families
from keras_clinclip.reports.negation_mix import rejection_rates
from keras_clinclip.tables import hash_split

pytestmark = pytest.mark.backend_independent

FINDINGS = CHEXPERT_OBSERVATIONS[1:]
# The most a family may reject on the IU test split (measured: in_place
# 4.8%, the others 0%; see docs/reports.md).
MAX_REJECTED = 0.06


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def _reads_negated(before, after, finding):
    return after[finding] == 0.0 and all(
        _same(before[o], after[o]) for o in FINDINGS if o != finding
    )


@pytest.fixture(scope="module")
def iu_test():
    """(report, finding, {family: text or None}) of the IU test split."""
    rows, _ = read_iu_reports()
    out = []
    for row in rows:
        if hash_split(row["id"]) != "test":
            continue
        text = " ".join(t for t in (row["findings"], row["impression"]) if t)
        for finding in positive_findings(label_report(text)):
            negated = {}
            for family in FAMILIES:
                try:
                    negated[family] = negate_finding(
                        text, finding, family=family
                    )
                except NegationRejectedError:
                    negated[family] = None
            out.append((text, finding, negated))
    return out


def test_every_family_negates_every_iu_test_finding(iu_test):
    stated = {finding for _, finding, _ in iu_test}
    assert len(stated) >= 10  # the split states most observations
    for family in FAMILIES:
        done = {f for _, f, texts in iu_test if texts[family] is not None}
        assert done == stated, (family, stated - done)
        rejected = sum(texts[family] is None for _, _, texts in iu_test)
        assert rejected / len(iu_test) <= MAX_REJECTED, (family, rejected)


def test_the_labeler_reads_every_iu_negation_as_intended(iu_test):
    for text, finding, texts in iu_test:
        before = label_report(text)
        for family, negated in texts.items():
            if negated is not None:
                after = label_report(negated)
                assert _reads_negated(before, after, finding), (
                    family,
                    finding,
                )


def test_two_families_never_give_the_same_text(iu_test):
    for _, _, texts in iu_test:
        made = [t for t in texts.values() if t is not None]
        assert len(made) == len(set(made))


def _stated(name, side):
    phrase = finding_phrase(name, side)
    return f"Heart and lungs were examined. {phrase[:1].upper()}{phrase[1:]}."


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("side", [None, "left", "right", "bilateral"])
def test_every_family_covers_every_finding_and_side(family, side):
    for finding in FINDINGS:
        name = lexicon().by_observation[finding][0]
        lateral = lexicon().findings[name].get("lateral")
        if side and not lateral:
            continue
        report = _stated(name, side)
        before = label_report(report)
        if before[finding] != 1.0:
            continue  # the phrase alone is not positive (none today)
        negated = negate_finding(report, finding, family=family)
        assert _reads_negated(before, label_report(negated), finding)
        assert negated.startswith("Heart and lungs were examined. ")
        if side:
            assert side in negated.lower(), (family, finding, negated)


def test_in_place_keeps_the_rest_of_the_sentence():
    report = "Cardiomegaly and small left pleural effusion, unchanged."
    out = negate_finding(report, "Pleural Effusion", family="in_place")
    assert out.startswith("Cardiomegaly")
    assert "no left pleural effusion" in out.lower()
    assert label_report(out)["Cardiomegaly"] == 1.0
    out = negate_finding(
        "The heart size is mildly enlarged.", "Cardiomegaly", family="in_place"
    )
    assert out == "The heart size is not enlarged."


@pytest.mark.parametrize(
    "report, finding, expected",
    [
        # a measurement goes with the mention
        (
            "A 5 mm stable right apical nodule.",
            "Lung Lesion",
            "Right apical nodule is not present.",
        ),
        # "no" only after a word it can follow, else the sentence restarts
        (
            "There is a vague nodular like opacity in the right midlung.",
            "Lung Opacity",
            "No opacity in the right midlung.",
        ),
        (
            "There is a small left effusion.",
            "Pleural Effusion",
            "There is no left effusion.",
        ),
    ],
)
def test_in_place_negation_reads_as_english(report, finding, expected):
    assert negate_finding(report, finding, family="in_place") == expected


def test_rejected_negations_raise_and_are_counted():
    report = "Heart size is top normal."
    with pytest.raises(NegationRejectedError, match="in_place"):
        negate_finding(report, "Cardiomegaly", family="in_place")
    rates = rejection_rates([report], ["templates", "in_place"])
    assert rates["in_place"] == {"tried": 1, "rejected": 1, "rate": 1.0}
    assert rates["templates"]["rejected"] == 0


def test_family_negations_mix_families_and_fall_back():
    reports = ["Mild cardiomegaly."] * 12
    texts = family_negations(
        reports,
        [["Cardiomegaly"]] * 12,
        "resolution,vocabulary",
        ids=[f"s{i}" for i in range(12)],
    )
    made = {t[0] for t in texts}
    assert any("resol" in t for t in made)
    assert any("resol" not in t for t in made)
    # in_place rejects this report; the slot falls back on templates.
    out = family_negations(
        ["Heart size is top normal."], [["Cardiomegaly"]], "in_place,templates"
    )
    assert out == [["The heart is not enlarged."]]
    assert family_negations(
        ["Heart size is top normal."], [["Cardiomegaly"]], "in_place"
    ) == [[""]]


def test_family_names_are_checked():
    assert parse_families("all") == tuple(FAMILIES)
    assert held_out_families("all") == ()
    with pytest.raises(ValueError, match="unknown negation family 'nope'"):
        parse_families("templates,nope")
    with pytest.raises(ValueError, match="at least one"):
        parse_families(" , ")
    with pytest.raises(ValueError, match="unknown negation family"):
        negate_finding("Mild cardiomegaly.", "Cardiomegaly", family="x")
