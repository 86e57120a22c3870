"""The report toolkit on MIMIC-CXR-style text (issue 15).

The figures are computed on the development corpus of
`mimic_style_corpus.jsonl`, written for this repository; the thresholds are
the issue's targets for its held-out corpus.
"""

import collections
import math

import pytest

from keras_clinclip.reports import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports import FindingNotStatedError
from keras_clinclip.reports import label_agreement
from keras_clinclip.reports import label_report
from keras_clinclip.reports import label_reports
from keras_clinclip.reports import negate_finding
from keras_clinclip.reports import omit_finding
from keras_clinclip.reports import report_body
from keras_clinclip.reports import report_graph
from keras_clinclip.reports import split_sections
from keras_clinclip.reports import split_sentences
from keras_clinclip.reports.labeler import TRIGGER_STATUS
from keras_clinclip.reports.labeler import UNCERTAIN_POLICIES
from tests.reports.mimic_style_corpus import FINDINGS
from tests.reports.mimic_style_corpus import corpus
from tests.reports.mimic_style_corpus import predictions
from tests.reports.mimic_style_corpus import round_trip
from tests.reports.mimic_style_corpus import same as _same

pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def entries():
    return corpus()


@pytest.fixture(scope="module")
def scored(entries):
    predicted, reference = predictions(entries)
    return label_agreement(predicted, reference)["all"]


def test_corpus_covers_the_phrase_classes(entries):
    assert len(entries) >= 300
    classes = collections.Counter(c.split(":")[0] for c, _, _ in entries)
    for name in (
        "severity",
        "temporal",
        "resolved",
        "opacity",
        "devices",
        "absent",
        "hedge",
        "no_label",
        "report",
    ):
        assert classes[name] >= 10, classes
    hedges = {c for c, _, _ in entries if c.startswith("hedge:")}
    assert len(hedges) >= 7
    states = collections.Counter(
        v for _, _, expected in entries for v in expected.values()
    )
    assert states[1.0] >= 150 and states[0.0] >= 100 and states[-1.0] >= 60


def test_mention_recall(scored):
    assert scored["present"]["n"] >= 200
    assert scored["mention_recall"] >= 0.97, scored["present"]


def test_absent_accuracy(scored):
    assert scored["absent"]["n"] >= 100
    assert scored["absent_accuracy"] >= 0.97, scored["absent"]


def test_uncertain_accuracy(scored):
    assert scored["uncertain"]["n"] >= 60
    assert scored["uncertain_accuracy"] >= 0.40, scored["uncertain"]


def test_nothing_spurious(scored):
    # Observations the corpus does not list must stay unmentioned.
    assert scored["not_mentioned_accuracy"] >= 0.99, scored["not_mentioned"]


def test_negate_then_relabel_round_trip(entries):
    ok, total, failures = round_trip(entries)
    assert total >= 250
    assert ok / total >= 0.95, failures[:10]


def test_omit_round_trip(entries):
    ok = total = 0
    for _, text, expected in entries[::2]:
        before = label_report(text)
        for name in expected:
            if name == "No Finding":
                continue
            total += 1
            after = label_report(omit_finding(text, name))
            others = all(
                _same(before[o], after[o]) for o in FINDINGS if o != name
            )
            ok += math.isnan(after[name]) and others
    assert ok / total >= 0.95


@pytest.mark.parametrize(
    "text, expected",
    [
        # the phrasings
        ("The heart remains moderately to severely enlarged.", {"CM": 1}),
        ("Increasing cardiomegaly.", {"CM": 1}),
        (
            "Enlargement of the cardiac and mediastinal silhouettes is stable.",
            {"CM": 1, "EC": 1},
        ),
        ("Patchy bibasilar airspace process.", {"LO": 1}),
        ("Opacity concerning for pneumonia.", {"LO": 1, "PN": -1}),
        ("Findings may reflect mild edema.", {"ED": -1}),
        ("A small effusion cannot be excluded.", {"EF": -1}),
        (
            "Likely atelectasis, although pneumonia is not excluded.",
            {"AT": -1, "PN": -1},
        ),
        # devices, placed and removed
        ("Median sternotomy wires are intact.", {"SD": 1}),
        ("Right IJ line tip in the SVC.", {"SD": 1}),
        ("The ET tube has been removed.", {"SD": 0}),
        ("Resolved right lower lobe pneumonia.", {"PN": 0}),
        # no finding, comparison only
        ("No acute intrathoracic process.", {"NF": 1}),
        ("Comparison is made to ___.", {"NF": 1}),
    ],
)
def test_phrase_classes(text, expected):
    codes = {
        "NF": "No Finding",
        "CM": "Cardiomegaly",
        "EC": "Enlarged Cardiomediastinum",
        "LO": "Lung Opacity",
        "PN": "Pneumonia",
        "ED": "Edema",
        "EF": "Pleural Effusion",
        "AT": "Atelectasis",
        "SD": "Support Devices",
    }
    labels = label_report(text)
    want = {codes[k]: float(v) for k, v in expected.items()}
    for name in CHEXPERT_OBSERVATIONS:
        if name in want:
            assert labels[name] == want[name], (name, labels)
        elif name != "No Finding":
            assert math.isnan(labels[name]), (name, labels)


def test_sections_of_a_mimic_report():
    text = (
        "WET READ: ___ ___ 2:14 AM\n  Possible pneumonia.\n\n"
        "FINAL REPORT\nEXAMINATION: CHEST (PORTABLE AP)\n"
        "INDICATION: ___ with fever, evaluate for pneumothorax.\n"
        "TECHNIQUE: Portable AP view.\nCOMPARISON: ___.\n\n"
        "FINDINGS: Small left pleural effusion.\n\n"
        "IMPRESSION:\n1. Small left effusion.\n2. No pneumothorax.\n\n"
        "NOTIFICATION: Discussed with Dr. ___ at 10:00."
    )
    sections = split_sections(text)
    for name in (
        "WET READ",
        "EXAMINATION",
        "INDICATION",
        "TECHNIQUE",
        "COMPARISON",
        "FINDINGS",
        "IMPRESSION",
        "NOTIFICATION",
    ):
        assert name in sections, sections
    assert split_sentences(sections["IMPRESSION"]) == [
        "Small left effusion.",
        "No pneumothorax.",
    ]
    labels = label_report(text)
    # FINDINGS + IMPRESSION only: the indication and the wet read are not
    # mentions.
    assert labels["Pleural Effusion"] == 1.0
    assert labels["Pneumothorax"] == 0.0
    assert math.isnan(labels["Pneumonia"])


def test_report_without_findings_or_impression_heading():
    # The findings follow the HISTORY paragraph without a heading: the
    # history is left out, the findings are labelled.
    text = (
        "FINAL REPORT\nHISTORY: Fever, evaluate for pneumonia.\n\n"
        "The lungs are clear. No pleural effusion."
    )
    assert report_body(text) == "The lungs are clear. No pleural effusion."
    labels = label_report(text)
    assert math.isnan(labels["Pneumonia"])
    assert labels["Pleural Effusion"] == 0.0
    assert labels["No Finding"] == 1.0
    # Context only: nothing to label.
    assert report_body("INDICATION: r/o pneumonia.") == ""
    assert math.isnan(label_report("INDICATION: r/o pneumonia.")["Pneumonia"])


def test_uncertain_policies():
    text = "Possible pneumonia. No effusion. Mild cardiomegaly."
    keep = label_report(text)
    assert keep["Pneumonia"] == -1.0
    assert label_report(text, uncertain="positive")["Pneumonia"] == 1.0
    assert label_report(text, uncertain="negative")["Pneumonia"] == 0.0
    for policy in UNCERTAIN_POLICIES:
        labels = label_report(text, uncertain=policy)
        assert labels["Pleural Effusion"] == 0.0
        assert labels["Cardiomegaly"] == 1.0
        # "No Finding" follows the CheXpert rule whatever the policy.
        assert math.isnan(labels["No Finding"])
    rows = label_reports(["Possible pneumonia."], uncertain="positive")
    assert rows[0]["Pneumonia"] == 1.0
    with pytest.raises(ValueError, match="uncertain must be one of"):
        label_report(text, uncertain="ones")
    with pytest.raises(ValueError, match="uncertain must be one of"):
        label_reports([text], uncertain=None)


def test_trigger_registry_covers_every_status_kind():
    assert set(TRIGGER_STATUS.values()) == {0.0, -1.0, 1.0}
    assert TRIGGER_STATUS["uncertainty_pre"] == -1.0


def test_negate_finding_on_a_report_without_the_finding():
    for report, finding in [
        ("No pneumothorax.", "Pneumothorax"),  # negative
        ("Mild cardiomegaly.", "Pneumothorax"),  # not mentioned
        ("", "Edema"),
    ]:
        with pytest.raises(FindingNotStatedError, match=repr(finding)):
            negate_finding(report, finding)
        assert negate_finding(report, finding, if_absent="keep") == report
    # FindingNotStatedError is a ValueError, so callers catching
    # ValueError keep working.
    with pytest.raises(ValueError):
        negate_finding("No pneumothorax.", "Pneumothorax")
    with pytest.raises(ValueError, match="if_absent must be one of"):
        negate_finding("Small effusion.", "Pleural Effusion", if_absent="x")
    # An uncertain statement is negated, not refused.
    assert (
        label_report(negate_finding("Possible pneumonia.", "Pneumonia"))[
            "Pneumonia"
        ]
        == 0.0
    )


def test_graph_of_a_mimic_report():
    graph = report_graph(
        "The heart remains moderately to severely enlarged. Enlargement of "
        "the cardiac and mediastinal silhouettes is stable. Right IJ line "
        "in the SVC. Likely atelectasis, although pneumonia is not "
        "excluded."
    )
    nodes = graph.nodes
    assert nodes["finding:cardiomegaly"]["status"] == "present"
    assert nodes["finding:cardiomegaly"]["severity"] == 1.0
    assert nodes["finding:enlarged cardiomediastinum"]["observation"] == (
        "Enlarged Cardiomediastinum"
    )
    assert nodes["finding:support devices"]["status"] == "present"
    assert nodes["finding:atelectasis"]["status"] == "uncertain"
    assert nodes["finding:pneumonia"]["status"] == "uncertain"
    # A phrase stating two observations is graphed as the two findings it
    # stands for, never as a node of its own.
    assert not any("silhouettes" in n for n in nodes)
