"""CXR-Align-format builder and loader."""

import json

import pytest

from keras_clinclip.reports import build_cxr_align
from keras_clinclip.reports import label_report
from keras_clinclip.reports import load_cxr_align

pytestmark = pytest.mark.backend_independent

REPORTS = [
    "Small right pleural effusion. No pneumothorax.",
    "Normal chest. No acute disease.",
    "Mild cardiomegaly. Left lower lobe pneumonia.",
]


def test_build_cxr_align_schema_and_choices():
    data = build_cxr_align(REPORTS, ids=["a", "b", "c"], source="test")
    entries = data["test"]
    assert set(entries) == {"a", "c"}  # "b" has no positive finding
    for key, entry in entries.items():
        assert set(entry) == {
            "report",
            "chosen",
            "negation",
            "omitted",
            "location",
        }
        chosen = entry["chosen"]
        assert label_report(entry["report"])[chosen] == 1.0
        assert label_report(entry["negation"])[chosen] == 0.0
        assert label_report(entry["omitted"])[chosen] != 1.0
        assert entry["report"] == REPORTS["abc".index(key)]
    assert entries["a"]["chosen"] == "Pleural Effusion"
    assert "right" in entries["a"]["location"]
    assert build_cxr_align(REPORTS, seed=1) == build_cxr_align(REPORTS, seed=1)
    with pytest.raises(ValueError, match="ids"):
        build_cxr_align(REPORTS, ids=["x"])


def test_load_cxr_align_round_trip_and_errors(tmp_path):
    path = tmp_path / "align.json"
    data = build_cxr_align(REPORTS)
    path.write_text(json.dumps(data))
    assert load_cxr_align(path) == data
    path.write_text(json.dumps({"mimic": {"7": {"report": "x"}}}))
    with pytest.raises(ValueError, match="'mimic'/'7'.*'negation'"):
        load_cxr_align(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_cxr_align(path)
    # The official file may lack "chosen"/"location": defaults fill them.
    path.write_text(
        json.dumps(
            {"s": {"1": {"report": "a", "negation": "b", "omitted": "c"}}}
        )
    )
    assert load_cxr_align(path)["s"]["1"]["location"] == ""
