"""VinDr-CXR (PhysioNet 1.0.0) and its Kaggle re-release, as distributed.

PhysioNet:

    <root>/annotations/image_labels_train.csv  image_id,rad_id,<28 labels>
                                               (three readers per image)
    <root>/annotations/image_labels_test.csv   image_id,<28 labels>
                                               (the consensus; a rad_id
                                               column is allowed)
    <root>/annotations/annotations_train.csv   image_id,rad_id,class_name,
    <root>/annotations/annotations_test.csv    x_min,y_min,x_max,y_max
    <root>/train/<image_id>.dicom, <root>/test/<image_id>.dicom

Kaggle (VinBigData): `<root>/train.csv` (`image_id,class_name,class_id,
rad_id,x_min,y_min,x_max,y_max`, `class_id` 14 = "No finding", no box)
and `<root>/train/<image_id>.dicom`; it has no labelled test set.

A training label is positive when any reader marked it. Boxes keep every
reader's box (a finding seen by three readers has three boxes), turned
into x, y, w, h. Images vary in size: `image_hw` comes from each DICOM's
header (Rows, Columns), and boxes are checked against it.

Split `"cxr-clip"`: the official test set; 80/20 of the training images
in sorted order (`random_state=0`): 12,000 / 3,000 / 3,000.
"""

import pathlib

import numpy as np

from keras_clinclip.data.datasets import common
from keras_clinclip.data.datasets import splits as split_rules

LOCAL = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Clavicle fracture",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Enlarged PA",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Lung cavity",
    "Lung cyst",
    "Mediastinal shift",
    "Nodule/Mass",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
    "Rib fracture",
    "Other lesion",
)
GLOBAL = (
    "COPD",
    "Lung tumor",
    "Pneumonia",
    "Tuberculosis",
    "Other diseases",
    "No finding",
)
CLASS_NAMES = LOCAL + GLOBAL
# The Kaggle re-release: class_id -> class_name.
KAGGLE_CLASSES = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
    "No finding",
)
MAPPING = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
    "Lung Opacity": "Lung Opacity",
    "Nodule/Mass": "Lung Lesion",
    "Lung tumor": "Lung Lesion",
    "Pleural effusion": "Pleural Effusion",
    "Pleural thickening": "Pleural Other",
    "Pneumothorax": "Pneumothorax",
    "Pneumonia": "Pneumonia",
    "Rib fracture": "Fracture",
    "Clavicle fracture": "Fracture",
    "No finding": "No Finding",
}
BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")
ALIASES = {"Other disease": "Other diseases"}


def _image_hw(path):
    """(height, width) of a DICOM from its header, or None if absent."""
    import pydicom

    if not path.is_file():
        return None
    header = pydicom.dcmread(
        path, stop_before_pixels=True, specific_tags=["Rows", "Columns"]
    )
    return int(header.Rows), int(header.Columns)


def _read_boxes(path, image_hw, class_names, name_of):
    """image_id -> ([boxes], [names]) from an annotation table."""
    needed = ("image_id", "class_name" if name_of is None else "class_id")
    columns, rows = common.read_table(path, needed + BOX_COLUMNS)
    out = {}
    for number, cells in rows:
        image = cells[columns["image_id"]].strip()
        if name_of is None:
            name = cells[columns["class_name"]].strip()
            name = ALIASES.get(name, name)
            common.check_name(name, class_names, path, number, "class_name")
        else:
            name = name_of(cells, columns, path, number)
        entry = out.setdefault(image, ([], [], set()))
        entry[2].add(name)
        texts = [cells[columns[c]].strip() for c in BOX_COLUMNS]
        if not any(texts):
            continue
        x0, y0, x1, y1 = (
            common.parse_float(t, path, number, c)
            for t, c in zip(texts, BOX_COLUMNS)
        )
        box = [x0, y0, x1 - x0, y1 - y0]
        common.check_box(box, image_hw(image), path, number, "x_min")
        entry[0].append(box)
        entry[1].append(name)
    return out


def _image_labels(path, train):
    """image_id -> 28 labels (max over readers) from image_labels_*.csv."""
    columns, rows = common.read_table(path, ("image_id",))
    names = [n for n in columns if n.lower() not in ("image_id", "rad_id")]
    for name in names:
        if ALIASES.get(name, name) not in CLASS_NAMES:
            raise ValueError(
                f"{path}, header row, column {name!r}: not a VinDr-CXR "
                f"label ({', '.join(CLASS_NAMES)})."
            )
    out = {}
    for number, cells in rows:
        image = cells[columns["image_id"]].strip()
        values = np.full(len(CLASS_NAMES), np.nan, np.float32)
        for name in names:
            value = common.parse_binary(
                cells[columns[name]], path, number, name
            )
            values[CLASS_NAMES.index(ALIASES.get(name, name))] = value
        if image in out and train:
            values = np.fmax(out[image], values)
        out[image] = values
    return out


def vindr(root, split=None, rule="cxr-clip", seed=0, verify="auto"):
    """Records of VinDr-CXR (either form), with every reader's boxes.

    Args:
        root: the dataset folder (PhysioNet: holding `annotations/`;
            Kaggle: holding `train.csv`).
        split: `"train"`, `"validate"`, `"test"`, a list, or None.
        rule: `"cxr-clip"` (official test; 20 % of the training images to
            validate, `random_state=seed`).
        seed: the split's seed (0).
        verify: check the split counts (`splits.check_counts`).

    Returns:
        A records dict: `id` (image_id), `image_path` (`.dicom`),
        `report` (""), `split`, `labels`, `class_names` (28 PhysioNet
        labels; the Kaggle form gives its 15 with the others NaN),
        `class_labels`, `boxes`, `box_labels`, `image_hw`.

    Raises:
        ValueError: one line naming the file, row and column: a wrong
            header, a label name not in VinDr's list, a box outside its
            image, a class_id outside 0..14.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "train.csv"), "w").write(
    ...     "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\\n"
    ...     "i1,Cardiomegaly,3,R8,691,1375,1653,1831\\n"
    ...     "i2,No finding,14,R9,,,,\\n")
    >>> records = vindr(root)
    >>> records["boxes"][0].tolist(), records["box_labels"]
    ([[691.0, 1375.0, 962.0, 456.0]], [['Cardiomegaly'], []])
    >>> records["labels"][:, 2].tolist()  # CheXpert's Cardiomegaly
    [1.0, 0.0]
    """
    if rule != "cxr-clip":
        raise ValueError(f"rule must be 'cxr-clip', got {rule!r}.")
    root = pathlib.Path(root)
    annotations = root / "annotations"
    sizes = {}

    def image_hw(folder):
        def read(image):
            if image not in sizes:
                sizes[image] = _image_hw(root / folder / f"{image}.dicom")
            return sizes[image]

        return read

    parts = []
    if (annotations / "image_labels_train.csv").exists():
        for folder in ("train", "test"):
            labels = _image_labels(
                annotations / f"image_labels_{folder}.csv", folder == "train"
            )
            box_file = annotations / f"annotations_{folder}.csv"
            boxes = {}
            if box_file.exists():
                boxes = _read_boxes(
                    box_file, image_hw(folder), CLASS_NAMES, None
                )
            parts.append((folder, labels, boxes))
    elif (root / "train.csv").exists():
        path = root / "train.csv"

        def name_of(cells, columns, path, number):
            text = cells[columns["class_id"]].strip()
            value = common.parse_float(text, path, number, "class_id")
            if value not in range(len(KAGGLE_CLASSES)):
                raise ValueError(
                    f"{common.where(path, number, 'class_id')}: {text!r} is "
                    "not a class id (0..14, 14 = No finding)."
                )
            return KAGGLE_CLASSES[int(value)]

        boxes = _read_boxes(path, image_hw("train"), CLASS_NAMES, name_of)
        labels = {}
        for image, (_, _, names) in boxes.items():
            values = np.where(np.isin(CLASS_NAMES, KAGGLE_CLASSES), 0.0, np.nan)
            values[[CLASS_NAMES.index(n) for n in names]] = 1.0
            labels[image] = values
        parts.append(("train", labels, boxes))
    else:
        raise FileNotFoundError(
            f"{root}: neither annotations/image_labels_train.csv (PhysioNet "
            "VinDr-CXR 1.0.0) nor train.csv (Kaggle VinBigData)."
        )
    out = common.record_columns("boxes", "box_labels", "image_hw")
    for folder, labels, boxes in parts:
        ids = sorted(labels)
        names = ["test"] * len(ids)
        if folder == "train":
            names = ["train"] * len(ids)
            _, held = split_rules.shuffle_split(len(ids), 0.2, seed)
            for index in held:
                names[index] = "validate"
            split_rules.check_counts(
                "vindr",
                rule,
                len(ids),
                split_rules.counts_of(names),
                verify,
            )
        read_hw = image_hw(folder)
        for image, name in zip(ids, names):
            found, box_names, _ = boxes.get(image, ([], [], None))
            out["id"].append(image)
            out["image_path"].append(str(root / folder / f"{image}.dicom"))
            out["report"].append("")
            out["split"].append(name)
            out["class_labels"].append(labels[image])
            out["boxes"].append(found)
            out["box_labels"].append(list(box_names))
            out["image_hw"].append(read_hw(image) or (0, 0))
    records = common.finish(out, CLASS_NAMES, MAPPING)
    return common.select_split(records, split)
