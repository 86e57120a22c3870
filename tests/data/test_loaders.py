"""Loaders on tiny trees in the published layouts; IU X-ray on a subset."""

import importlib
import json
import math

import numpy as np
import pytest

from keras_clinclip.data import chexpert
from keras_clinclip.data import load_records
from keras_clinclip.data import mimic_cxr
from keras_clinclip.data import synthcxr
from tests.data import trees

pytestmark = pytest.mark.backend_independent

# The module, not the function of the same name exported by the package.
iu = importlib.import_module("keras_clinclip.data.iu_xray")

EFFUSION = trees.OBSERVATIONS.index("Pleural Effusion")
PNEUMOTHORAX = trees.OBSERVATIONS.index("Pneumothorax")


@pytest.mark.parametrize("reports", ["zip", "txt"])
def test_mimic_cxr_jpg(tmp_path, reports):
    root = trees.mimic_tree(tmp_path, "jpg", reports)
    records = mimic_cxr(root)
    # The lateral-only study is dropped, one frontal image per study.
    assert records["id"] == ["s50414267", "s53189527"]
    assert records["view"] == ["PA", "AP"]
    assert records["split"] == ["train", "test"]
    assert records["image_path"][0].endswith("s50414267/d1.jpg")
    # FINDINGS + IMPRESSION only (no INDICATION).
    assert "cough" not in records["report"][0]
    assert "pleural effusion" in records["report"][0]
    assert records["labels"][0, EFFUSION] == 1.0
    assert records["labels"][1, PNEUMOTHORAX] == 0.0
    assert math.isnan(records["labels"][1, EFFUSION])
    only_test = mimic_cxr(root, splits=("test",))
    assert only_test["id"] == ["s53189527"]
    pa_only = mimic_cxr(root, views=("PA",))
    assert pa_only["id"] == ["s50414267"]


def test_mimic_cxr_dicom_reads_views_from_headers(tmp_path):
    root = trees.mimic_tree(tmp_path, "dcm", "txt")
    records = mimic_cxr(root, labels="labeler")
    assert records["id"] == ["s50414267", "s53189527"]
    assert records["view"] == ["PA", "AP"]
    assert records["image_path"][0].endswith(".dcm")
    assert records["labels"][0, EFFUSION] == 1.0  # from our labeler here


def test_mimic_cxr_missing_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="files/"):
        mimic_cxr(tmp_path)


def test_chexpert(tmp_path):
    root = trees.chexpert_tree(tmp_path)
    records = chexpert(root, num_negations=1)
    assert len(records["id"]) == 3  # the lateral view is left out
    assert records["split"] == ["train", "train", "validate"]
    for path in records["image_path"]:
        assert path.endswith(".jpg")
        assert __import__("os").path.exists(path)
    first = records["report"][0].lower()
    assert "effusion" in first and "pneumothorax" in first
    assert records["labels"][0, EFFUSION] == 1.0
    assert records["negation_labels"][0, 0, EFFUSION] == 0.0
    assert "effusion" in records["negations"][0][0].lower()
    assert records["negations"][0][0] != records["report"][0]
    assert records["negations"][1] == []  # No Finding: nothing to negate


def test_load_records_csv_and_jsonl(tmp_path):
    trees.write_image(tmp_path / "img" / "a.png")
    (tmp_path / "t.csv").write_text(
        "id,image_path,report,Edema,split\n"
        "x1,img/a.png,Mild edema.,1,test\n"
        "x2,img/a.png,No edema.,0,\n"
    )
    records = load_records(tmp_path / "t.csv")
    assert records["id"] == ["x1", "x2"]
    assert records["split"][0] == "test"
    assert records["labels"][0, 5] == 1.0 and records["labels"][1, 5] == 0.0
    assert np.isnan(records["labels"][0, 0])
    assert records["image_path"][0] == str(tmp_path / "img" / "a.png")
    with open(tmp_path / "t.jsonl", "w") as handle:
        for row in (
            {"image_path": "img/a.png", "report": "Edema.", "Edema": -1},
        ):
            handle.write(json.dumps(row) + "\n")
    records = load_records(tmp_path / "t.jsonl")
    assert records["labels"][0, 5] == -1.0 and records["id"] == ["0"]


def test_load_records_bad_input(tmp_path):
    (tmp_path / "nocol.csv").write_text("path,report\na.png,x\n")
    with pytest.raises(ValueError, match=r"nocol.csv: no column 'image_path'"):
        load_records(tmp_path / "nocol.csv")
    (tmp_path / "bad.csv").write_text(
        "image_path,report,Edema\na.png,ok,1\nb.png,ok,2\nc.png,,1\n"
    )
    with pytest.raises(ValueError, match=r"bad.csv, row 2, column Edema"):
        load_records(tmp_path / "bad.csv")
    records = load_records(tmp_path / "bad.csv", on_error="skip")
    assert len(records["id"]) == 1


def test_mesh_to_findings():
    found = iu.mesh_to_findings(["Pleural Effusion/bilateral/small"])
    assert found == [synthcxr.Finding("effusion", "bilateral", None, 0.3)]
    found = iu.mesh_to_findings(["Opacity/lung/base/left"])
    assert found == [synthcxr.Finding("opacity", "left", "lower", 0.5)]
    assert iu.mesh_to_findings(["Lung/hypoinflation/mild"])[0].name == (
        "hypoinflation"
    )
    assert iu.mesh_to_findings(["normal"]) == []
    assert iu.mesh_to_findings(["No Indexing"]) == []
    many = iu.mesh_to_findings(["Calcified Granuloma/lung/multiple"], seed=1)
    assert 2 <= len(many) <= 3


def test_iu_reports_are_read_from_the_package():
    rows, dropped = iu.read_iu_reports()
    assert len(rows) + len(dropped) == 3955
    assert len(dropped) < 100
    assert all(row["findings"] or row["impression"] for row in rows)
    tagged = sum(1 for row in rows if row["mesh"])
    assert tagged > 0.95 * len(rows)


def test_iu_xray_subset_cache_and_rebuild(tmp_path, monkeypatch):
    # The lung masks stay in the shared cache; the dataset goes to tmp_path.
    cache_dir = tmp_path / "iu"
    kwargs = {"image_size": 32, "limit": 6, "cache_dir": cache_dir}
    records = iu.iu_xray(num_negations=2, **kwargs)
    assert records["image"].shape == (6, 32, 32)
    assert records["labels"].shape == (6, 14)
    assert records["negation_labels"].shape == (6, 2, 14)
    assert records["graph_nodes"].shape[0] == 6
    # Images come from the MeSH tags, not from the text labels.
    for tags, drawn in zip(records["mesh"], records["findings"]):
        assert [list(f) for f in iu.mesh_to_findings(tags)] == drawn
    assert any(cache_dir.rglob("images_*.npz"))

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again instead of using the cache")

    monkeypatch.setattr(iu, "render_images", no_render)
    again = iu.iu_xray(num_negations=2, **kwargs)
    np.testing.assert_array_equal(again["image"], records["image"])
    assert again["report"] == records["report"]
    monkeypatch.setattr(iu.synthcxr, "RENDERER_VERSION", "test-bump")
    with pytest.raises(AssertionError, match="rendered again"):
        iu.iu_xray(num_negations=2, **kwargs)


def test_iu_xray_ids_and_negations():
    records = iu.iu_xray(image_size=32, ids=["CXR2", "CXR1"], cache=False)
    assert records["id"] == ["CXR1", "CXR2"]
    for i in range(2):
        for k, finding in enumerate(records["negated_findings"][i]):
            assert records["labels"][i, trees.OBSERVATIONS.index(finding)] == 1
            assert (
                records["negation_labels"][i, k][
                    trees.OBSERVATIONS.index(finding)
                ]
                == 0
            )
    with pytest.raises(ValueError, match="CXR999999"):
        iu.iu_xray(image_size=32, ids=["CXR999999"], cache=False)


def test_render_images_in_workers_matches_one_process():
    findings = [[("effusion", "left", None, 0.5)], [], ["nodule"]] * 44
    seeds = list(range(len(findings)))
    one = iu.render_images(findings, seeds, image_size=24, workers=1)
    two = iu.render_images(findings, seeds, image_size=24, workers=2)
    assert one.shape == (132, 24, 24)
    np.testing.assert_array_equal(one, two)
