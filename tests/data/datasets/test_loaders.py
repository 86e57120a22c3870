"""Each loader reads its fixture folder in every documented form.

The fixtures (`fixtures.py`) hold real table rows and SynthCXR images
with the finding drawn inside the real boxes or masks; the images are
decoded here (DICOM MONOCHROME1 and 2, `.dicom`, PNG, JPG) and the
finding must come out brighter inside its region than outside, which
holds only when file, box and decoder agree.
"""

import csv
import pathlib

import numpy as np
import pytest

from keras_clinclip import tables
from keras_clinclip.data import records as rec
from keras_clinclip.data.datasets import LOADERS
from keras_clinclip.data.datasets import boxes_to_mask
from keras_clinclip.data.datasets import build_chexpert_5x200
from keras_clinclip.data.datasets import chexpert_5x200
from keras_clinclip.data.datasets import chexpert_test
from keras_clinclip.data.datasets import chexpert_valid
from keras_clinclip.data.datasets import decode_rle
from keras_clinclip.data.datasets import exclude_patients
from keras_clinclip.data.datasets import splits
from keras_clinclip.data.images import decode_image
from tests.data.datasets import fixtures

pytestmark = pytest.mark.backend_independent


def check_contract(records, with_regions=False):
    """The columns every loader returns (docs/data.md)."""
    n = rec.validate_records(records)
    assert n > 0
    assert records["labels"].shape == (n, 14)
    assert records["labels"].dtype == np.float32
    width = len(records["class_names"])
    assert records["class_labels"].shape == (n, width)
    assert set(records["split"]) <= set(tables.SPLITS)
    assert all(isinstance(t, str) for t in records["report"])
    if with_regions:
        assert records["image_hw"].shape == (n, 2)
        assert records["image_hw"].dtype == np.int32
        for boxes, names in zip(records["boxes"], records["box_labels"]):
            assert boxes.dtype == np.float32 and boxes.shape == (len(names), 4)
    return n


def brighter_inside(image, mask):
    """Mean inside the region minus mean outside, on a 0..255 image."""
    assert image.shape == mask.shape
    return image[mask].mean() - image[~mask].mean()


def test_loaders_registry():
    assert sorted(LOADERS) == sorted(
        [
            "rsna",
            "siim",
            "vindr",
            "chestxray14",
            "ms-cxr",
            "covidx",
            "chexpert-5x200",
            "chexpert-test",
            "chexpert-valid",
        ]
    )
    from keras_clinclip.data.datasets import DESCRIPTIONS

    assert set(DESCRIPTIONS) == set(LOADERS)
    assert all(callable(loader) for loader in LOADERS.values())


def test_rsna_fixture(tmp_path):
    root = fixtures.write_rsna(tmp_path, n=4)
    records = LOADERS["rsna"](root)
    check_contract(records, with_regions=True)
    table = list(csv.reader(open(root / "stage_2_train_labels.csv")))[1:]
    for patient, boxes in zip(records["id"], records["boxes"]):
        rows = [r for r in table if r[0] == patient and r[5] == "1"]
        assert boxes.tolist() == [[float(v) for v in r[1:5]] for r in rows]
    assert any(len(b) > 1 for b in records["boxes"])
    assert set(records["detailed_class"]) <= {
        "Lung Opacity",
        "Normal",
        "No Lung Opacity / Not Normal",
    }
    positive = [i for i, b in enumerate(records["boxes"]) if len(b)]
    for i in positive[:2]:
        image = decode_image(records["image_path"][i])
        assert image.shape == (1024, 1024)
        mask = boxes_to_mask(records["boxes"][i], 1024, 1024)
        assert brighter_inside(image, mask) > 40
    test = LOADERS["rsna"](root, split="test")
    assert set(test["split"]) == {"test"} and test["class_names"] == [
        "Pneumonia"
    ]


@pytest.mark.parametrize("stage", [1, 2])
def test_siim_fixture(tmp_path, stage):
    root = fixtures.write_siim(tmp_path, n=4, stage=stage)
    rows = LOADERS["siim"](root)
    images = LOADERS["siim"](root, rule="image")
    assert len(rows["id"]) > len(images["id"]) == 4  # one image, two rows
    check_contract(images)
    for path in images["image_path"]:
        assert pathlib.Path(path).exists() and path.endswith(".dcm")
    if stage == 1:
        assert "dicom-images-train" in images["image_path"][0]
    positive = [i for i, r in enumerate(images["mask_rle"]) if r]
    assert len(positive) == 2
    for i in positive:
        mask = decode_rle(images["mask_rle"][i], 1024, 1024)
        assert brighter_inside(decode_image(images["image_path"][i]), mask) > 40
    negative = images["class_labels"][:, 0] == 0
    assert all(not images["mask_rle"][i] for i in np.nonzero(negative)[0])


@pytest.mark.parametrize("form", ["physionet", "kaggle"])
def test_vindr_fixture(tmp_path, form):
    root = fixtures.write_vindr(tmp_path, n=4, form=form)
    records = LOADERS["vindr"](root)
    check_contract(records, with_regions=True)
    assert all(p.endswith(".dicom") for p in records["image_path"])
    if form == "physionet":
        assert records["split"].count("test") == 1
    boxed = [i for i, b in enumerate(records["boxes"]) if len(b)]
    assert boxed
    for i in boxed:
        image = decode_image(records["image_path"][i])
        assert tuple(records["image_hw"][i]) == image.shape
        mask = boxes_to_mask(records["boxes"][i], *image.shape)
        # The first image is MONOCHROME1: inverted back on decoding.
        assert brighter_inside(image, mask) > 30
        names = list(records["class_names"])
        for label in records["box_labels"][i]:
            assert records["class_labels"][i, names.index(label)] == 1


def test_chestxray14_fixture(tmp_path):
    root = fixtures.write_chestxray14(tmp_path, n=4)
    records = LOADERS["chestxray14"](root)
    check_contract(records, with_regions=True)
    assert splits.counts_of(records["split"])["test"] == 2
    boxed = [i for i, b in enumerate(records["boxes"]) if len(b)]
    assert boxed
    for i in boxed:
        image = decode_image(records["image_path"][i])
        mask = boxes_to_mask(records["boxes"][i], 1024, 1024)
        assert brighter_inside(image, mask) > 40


def test_ms_cxr_fixture_and_patient_exclusion(tmp_path):
    root = fixtures.write_ms_cxr(tmp_path, n=3)
    records = LOADERS["ms-cxr"](root)
    check_contract(records, with_regions=True)
    assert records["split"] == ["test", "validate", "train"]
    assert [len(p) for p in records["phrases"]] == [2, 1, 1]
    for i in range(3):
        image = decode_image(records["image_path"][i])
        assert tuple(records["image_hw"][i]) == image.shape
        mask = boxes_to_mask(records["boxes"][i], *image.shape)
        assert brighter_inside(image, mask) > 30
    mimic = {
        "id": ["a", "b"],
        "image_path": [
            "/m/files/p10/p10000032/s1/x.jpg",
            "/m/files/p10/p11111111/s2/y.jpg",
        ],
    }
    assert exclude_patients(mimic, records)["id"] == ["b"]


def test_covidx_fixture(tmp_path):
    root = fixtures.write_covidx(tmp_path, n=4)
    records = LOADERS["covidx"](root)
    check_contract(records)
    assert records["class_names"] == ["positive", "negative"]
    assert {pathlib.Path(p).suffix for p in records["image_path"]} == {
        ".png",
        ".jpg",
    }
    for path in records["image_path"]:
        assert decode_image(path).shape == (96, 96)
    assert records["split"].count("test") == 2


def test_chexpert_fixture_every_form(tmp_path):
    root = fixtures.write_chexpert_5x200(tmp_path, n=2)
    five = chexpert_5x200(root / "chexpert_5x200.csv")
    check_contract(five)
    assert five["class_labels"].sum(axis=0).tolist() == [2.0] * 5
    assert all(pathlib.Path(p).exists() for p in five["image_path"])
    assert all(r.startswith("There is") for r in five["report"])
    built = build_chexpert_5x200(root / "train.csv", per_class=2)
    assert sorted(built["image_path"]) == sorted(five["image_path"])
    with pytest.raises(ValueError, match="fewer than per_class=3"):
        build_chexpert_5x200(root / "train.csv", per_class=3)
    test = chexpert_test(root)
    check_contract(test)
    table = list(csv.reader(open(root / "groundtruth.csv")))
    for row, path in zip(table[1:], test["image_path"]):
        study = row[0].split("/", 1)[1]
        assert path == str(root / study / "view1_frontal.jpg")
    names = list(test["class_names"])
    for row, labels in zip(table[1:], test["class_labels"]):
        assert labels.tolist() == [
            float(row[1 + names.index(n)]) for n in names
        ]
    ones = chexpert_valid(root, uncertain="ones")
    zeros = chexpert_valid(root, uncertain="zeros")
    kept = chexpert_valid(root, uncertain="keep")
    check_contract(ones)
    uncertain = kept["class_labels"] == -1
    assert uncertain.any()
    assert (ones["class_labels"][uncertain] == 1).all()
    assert (zeros["class_labels"][uncertain] == 0).all()
    blank = np.isnan(kept["class_labels"])
    assert (ones["class_labels"][blank] == 0).all()


def test_splits_subsets_are_nested_and_seeded():
    records = {"id": [str(i) for i in range(1000)], "split": ["train"] * 900}
    records["split"] += ["test"] * 100
    sizes, previous = [], None
    for fraction in (0.01, 0.1, 1.0):
        part = splits.subset(records, fraction, seed=3)
        train = {i for i, s in zip(part["id"], part["split"]) if s == "train"}
        assert part["split"].count("test") == 100
        if previous is not None:
            assert previous <= train
        previous = train
        sizes.append(len(train))
    assert sizes == [9, 90, 900]
    other = splits.subset(records, 0.1, seed=4)
    assert other["id"] != splits.subset(records, 0.1, seed=3)["id"]


def test_split_from_lists(tmp_path):
    (tmp_path / "test.txt").write_text("b.png\nc.png\n")
    assert splits.split_from_lists(
        ["a", "b", "c"], {"test": tmp_path / "test.txt"}
    ) == [
        None,
        "test",
        "test",
    ]
    (tmp_path / "bad.txt").write_text("a\nz.png\n")
    with pytest.raises(ValueError, match=r"bad.txt, row 2, column 'id'"):
        splits.split_from_lists(["a"], {"train": tmp_path / "bad.txt"})


def test_count_check_names_dataset_split_and_counts():
    with pytest.raises(ValueError) as error:
        splits.check_counts(
            "siim", "image", 12047, {"train": 8000, "test": 1807}
        )
    message = str(error.value)
    assert "siim" in message and "'train'" in message
    assert "8000" in message and "8432" in message and "\n" not in message


def test_class_names_stay_whole_through_select_and_concatenate():
    records = {
        "id": ["a", "b", "c"],
        "split": ["train", "test", "test"],
        "class_names": ["X", "Y"],
    }
    assert rec.select(records, [2])["class_names"] == ["X", "Y"]
    joined = rec.concatenate([records, rec.select(records, [0])])
    assert joined["class_names"] == ["X", "Y"] and len(joined["id"]) == 4
    assert (
        rec.validate_records(
            dict(joined, report=[""] * 4, labels=[[0] * 14] * 4, image=[0] * 4)
        )
        == 4
    )
