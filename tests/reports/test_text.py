"""Sections and sentences."""

import pytest

from keras_clinclip.reports import report_body
from keras_clinclip.reports import split_sections
from keras_clinclip.reports import split_sentences

pytestmark = pytest.mark.backend_independent

MIMIC_STYLE = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___ with cough, r/o pneumonia.

 COMPARISON:  ___.

 FINDINGS:
 Heart size is normal. No focal consolidation, pleural effusion, or
 pneumothorax.

 IMPRESSION:
 No acute cardiopulmonary process.
"""


def test_split_sections_mimic_style():
    sections = split_sections(MIMIC_STYLE)
    assert list(sections) == [
        "FINAL REPORT",
        "EXAMINATION",
        "INDICATION",
        "COMPARISON",
        "FINDINGS",
        "IMPRESSION",
    ]
    assert sections["FINDINGS"].startswith("Heart size is normal.")
    assert sections["IMPRESSION"] == "No acute cardiopulmonary process."
    assert sections["INDICATION"] == "___ with cough, r/o pneumonia."


def test_split_sections_synonyms_and_plain_text():
    sections = split_sections("Impressions: normal. Conclusion: fine.")
    assert sections == {"IMPRESSION": "normal. fine."}
    assert split_sections("Clear lungs.") == {"TEXT": "Clear lungs."}
    assert split_sections("") == {}
    assert split_sections("Cough. FINDINGS: ok.")["PREAMBLE"] == "Cough."


def test_report_body():
    body = report_body(MIMIC_STYLE)
    assert "pneumonia" not in body and "Heart size" in body
    assert report_body("No effusion.") == "No effusion."


def test_split_sentences_basic():
    assert split_sentences(
        "Heart is normal. Lungs clear!  Effusion? 1.5 cm nodule."
    ) == ["Heart is normal.", "Lungs clear!", "Effusion?", "1.5 cm nodule."]
    # abbreviations, numbered lists, blank lines, headings
    assert split_sentences("Edema vs. effusion. Dr. Smith was called.") == [
        "Edema vs. effusion.",
        "Dr. Smith was called.",
    ]
    assert split_sentences("1. Cardiomegaly. 2. Small effusion") == [
        "Cardiomegaly.",
        "Small effusion",
    ]
    assert split_sentences("Clear lungs\n\nNormal heart") == [
        "Clear lungs",
        "Normal heart",
    ]
    assert split_sentences(MIMIC_STYLE)[-1] == (
        "No acute cardiopulmonary process."
    )


def test_split_sentences_expands_negated_lists():
    assert split_sentences(
        "No focal consolidation, pleural effusion, or pneumothorax."
    ) == ["No focal consolidation.", "No pleural effusion.", "No pneumothorax."]
    assert split_sentences("There is no effusion or pneumothorax.") == [
        "There is no effusion.",
        "There is no pneumothorax.",
    ]
    # Not a plain negated list: left whole.
    mixed = "No effusion, but mild cardiomegaly and edema."
    assert split_sentences(mixed) == [mixed]
    assert split_sentences(
        "No effusion or pneumothorax.", expand_lists=False
    ) == ["No effusion or pneumothorax."]


def test_split_sentences_bad_and_odd_input():
    with pytest.raises(TypeError, match="None"):
        split_sentences(None)
    with pytest.raises(ValueError, match="UTF-8"):
        split_sentences(b"\xc3\x28")
    assert split_sentences("") == []
    assert split_sentences("... ___ ...") == []
    long_text = "word " * 25_000  # 125k characters, no full stop
    assert len(split_sentences(long_text)) == 1
