"""NIH ChestX-ray14, as distributed (NIH Box folder or Kaggle copy).

    <root>/Data_Entry_2017_v2020.csv (or Data_Entry_2017.csv)
        Image Index,Finding Labels,Follow-up #,Patient ID,...
        ("Finding Labels" is |-separated: "Cardiomegaly|Effusion")
    <root>/train_val_list.txt, <root>/test_list.txt   (one image a line)
    <root>/BBox_List_2017.csv   Image Index,Finding Label,Bbox [x,y,w,h],,,
        (the header splits "Bbox [x,y,w,h]" over four columns and adds two
        empty ones; rows have six cells; the box class "Infiltrate" is the
        label "Infiltration")
    <root>/images/<Image Index>   1024 x 1024 PNG (or images_001/images/,
        ... as the twelve archives unpack)

112,120 images of 30,805 patients; 984 boxes on 880 images in 8 classes.
Split `"official"`: `test_list.txt` is test (25,596); of the train-val
list (86,524), the images of 20 % of the patients (sorted, seeded) are
validate, as CXR-CLIP does.
"""

import os
import pathlib

from keras_clinclip.data.datasets import common
from keras_clinclip.data.datasets import splits as split_rules

CLASS_NAMES = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
    "No Finding",
)
MAPPING = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
    "Effusion": "Pleural Effusion",
    "Mass": "Lung Lesion",
    "Nodule": "Lung Lesion",
    "Pleural_Thickening": "Pleural Other",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "No Finding": "No Finding",
}
BOX_NAMES = {"Infiltrate": "Infiltration"}
BOX_CLASSES = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltrate",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
)
IMAGE_HW = (1024, 1024)
TABLES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")


def _first(root, names):
    for name in names:
        for candidate in (root / name, root / (name + ".gz")):
            if candidate.exists():
                return candidate
    return None


def _read_list(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip()}


def _boxes(path):
    """Image Index -> ([boxes], [label names]) from BBox_List_2017.csv."""
    columns, rows = common.read_table(path, ("Image Index", "Finding Label"))
    if "Bbox [x" not in columns:
        raise ValueError(
            f"{path}, header row, column 'Bbox [x': missing; expected NIH's "
            "BBox_List_2017.csv (Image Index,Finding Label,Bbox [x,y,w,h])."
        )
    start = columns["Bbox [x"]
    out = {}
    for number, cells in rows:
        image = cells[columns["Image Index"]].strip()
        name = cells[columns["Finding Label"]].strip()
        common.check_name(name, BOX_CLASSES, path, number, "Finding Label")
        if len(cells) < start + 4:
            raise ValueError(
                f"{common.where(path, number, 'Bbox [x')}: the row has "
                f"{len(cells)} cells; x, y, w, h are needed."
            )
        box = [
            common.parse_float(cells[start + k], path, number, column)
            for k, column in enumerate(("Bbox [x", "y", "w", "h]"))
        ]
        common.check_box(box, IMAGE_HW, path, number, "Bbox [x")
        entry = out.setdefault(image, ([], []))
        entry[0].append(box)
        entry[1].append(BOX_NAMES.get(name, name))
    return out


def chestxray14(root, split=None, rule="official", seed=0, verify="auto"):
    """Records of ChestX-ray14, with the 984 boxes.

    Args:
        root: the dataset folder (module docstring).
        split: `"train"`, `"validate"`, `"test"`, a list, or None.
        rule: `"official"` (the lists; needs `train_val_list.txt` and
            `test_list.txt`) or None (every image `"train"`).
        seed: the seed of the validate patients.
        verify: check the split counts (`splits.check_counts`).

    Returns:
        A records dict: `id` (Image Index), `image_path`, `report` (""),
        `split`, `labels`, `class_names` (14 findings and "No Finding"),
        `class_labels` (1/0), `boxes`, `box_labels` (label names, i.e.
        "Infiltration"), `image_hw` (1024, 1024), `patient`.

    Raises:
        ValueError: one line naming the file, row and column: a wrong
            header, an unknown label (e.g. a misspelt "Infiltrate" in
            Finding Labels), a box outside the image.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "Data_Entry_2017.csv"), "w").write(
    ...     "Image Index,Finding Labels,Follow-up #,Patient ID\\n"
    ...     "1_000.png,Effusion|Mass,0,1\\n2_000.png,No Finding,0,2\\n")
    >>> records = chestxray14(root, rule=None)
    >>> records["labels"][0, 10], records["class_labels"][1, -1]
    (np.float32(1.0), np.float32(1.0))
    """
    if rule not in ("official", None):
        raise ValueError(f"rule must be 'official' or None, got {rule!r}.")
    root = pathlib.Path(root)
    path = _first(root, TABLES)
    if path is None:
        raise FileNotFoundError(
            f"{root}: no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv."
        )
    columns, rows = common.read_table(
        path,
        ("Image Index", "Finding Labels", "Patient ID"),
        fix="expected NIH's Data_Entry_2017 table",
    )
    box_file = _first(root, ("BBox_List_2017.csv",))
    boxes = _boxes(box_file) if box_file else {}
    images = {}
    for folder in sorted(root.glob("images*/images")):
        images.update({p.name: str(p) for p in folder.glob("*.png")})
    default = os.path.join(str(root), "images", "")
    out = common.record_columns("boxes", "box_labels", "image_hw", "patient")
    for number, cells in rows:
        image = cells[columns["Image Index"]].strip()
        values = [0.0] * len(CLASS_NAMES)
        for name in cells[columns["Finding Labels"]].split("|"):
            name = common.check_name(
                name.strip(), CLASS_NAMES, path, number, "Finding Labels"
            )
            values[CLASS_NAMES.index(name)] = 1.0
        found, names = boxes.pop(image, ([], []))
        out["id"].append(image)
        out["image_path"].append(images.get(image) or default + image)
        out["report"].append("")
        out["split"].append("train")
        out["class_labels"].append(values)
        out["boxes"].append(found)
        out["box_labels"].append(names)
        out["image_hw"].append(IMAGE_HW)
        out["patient"].append(cells[columns["Patient ID"]].strip())
    if boxes:
        image = sorted(boxes)[0]
        raise ValueError(
            f"{box_file}: the boxed image {image!r} (column 'Image Index') "
            f"is not in {path.name}."
        )
    if rule == "official":
        out["split"] = _official(root, out, seed, verify)
    records = common.finish(out, CLASS_NAMES, MAPPING)
    return common.select_split(records, split)


def _official(root, out, seed, verify):
    lists = {}
    for name in ("train_val_list.txt", "test_list.txt"):
        if not (root / name).exists():
            raise FileNotFoundError(
                f"{root / name}: not found; the official split needs it "
                "(download it with the images, or pass rule=None)."
            )
        lists[name] = _read_list(root / name)
    train_val, test = lists["train_val_list.txt"], lists["test_list.txt"]
    names = []
    for image in out["id"]:
        names.append("test" if image in test else "train")
        if image not in test and image not in train_val:
            raise ValueError(
                f"{root / 'train_val_list.txt'}: {image!r} is in neither "
                "list (column 'Image Index' of the table)."
            )
    rows = [i for i, name in enumerate(names) if name == "train"]
    held = split_rules.group_split([out["patient"][i] for i in rows], 0.2, seed)
    for i, picked in zip(rows, held):
        if picked:
            names[i] = "validate"
    counts = split_rules.counts_of(names)
    counts = {
        "train+validate": counts["train"] + counts["validate"],
        "test": counts["test"],
    }
    split_rules.check_counts(
        "chestxray14", "official", len(names), counts, verify
    )
    return names
