"""Unit tests of the CheXpert-14 labeler on sentences written for them."""

import math

import numpy as np
import pytest

from keras_clinclip.reports import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports import label_report
from keras_clinclip.reports import label_reports
from keras_clinclip.reports import labels_to_array
from keras_clinclip.reports import positive_findings

pytestmark = pytest.mark.backend_independent


def test_observations_are_chexpert_names_in_csv_order():
    assert CHEXPERT_OBSERVATIONS == (
        "No Finding",
        "Enlarged Cardiomediastinum",
        "Cardiomegaly",
        "Lung Opacity",
        "Lung Lesion",
        "Edema",
        "Consolidation",
        "Pneumonia",
        "Atelectasis",
        "Pneumothorax",
        "Pleural Effusion",
        "Pleural Other",
        "Fracture",
        "Support Devices",
    )


@pytest.mark.parametrize(
    "sentence, finding, expected",
    [
        # plain positive and negative
        ("There is a large right pneumothorax.", "Pneumothorax", 1.0),
        ("No pneumothorax.", "Pneumothorax", 0.0),
        ("There is no evidence of pneumothorax.", "Pneumothorax", 0.0),
        ("Pneumothorax is not seen.", "Pneumothorax", 0.0),
        ("The previously seen effusion has resolved.", "Pleural Effusion", 0.0),
        ("The heart is not enlarged.", "Cardiomegaly", 0.0),
        ("Heart size is normal.", "Cardiomegaly", 0.0),
        ("The heart is mildly enlarged.", "Cardiomegaly", 1.0),
        # scope: the negation stops at "but"
        ("No effusion, but there is mild cardiomegaly.", "Cardiomegaly", 1.0),
        (
            "No effusion, but there is mild cardiomegaly.",
            "Pleural Effusion",
            0.0,
        ),
        # lists negated together
        (
            "No focal consolidation, pleural effusion, or pneumothorax.",
            "Pneumothorax",
            0.0,
        ),
        (
            "No focal consolidation, pleural effusion, or pneumothorax.",
            "Consolidation",
            0.0,
        ),
        ("Without pleural effusion or pneumothorax.", "Pleural Effusion", 0.0),
        # pseudo-negations
        (
            "No change in the small left pleural effusion.",
            "Pleural Effusion",
            1.0,
        ),
        ("No interval change in bibasilar atelectasis.", "Atelectasis", 1.0),
        ("Not only cardiomegaly but also edema.", "Cardiomegaly", 1.0),
        # double negation
        (
            "The left pleural effusion has not resolved.",
            "Pleural Effusion",
            1.0,
        ),
        ("Pneumonia cannot be excluded.", "Pneumonia", -1.0),
        ("Pneumonia is not ruled out.", "Pneumonia", -1.0),
        # uncertainty
        ("Opacity may represent pneumonia.", "Pneumonia", -1.0),
        ("Opacity may represent pneumonia.", "Lung Opacity", 1.0),
        ("Cannot exclude a small pneumothorax.", "Pneumothorax", -1.0),
        ("Possible small left effusion.", "Pleural Effusion", -1.0),
        ("Findings suggestive of pulmonary edema.", "Edema", -1.0),
        ("Basilar opacity, atelectasis versus pneumonia.", "Atelectasis", -1.0),
        ("Basilar opacity, atelectasis versus pneumonia.", "Pneumonia", -1.0),
        ("Borderline cardiomegaly.", "Cardiomegaly", -1.0),
        # a negation before a hedge covers the hedged finding
        ("No focal opacity to suggest pneumonia.", "Pneumonia", 0.0),
        # not mentioned
        ("The lungs are clear.", "Pneumothorax", math.nan),
        # devices and fractures
        (
            "Left-sided pacemaker with leads in the right ventricle.",
            "Support Devices",
            1.0,
        ),
        ("Healed left rib fractures.", "Fracture", 1.0),
        ("No acute fracture.", "Fracture", 0.0),
        # "No X of the Y": "no enlargement of" negates, while "no interval
        # enlargement" speaks of change and keeps the finding
        ("No enlargement of the heart.", "Cardiomegaly", 0.0),
        ("There is no enlargement of the heart.", "Cardiomegaly", 0.0),
        (
            "No significant enlargement of the cardiac silhouette.",
            "Cardiomegaly",
            0.0,
        ),
        (
            "No enlargement of the mediastinum.",
            "Enlarged Cardiomediastinum",
            0.0,
        ),
        (
            "No enlargement of the cardiomediastinal silhouette.",
            "Enlarged Cardiomediastinum",
            0.0,
        ),
        (
            "No widening of the mediastinum.",
            "Enlarged Cardiomediastinum",
            0.0,
        ),
        ("No blunting of the costophrenic angles.", "Pleural Effusion", 0.0),
        ("No collapse of the left lower lobe.", "Atelectasis", 0.0),
        ("No interval enlargement of the heart.", "Cardiomegaly", 1.0),
        ("Cardiomegaly, no further enlargement.", "Cardiomegaly", 1.0),
        # a caveat on what the study can show is no finding and no negation
        (
            "Please note that nondisplaced fractures may not be demonstrated.",
            "Fracture",
            -1.0,
        ),
        (
            "Small pneumothorax may not be seen on the supine view.",
            "Pneumothorax",
            -1.0,
        ),
    ],
)
def test_sentence_labels(sentence, finding, expected):
    value = label_report(sentence)[finding]
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected, (sentence, finding, value)


def test_positive_wins_over_uncertain_and_negative():
    labels = label_report(
        "No pleural effusion. Possible right effusion. Small left effusion."
    )
    assert labels["Pleural Effusion"] == 1.0
    labels = label_report("No pleural effusion. Possible right effusion.")
    assert labels["Pleural Effusion"] == -1.0


def test_no_finding_rule():
    normal = label_report("Heart size is normal. No effusion or pneumothorax.")
    assert normal["No Finding"] == 1.0
    # Support devices do not count against "No Finding".
    assert (
        label_report("Pacemaker in place. Lungs are clear.")["No Finding"]
        == 1.0
    )
    # An uncertain finding does.
    assert math.isnan(label_report("Possible pneumonia.")["No Finding"])
    # Nothing stated at all: NaN.
    assert math.isnan(label_report("")["No Finding"])


def test_sections_auto_ignores_indication():
    text = "INDICATION: rule out pneumonia.\nFINDINGS: No pneumonia."
    assert label_report(text)["Pneumonia"] == 0.0
    assert label_report(text, sections=None)["Pneumonia"] == -1.0


def test_bad_input():
    with pytest.raises(TypeError, match="None"):
        label_report(None)
    with pytest.raises(TypeError, match="int"):
        label_report(12)
    with pytest.raises(ValueError, match="UTF-8.*0xff"):
        label_report(b"No effusion \xff")
    assert label_report(b"No effusion.")["Pleural Effusion"] == 0.0
    with pytest.raises(TypeError, match="row 1"):
        label_reports(["No effusion.", None])
    rows = label_reports(["No effusion.", None], errors="nan")
    assert all(math.isnan(v) for v in rows[1].values())


def test_deidentification_tokens_and_long_reports():
    labels = label_report("XXXX left pleural effusion. ___ No pneumothorax.")
    assert labels["Pleural Effusion"] == 1.0
    assert labels["Pneumothorax"] == 0.0
    assert label_report("XXXX ___ XXXX.")["No Finding"] == 1.0
    # 100k characters, one of them a sentence without any full stop.
    long_text = "No pneumothorax. " * 5000 + "word " * 4000
    assert len(long_text) > 100_000
    assert label_report(long_text)["Pneumothorax"] == 0.0


def test_labels_to_array():
    rows = label_reports(["Mild cardiomegaly.", "No effusion."])
    array = labels_to_array(rows)
    assert array.dtype == np.float32 and array.shape == (2, 14)
    column = CHEXPERT_OBSERVATIONS.index("Cardiomegaly")
    assert array[0, column] == 1.0 and np.isnan(array[1, column])
    assert array[1, CHEXPERT_OBSERVATIONS.index("Pleural Effusion")] == 0.0
    assert np.isnan(labels_to_array([{}])).all()
    with pytest.raises(TypeError, match="row 0"):
        labels_to_array(["nope"])


def test_positive_findings():
    text = "Small left effusion. Possible pneumonia. No pneumothorax."
    assert positive_findings(text) == ["Pneumonia", "Pleural Effusion"]
    assert positive_findings(label_report(text)) == positive_findings(text)
    assert positive_findings("Normal chest.") == []


def test_no_regex_catastrophe_or_quadratic_blow_up():
    import time

    from keras_clinclip.reports import process_report

    cases = [
        "blunting of the " + "left " * 4000 + "x",
        "heart " + "again " * 4000 + "x",
        "no effusion or " * 4000,
        " ".join(["small left effusion and mild cardiomegaly,"] * 2400),
    ]
    for text in cases:
        start = time.perf_counter()
        record = process_report("1", text)
        assert record["error"] is None
        assert time.perf_counter() - start < 10.0, text[:40]
