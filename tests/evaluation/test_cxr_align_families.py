"""Same-family vs cross-family CXR-Align on a model that learnt one
generator's surface form."""

import re
import zlib

import numpy as np
import pytest

from keras_clinclip.evaluation.cxr_align_families import cross_family_cxr_align
from keras_clinclip.evaluation.cxr_align_families import family_headline
from keras_clinclip.evaluation.cxr_align_families import (
    format_cross_family_table,
)
from keras_clinclip.reports import label_reports
from keras_clinclip.reports import labels_to_array
from keras_clinclip.reports import omit_finding

pytestmark = pytest.mark.backend_independent

# A "model" that learnt the templates family's words rather than negation:
# the more of them a text has, the further it is from every image.
_NO = re.compile(
    r"\bno\b(?! longer)|\bnot (?:seen|enlarged)\b|\bis normal\b",
    re.IGNORECASE,
)


class SurfaceModel:
    def convert_images(self, images):
        n = len(images)
        return np.tile(np.array([[1.0, 0.0]], np.float32), (n, 1))

    def encode_images(self, x):
        return x

    def tokenize(self, texts):
        ids = np.array(
            # The third column tells texts apart (CXR-Align leaves out an
            # item whose negation tokenizes as its report).
            [
                [1.0, len(_NO.findall(t)), zlib.crc32(t.encode()) % 65521]
                for t in texts
            ],
            np.float32,
        )
        return {"token_ids": ids, "padding_mask": np.ones_like(ids)}

    def encode_texts(self, ids, mask):
        return np.asarray(ids)[:, :2]


REPORTS = [
    ("Small left pleural effusion.", "Pleural Effusion"),
    ("Mild cardiomegaly.", "Cardiomegaly"),
    ("Right lower lobe consolidation.", "Consolidation"),
    ("Small right pneumothorax.", "Pneumothorax"),
    ("Mild pulmonary edema.", "Edema"),
    ("Left lower lobe atelectasis.", "Atelectasis"),
]


def _records():
    reports = [r for r, _ in REPORTS]
    return {
        "id": [f"s{i}" for i in range(len(reports))],
        "report": reports,
        "labels": labels_to_array(label_reports(reports)),
        "split": ["test"] * len(reports),
        "image": np.zeros((len(reports), 4, 4), np.uint8),
        "negated_findings": [[f] for _, f in REPORTS],
        "omissions": [[omit_finding(r, f)] for r, f in REPORTS],
    }


def test_a_surface_model_scores_high_same_family_and_low_cross_family():
    out = cross_family_cxr_align(
        SurfaceModel(), SurfaceModel(), _records(), "templates,in_place"
    )
    rows = out["families"]
    assert rows["templates"]["training"] and rows["in_place"]["training"]
    assert not rows["resolution"]["training"]
    assert all(row["n"] == len(REPORTS) for row in rows.values())
    # Every templates negation starts "No ..."/"There is no ...".
    assert rows["templates"]["A"] == 1.0
    # "has resolved", "negative for", ... carry no "no": ties fail.
    assert rows["resolution"]["A"] == 0.0
    assert out["same"]["A"] == pytest.approx(
        np.mean([rows["templates"]["A"], rows["in_place"]["A"]])
    )
    cross = [rows[n]["A"] for n in ("resolution", "vocabulary", "synonyms")]
    assert out["cross"]["A"] == pytest.approx(np.mean(cross))
    assert out["same"]["A"] > out["cross"]["A"]
    headline = family_headline(out)
    assert headline["CXR-Align Task A [resolution]"] == 0.0
    table = format_cross_family_table(out)
    assert "| resolution | no | 6 | 0.000 |" in table
    assert out["rejected"]["templates"] == {
        "tried": 6,
        "rejected": 0,
        "rate": 0.0,
    }


def test_the_official_benchmark_is_a_third_column():
    official = {
        "official": {
            "s0": {
                "report": "Small left pleural effusion.",
                "negation": "No left pleural effusion.",
                "omitted": "",
            }
        }
    }
    out = cross_family_cxr_align(
        SurfaceModel(), SurfaceModel(), _records(), "all", official=official
    )
    assert out["official"] == {
        "A": 1.0,
        "B": pytest.approx(out["official"]["B"]),
        "n": 1,
    }
    assert out["cross"]["A"] is None  # every family was used in training
    assert "| official cxr-align.json | no | 1 | 1.000 |" in (
        format_cross_family_table(out)
    )
