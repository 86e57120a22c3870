"""The loaders on the real label tables that `torchxrayvision` ships.

The facts held here are the published ones (issue 27): RSNA 30,227 rows,
26,684 patients, 6,012 positive, 9,555 boxes, GLoRIA's split 18,678 /
4,003 / 4,003; SIIM 12,954 rows, 12,047 images, 2,669 positive;
ChestX-ray14 112,120 images, 984 boxes on 880 images in 8 classes;
GLoRIA's CheXpert 5x200 pools 1,087 / 1,034 / 537 / 2,257 / 2,425. The
splits are compared with scikit-learn's `train_test_split` itself, and
SIIM's masks with a second decoder written here from the Kaggle
description. Tables only: no images, no backend.
"""

import gzip
import shutil
import zipfile

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from keras_clinclip.data.datasets import chestxray14
from keras_clinclip.data.datasets import chexpert_eval
from keras_clinclip.data.datasets import decode_rle
from keras_clinclip.data.datasets import rsna
from keras_clinclip.data.datasets import siim
from keras_clinclip.data.datasets import splits
from keras_clinclip.data.datasets import vindr
from tests.data.datasets.fixtures import xrv_file

pytestmark = pytest.mark.backend_independent


def _gloria_by_sklearn(items):
    """GLoRIA's split as its code does it, with scikit-learn."""
    train, held = train_test_split(items, test_size=0.3, random_state=0)
    test, validate = train_test_split(held, test_size=0.5, random_state=0)
    return set(train), set(validate), set(test)


def _by_split(records, key="id"):
    return [
        {k for k, s in zip(records[key], records["split"]) if s == name}
        for name in ("train", "validate", "test")
    ]


def test_rsna_real_table(tmp_path):
    with zipfile.ZipFile(xrv_file("kaggle_stage_2_train_labels.csv.zip")) as z:
        z.extractall(tmp_path)
    table = tmp_path / "stage_2_train_labels.csv"
    assert len(table.read_text().splitlines()) - 1 == 30227
    records = rsna(tmp_path, verify=True)
    assert len(records["id"]) == 26684
    assert records["class_labels"].sum() == 6012
    assert sum(len(b) for b in records["boxes"]) == 9555
    assert all(
        len(b) == 0 or label == 1
        for b, label in zip(records["boxes"], records["class_labels"][:, 0])
    )
    counts = splits.counts_of(records["split"])
    assert counts == {"train": 18678, "validate": 4003, "test": 4003}
    patients = sorted(records["id"])  # pandas' groupby order
    assert _by_split(records) == list(_gloria_by_sklearn(patients))
    pneumonia = records["labels"][:, 7]
    np.testing.assert_array_equal(pneumonia, records["class_labels"][:, 0])


def _kaggle_runs(rle):
    """(absolute start, length) of each run, from the Kaggle description:
    pairs of (start relative to the previous run's end, length)."""
    numbers = np.array(rle.split(), dtype=np.int64).reshape(-1, 2)
    relative, lengths = numbers[:, 0], numbers[:, 1]
    previous = np.concatenate([[0], np.cumsum(relative + lengths)[:-1]])
    return previous + relative, lengths


def _kaggle_pixels(rles):
    """The distinct column-major pixels of an image's RLE rows (OR-ed)."""
    runs = [_kaggle_runs(rle) for rle in rles]
    starts = np.concatenate([s for s, _ in runs])
    ends = np.concatenate([s + n for s, n in runs])
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    # Merge overlapping runs of different rows into disjoint ones.
    reach = np.maximum.accumulate(ends)
    new = np.concatenate([[True], starts[1:] > reach[:-1]])
    starts = starts[new]
    ends = np.maximum.reduceat(ends, np.nonzero(new)[0])
    lengths = ends - starts
    offsets = np.arange(lengths.sum()) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    return np.repeat(starts, lengths) + offsets


def test_siim_real_table_and_rle(tmp_path):
    with gzip.open(xrv_file("siim-pneumothorax-train-rle.csv.gz"), "rb") as a:
        with open(tmp_path / "train-rle.csv", "wb") as b:
            shutil.copyfileobj(a, b)
    rows = siim(tmp_path, rule="gloria", verify=True)
    assert len(rows["id"]) == 12954
    assert splits.counts_of(rows["split"]) == {
        "train": 9067,
        "validate": 1944,
        "test": 1943,
    }
    train, validate, test = _gloria_by_sklearn(np.arange(12954))
    names = np.asarray(rows["split"])
    assert set(np.nonzero(names == "test")[0]) == test
    # GLoRIA's rule over rows puts one image into several splits.
    leaked = set(_by_split(rows)[0]) & set(_by_split(rows)[2])
    assert leaked
    images = siim(tmp_path, rule="image", verify=True)
    assert len(images["id"]) == 12047
    assert images["class_labels"].sum() == 2669
    assert not set(_by_split(images)[0]) & set(_by_split(images)[2])
    assert images["labels"][:, 9].sum() == 2669
    checked = 0
    for rles in images["mask_rle"]:
        if not rles:
            continue
        expected = _kaggle_pixels(rles)  # distinct pixels
        column_major = siim_decode(rles).T.reshape(-1)
        assert np.count_nonzero(column_major) == len(expected)
        assert column_major[expected].all()
        checked += 1
    assert checked == 2669


def siim_decode(rles):
    return decode_rle(rles, 1024, 1024)


def test_chestxray14_real_tables(tmp_path):
    for name in ("Data_Entry_2017_v2020.csv.gz", "BBox_List_2017.csv.gz"):
        shutil.copy(xrv_file(name), tmp_path / name)
    records = chestxray14(tmp_path, rule=None)
    assert len(records["id"]) == 112120
    assert sum(len(b) for b in records["boxes"]) == 984
    assert sum(1 for b in records["boxes"] if len(b)) == 880
    names = {n for labels in records["box_labels"] for n in labels}
    assert len(names) == 8 and "Infiltration" in names
    assert "Infiltrate" not in names
    # Every box's label names one of the image's own findings or none.
    names = list(records["class_names"])
    boxed = [i for i, b in enumerate(records["boxes"]) if len(b)]
    agree = sum(
        records["class_labels"][i, names.index(records["box_labels"][i][0])]
        for i in boxed
    )
    assert agree > 0.5 * len(boxed)
    assert len(set(records["patient"])) == 30805


def test_chexpert_5x200_pools_on_the_real_table():
    path = xrv_file("chexpert_train.csv.gz")
    pools, _ = chexpert_eval.chexpert_5x200_pools(path)
    sizes = [len(pools[name]) for name in chexpert_eval.COMPETITION]
    assert sizes == [1087, 1034, 537, 2257, 2425]
    built = chexpert_eval.build_chexpert_5x200(path, seed=0)
    assert built["class_labels"].sum(axis=0).tolist() == [200.0] * 5
    assert len(set(built["image_path"])) == 1000
    again = chexpert_eval.build_chexpert_5x200(path, seed=0)
    assert again["image_path"] == built["image_path"]
    other = chexpert_eval.build_chexpert_5x200(path, seed=1)
    assert other["image_path"] != built["image_path"]


def test_vindr_kaggle_real_table(tmp_path):
    with gzip.open(xrv_file("vinbigdata-train.csv.gz"), "rb") as a:
        with open(tmp_path / "train.csv", "wb") as b:
            shutil.copyfileobj(a, b)
    records = vindr(tmp_path, verify=True)
    assert len(records["id"]) == 15000
    counts = splits.counts_of(records["split"])
    assert counts == {"train": 12000, "validate": 3000, "test": 0}
    held = set(
        train_test_split(sorted(records["id"]), test_size=0.2, random_state=0)[
            1
        ]
    )
    assert _by_split(records)[1] == held
    names = list(records["class_names"])
    no_finding = records["class_labels"][:, names.index("No finding")]
    boxed = np.array([len(b) > 0 for b in records["boxes"]])
    # An image with no box is one that every reader called normal.
    assert (no_finding[~boxed] == 1).all()
