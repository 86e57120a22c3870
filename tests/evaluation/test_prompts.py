"""The default prompt pairs and their overrides."""

import json

import pytest

from keras_clinclip.models import clinclip_prompts as cp
from keras_clinclip.reports import CHEXPERT_OBSERVATIONS

pytestmark = pytest.mark.backend_independent


def test_defaults_cover_chexpert_and_iu_findings_with_several_pairs():
    prompts = cp.load_prompts()
    for name in [*CHEXPERT_OBSERVATIONS, "Granuloma", "Nodule", "Emphysema"]:
        entry = prompts[name]
        assert len(entry["positive"]) >= 3, name
        assert len(entry["positive"]) == len(entry["negative"]), name
        assert set(entry["positive"]).isdisjoint(entry["negative"]), name


def test_no_finding_has_no_double_negation():
    entry = cp.load_prompts()["No Finding"]
    for text in entry["positive"] + entry["negative"]:
        lowered = text.lower()
        assert "no no" not in lowered and "finding" not in lowered, text
    with pytest.raises(ValueError, match="double negation"):
        cp.prompt_pairs(["No Pneumothorax Seen"])


def test_overrides_file_and_templates(tmp_path):
    pairs = cp.prompt_pairs(
        ["Cardiomegaly", "Hilar Adenopathy"],
        overrides={
            "Cardiomegaly": {
                "positive": ["Big heart."],
                "negative": ["Normal heart."],
            }
        },
    )
    assert list(pairs) == ["Cardiomegaly", "Hilar Adenopathy"]
    assert pairs["Cardiomegaly"] == {
        "positive": ["Big heart."],
        "negative": ["Normal heart."],
    }
    assert pairs["Hilar Adenopathy"]["positive"][0] == (
        "There is hilar adenopathy."
    )
    path = tmp_path / "prompts.json"
    path.write_text(
        json.dumps(
            {
                "templates": {
                    "positive": ["{Finding} seen."],
                    "negative": ["{Finding} not seen."],
                },
                "findings": {"Edema": {"phrase": "edema"}},
            }
        )
    )
    from_file = cp.prompt_pairs(["Edema", "Pneumothorax"], source=path)
    assert from_file["Edema"] == {
        "positive": ["Edema seen."],
        "negative": ["Edema not seen."],
    }
    # Explicit defaults still win over new templates for other findings.
    assert from_file["Pneumothorax"] == cp.load_prompts()["Pneumothorax"]


def test_bad_prompt_sets_name_the_finding():
    with pytest.raises(ValueError, match="'Edema'.*no 'negative'"):
        cp.load_prompts(overrides={"Edema": {"positive": ["x"]}})
    with pytest.raises(ValueError, match="'Edema'.*unknown keys"):
        cp.load_prompts(overrides={"Edema": {"postive": ["x"]}})
    with pytest.raises(ValueError, match=r"negative\[0\] must be"):
        cp.load_prompts(
            overrides={"Edema": {"positive": ["x"], "negative": [""]}}
        )
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        cp.load_prompts("nowhere.yaml")
