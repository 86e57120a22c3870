"""Quality on the real IU X-ray reports, read at run time.

The reports (CC BY-NC-ND 4.0) come from the installed `torchxrayvision`
package; nothing of them is stored in this repository. The thresholds are
those of the issue: macro-F1 >= 0.80 against the radiologists' MeSH tags,
negative-mention accuracy >= 0.95, negate/omit round trip >= 98%.
"""

import pytest

from keras_clinclip.reports import label_reports
from keras_clinclip.reports._iu import agreement
from keras_clinclip.reports._iu import iu_reports
from keras_clinclip.reports._iu import mesh_observations
from keras_clinclip.reports._iu import negative_mentions
from keras_clinclip.reports._iu import round_trip

pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def rows():
    return [row for row in iu_reports() if row["report"]]


def test_reader_finds_all_reports(rows):
    assert len(iu_reports()) == 3955
    assert len(rows) > 3900
    assert all(row["id"].startswith("CXR") for row in rows)


def test_mesh_mapping():
    assert mesh_observations(["normal"]) == {"No Finding"}
    assert mesh_observations(["Cardiac Shadow/enlarged/mild"]) == {
        "Cardiomegaly"
    }
    assert mesh_observations(["Cardiomegaly/borderline"]) == {"No Finding"}
    assert mesh_observations(["Thickening/pleura/left"]) == {"Pleural Other"}
    assert mesh_observations(["Catheters, Indwelling"]) == {
        "Support Devices",
        "No Finding",
    }


def test_macro_f1_against_mesh(rows):
    labels = label_reports([row["report"] for row in rows])
    per_class, macro = agreement(rows, labels)
    # The targets: >= 0.80 first, then kept >= 0.84 (issue 15).
    assert macro >= 0.84, per_class
    assert per_class["Cardiomegaly"]["f1"] >= 0.9
    assert per_class["No Finding"]["f1"] >= 0.9


def test_negative_mention_accuracy(rows):
    accuracy, total, _ = negative_mentions(rows)
    assert total > 2000
    assert accuracy >= 0.99  # >= 0.95 asked; kept >= 0.99 (issue 15)


def test_negate_and_omit_round_trip(rows):
    subset = rows[::4]  # a fixed quarter of the reports, for time
    result = round_trip(subset)
    assert result["cases"] > 500
    assert result["negate_ok"] >= 0.98, result["failures"]
    assert result["omit_ok"] >= 0.98, result["failures"]
