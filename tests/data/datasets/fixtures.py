"""Small dataset folders in each dataset's own layout, written on the fly.

Each `write_<dataset>(root, n=...)` writes a few studies and returns the
root. Where the real label table ships with `torchxrayvision` (RSNA,
SIIM, VinDr's Kaggle form, ChestX-ray14, CheXpert train), its rows are
read at test time (never copied into the repository); the images are
SynthCXR renderings at the dataset's size and format, with the finding
drawn (a brighter opacity) inside the real boxes or RLE masks, so that a
localisation test has ground truth of a real shape. Without
`torchxrayvision` those writers skip the calling test with the reason.
MS-CXR and COVIDx tables do not ship anywhere: their rows are made up in
the published format.
"""

import csv
import gzip
import hashlib
import importlib.util
import pathlib
import zipfile

import numpy as np
import pytest
from PIL import Image

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data.datasets import boxes as box_tools
from keras_clinclip.data.datasets.chexpert_eval import COMPETITION
from keras_clinclip.data.datasets.ms_cxr import COLUMNS as MS_CXR_COLUMNS
from keras_clinclip.data.datasets.ms_cxr import TABLE as MS_CXR_TABLE
from keras_clinclip.data.datasets.vindr import CLASS_NAMES as VINDR_CLASSES
from keras_clinclip.data.synthcxr import SynthCXR
from tests.data.test_images import write_dicom

RENDER_SIZE = 128


def xrv_file(name):
    """A data file of `torchxrayvision` (skips the test when absent)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None:
        pytest.skip("torchxrayvision is not installed: no real label tables")
    path = pathlib.Path(spec.submodule_search_locations[0]) / "data" / name
    if not path.exists():
        pytest.skip(f"torchxrayvision has no data/{name}")
    return path


def xrv_lines(name, limit=None):
    """The lines of a (zipped or gzipped) torchxrayvision CSV."""
    path = xrv_file(name)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            text = archive.read(archive.namelist()[0]).decode("utf-8")
        return text.splitlines()[:limit]
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = zip(range(limit or 10**9), handle)
        return [line.rstrip("\n") for _, line in lines]


def xrv_rows(name, limit=None):
    """`(header, rows)` of a torchxrayvision CSV, cells as lists."""
    rows = list(csv.reader(xrv_lines(name, limit)))
    return rows[0], rows[1:]


def seed_of(text):
    """A stable int seed from a text."""
    return int(hashlib.md5(str(text).encode()).hexdigest()[:8], 16)


def render(hw, mask=None, seed=0):
    """A SynthCXR image at (height, width), brighter inside `mask`."""
    image = SynthCXR(RENDER_SIZE).render([], seed=seed % 10_000)
    height, width = hw
    image = Image.fromarray(image).resize((width, height), Image.BILINEAR)
    image = np.asarray(image, np.float32)
    if mask is not None:
        image = image + (255.0 - image) * 0.6 * mask
    return np.clip(image, 0, 255).astype(np.uint8)


def save_dicom(path, pixels, photometric="MONOCHROME2"):
    """A 12-bit DICOM of uint8 `pixels` (inverted for MONOCHROME1)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = pixels.astype(np.uint16) * 16
    if photometric == "MONOCHROME1":
        stored = 4095 - stored
    return write_dicom(str(path), stored, photometric=photometric, bits=12)


def save_image(path, pixels):
    """A PNG or JPG (by suffix) of uint8 `pixels`."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def write_csv(path, header, rows):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def _pick(keys, positive, n):
    """n keys in table order: half positive (the first with two rows)."""
    order = list(dict.fromkeys(keys))
    pos = [k for k in order if positive[k]]
    neg = [k for k in order if not positive[k]]
    many = [k for k in pos if keys.count(k) > 1][:1]
    pos = many + [k for k in pos if k not in many]
    half = max(1, n // 2)
    return pos[:half] + neg[: n - half]


def write_rsna(root, n=4):
    """RSNA Pneumonia: `stage_2_train_labels.csv`, 1024-px DICOMs."""
    root = pathlib.Path(root)
    header, rows = xrv_rows("kaggle_stage_2_train_labels.csv.zip")
    keys = [r[0] for r in rows]
    positive = {}
    for r in rows:
        positive[r[0]] = positive.get(r[0], False) or r[5] == "1"
    chosen = _pick(keys[:3000], positive, n)
    kept = [r for r in rows if r[0] in chosen]
    write_csv(root / "stage_2_train_labels.csv", header, kept)
    classes = ["Normal", "No Lung Opacity / Not Normal"]
    write_csv(
        root / "stage_2_detailed_class_info.csv",
        ["patientId", "class"],
        [
            [p, "Lung Opacity" if positive[p] else classes[i % 2]]
            for i, p in enumerate(chosen)
        ],
    )
    for patient in chosen:
        boxes = [
            [float(v) for v in r[1:5]]
            for r in kept
            if r[0] == patient and r[5] == "1"
        ]
        mask = box_tools.boxes_to_mask(boxes, 1024, 1024)
        save_dicom(
            root / "stage_2_train_images" / f"{patient}.dcm",
            render((1024, 1024), mask, seed_of(patient)),
        )
    return root


def write_siim(root, n=4, stage=1):
    """SIIM-ACR: stage 1 (`train-rle.csv`, nested DICOMs) or stage 2."""
    root = pathlib.Path(root)
    _, rows = xrv_rows("siim-pneumothorax-train-rle.csv.gz")
    keys = [r[0] for r in rows]
    positive = {}
    for r in rows:
        positive[r[0]] = positive.get(r[0], False) or r[1].strip() != "-1"
    chosen = _pick(keys[:4000], positive, n)
    names = {k: k if stage == 1 else f"ID_{seed_of(k):08x}" for k in chosen}
    kept = []
    for number, (image, rle) in enumerate(r for r in rows if r[0] in chosen):
        rle = rle.strip()
        if stage == 1:  # the Kaggle file's leading spaces, mixed
            rle = " " + rle if number % 2 == 0 else rle
        kept.append([names[image], rle])
    if stage == 1:
        table = root / "train-rle.csv"
        header = ["ImageId", " EncodedPixels"]
    else:
        table = root / "stage_2_train.csv"
        header = ["ImageId", "EncodedPixels"]
    write_csv(table, header, kept)
    for image in chosen:
        name = names[image]
        rles = [r for i, r in kept if i == name]
        mask = box_tools.decode_rle(rles, 1024, 1024)
        if stage == 1:
            study = f"1.2.276.0.7230010.3.1.2.{seed_of(name) % 99999}"
            folder = root / "dicom-images-train" / study / (study + ".1")
        else:
            folder = root / "stage_2_images"
        save_dicom(
            folder / f"{name}.dcm",
            render((1024, 1024), mask, seed_of(name)),
        )
    return root


def _chexpert_rows():
    return xrv_rows("chexpert_train.csv.gz", limit=20000)


def write_chexpert_5x200(root, n=2):
    """CheXpert: `chexpert_5x200.csv` (n per class), `train.csv`,
    `valid.csv` and the test set (`groundtruth.csv` + `test/`), JPGs."""
    root = pathlib.Path(root)
    header, rows = _chexpert_rows()
    column = {name: header.index(name) for name in header}
    others = [c for c in CHEXPERT_OBSERVATIONS if c != "No Finding"]
    chosen = {name: [] for name in COMPETITION}
    for row in rows:
        if row[column["Frontal/Lateral"]] != "Frontal":
            continue
        values = {c: row[column[c]] or "0.0" for c in others}
        positive = [c for c in others if values[c] != "0.0"]
        if len(positive) == 1 and values[positive[0]] == "1.0":
            if positive[0] in chosen and len(chosen[positive[0]]) < n:
                chosen[positive[0]].append(row)
    train = [r for name in COMPETITION for r in chosen[name]]
    extra = [r for r in rows[:40] if r not in train][: 2 * n]
    write_csv(root / "train.csv", header, train + extra)
    five = []
    for k, name in enumerate(COMPETITION):
        for row in chosen[name]:
            one_hot = ["1" if j == k else "0" for j in range(5)]
            path = row[0].replace("CheXpert-v1.0-small", "CheXpert-v1.0")
            five.append([path, *one_hot, f"There is {name.lower()}."])
    write_csv(
        root / "chexpert_5x200.csv",
        ["Path", *COMPETITION, "Report Impression"],
        five,
    )
    for row in train + extra:
        relative = pathlib.PurePosixPath(row[0])
        save_image(
            root.joinpath(*relative.parts[1:]),
            render((80, 64), seed=seed_of(row[0])),
        )
    valid = []
    for i, row in enumerate(extra):
        study = f"valid/patient{64541 + i}/study1/view1_frontal.jpg"
        valid.append([f"CheXpert-v1.0/{study}", *row[1:]])
        save_image(root / study, render((80, 64)))
    write_csv(root / "valid.csv", header, valid)
    studies = []
    for i, row in enumerate(extra[::-1]):  # not in sort order
        study = f"CheXpert-v1.0/test/patient{64741 + i}/study1"
        labels = [
            "1" if row[column[c]] == "1.0" else "0"
            for c in CHEXPERT_OBSERVATIONS
        ]
        studies.append([study, *labels])
        folder = root / "test" / f"patient{64741 + i}" / "study1"
        for view in ("view2_frontal.jpg", "view1_frontal.jpg"):
            save_image(folder / view, render((80, 64), seed=i))
    write_csv(
        root / "groundtruth.csv", ["Study", *CHEXPERT_OBSERVATIONS], studies
    )
    return root


VINDR_SCALE = 8


def write_vindr(root, n=4, form="physionet"):
    """VinDr-CXR: the PhysioNet form (annotations/, train/ and test/) or
    the Kaggle `train.csv`; `.dicom` files at 1/8 of a real size (boxes
    scaled with them), the first one MONOCHROME1."""
    root = pathlib.Path(root)
    header, rows = xrv_rows("vinbigdata-train.csv.gz", limit=3001)
    column = {name: i for i, name in enumerate(header)}
    keys = [r[0] for r in rows[:3000]]
    positive = {}
    for r in rows[:3000]:
        positive[r[0]] = positive.get(r[0], False) or r[2] != "14"
    chosen = _pick(keys, positive, n)
    kept = [list(r) for r in rows if r[0] in chosen]
    hw = {}
    for r in kept:
        if r[column["x_max"]]:
            for c in ("x_min", "y_min", "x_max", "y_max"):
                r[column[c]] = f"{float(r[column[c]]) / VINDR_SCALE:.1f}"
        height, width = hw.get(r[0], (2880 // VINDR_SCALE, 2304 // VINDR_SCALE))
        if r[column["x_max"]]:
            width = max(width, int(float(r[column["x_max"]])) + 4)
            height = max(height, int(float(r[column["y_max"]])) + 4)
        hw[r[0]] = (height, width)
    test = set(chosen[-1:]) if form == "physionet" else set()
    for number, image in enumerate(chosen):
        boxes = [
            [float(r[column[c]]) for c in ("x_min", "y_min", "x_max", "y_max")]
            for r in kept
            if r[0] == image and r[column["x_max"]]
        ]
        boxes = [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in boxes]
        mask = box_tools.boxes_to_mask(boxes, *hw[image])
        folder = "test" if image in test else "train"
        save_dicom(
            root / folder / f"{image}.dicom",
            render(hw[image], mask, seed_of(image)),
            "MONOCHROME1" if number == 0 else "MONOCHROME2",
        )
    if form == "kaggle":
        write_csv(root / "train.csv", header, kept)
        return root
    names = VINDR_CLASSES
    for folder in ("train", "test"):
        part = [r for r in kept if (r[0] in test) == (folder == "test")]
        readers = {}
        for r in part:
            reader = "R0" if folder == "test" else r[column["rad_id"]]
            readers.setdefault((r[0], reader), set()).add(r[1])
        labels = []
        for (image, reader), marked in sorted(readers.items()):
            values = ["1" if name in marked else "0" for name in names]
            if folder == "test":
                labels.append([image, *values])
            else:
                labels.append([image, reader, *values])
        label_header = ["image_id", "rad_id", *names]
        if folder == "test":
            label_header = ["image_id", *names]
        write_csv(
            root / "annotations" / f"image_labels_{folder}.csv",
            label_header,
            labels,
        )
        box_header = ["image_id", "rad_id", "class_name"]
        box_header += ["x_min", "y_min", "x_max", "y_max"]
        boxes = [
            [r[0], r[column["rad_id"]], r[1], *r[4:8]]
            for r in part
            if r[column["x_max"]]
        ]
        write_csv(
            root / "annotations" / f"annotations_{folder}.csv",
            box_header,
            boxes,
        )
    return root


def write_chestxray14(root, n=4):
    """ChestX-ray14: Data_Entry, BBox_List (its own header), the lists,
    1024-px PNGs under `images_001/images/`."""
    root = pathlib.Path(root)
    header, rows = xrv_rows("Data_Entry_2017_v2020.csv.gz", limit=20000)
    box_lines = xrv_lines("BBox_List_2017.csv.gz")
    box_rows = list(csv.reader(box_lines[1:]))
    listed = {r[0] for r in rows}
    boxed = [i for i in dict.fromkeys(r[0] for r in box_rows) if i in listed]
    half = max(1, n // 2)
    chosen = boxed[:half]
    chosen += [r[0] for r in rows if r[0] not in boxed][: n - half]
    kept = [r for r in rows if r[0] in chosen]
    write_csv(root / "Data_Entry_2017_v2020.csv", header, kept)
    kept_boxes = [r for r in box_rows if r[0] in chosen]
    with open(root / "BBox_List_2017.csv", "w", newline="") as handle:
        handle.write(box_lines[0] + "\n")
        csv.writer(handle).writerows(kept_boxes)
    names = [r[0] for r in kept]
    (root / "test_list.txt").write_text("\n".join(names[:half]) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(names[half:]) + "\n")
    for image in names:
        boxes = [
            [float(v) for v in r[2:6]] for r in kept_boxes if r[0] == image
        ]
        mask = box_tools.boxes_to_mask(boxes, 1024, 1024)
        save_image(
            root / "images_001" / "images" / image,
            render((1024, 1024), mask, seed_of(image)),
        )
    return root


MS_CXR_ROWS = [
    # dicom_id, category, phrase, subject, study, box, (height, width), split
    ("d0a1", "Pleural Effusion", "small left effusion", 10000032,
     50414267, (120, 170, 60, 40), (240, 200), "test"),
    ("d0a1", "Atelectasis", "left basal atelectasis", 10000032,
     50414267, (110, 150, 70, 30), (240, 200), "test"),
    ("d0b2", "Pneumothorax", "apical pneumothorax", 10000045,
     51234567, (20, 30, 50, 40), (200, 240), "val"),
    ("d0c3", "Edema", "mild pulmonary edema", 10000099,
     52345678, (40, 60, 120, 100), (256, 256), "train"),
]  # fmt: skip


def write_ms_cxr(root, n=3):
    """MS-CXR: its CSV (rows made up) over MIMIC-CXR-JPG files, JPGs."""
    root = pathlib.Path(root)
    images = list(dict.fromkeys(r[0] for r in MS_CXR_ROWS))[:n]
    rows = []
    for image, name, phrase, subject, study, box, hw, split in MS_CXR_ROWS:
        if image not in images:
            continue
        path = f"files/p{str(subject)[:2]}/p{subject}/s{study}/{image}.jpg"
        rows.append([image, name, phrase, path, *box, hw[1], hw[0], split])
    write_csv(root / MS_CXR_TABLE, MS_CXR_COLUMNS, rows)
    for image in images:
        own = [r for r in rows if r[0] == image]
        hw = (own[0][9], own[0][8])
        mask = box_tools.boxes_to_mask([r[4:8] for r in own], *hw)
        save_image(root / own[0][3], render(hw, mask, seed_of(image)))
    return root


def write_covidx(root, n=4):
    """COVIDx: `train_COVIDx9A.txt` / `test_COVIDx9A.txt`, PNG and JPG."""
    root = pathlib.Path(root)
    lines = {"train": [], "test": []}
    for i in range(n):
        split = "test" if i % 2 else "train"
        name = f"img{i}.{'png' if i % 3 else 'jpg'}"
        label = "positive" if i < n // 2 else "negative"
        lines[split].append(f"{1000 + i} {name} {label} rsna")
        save_image(root / split / name, render((96, 96), seed=i))
    for split, text in lines.items():
        path = root / f"{split}_COVIDx9A.txt"
        path.write_text("\n".join(text) + "\n")
    return root
