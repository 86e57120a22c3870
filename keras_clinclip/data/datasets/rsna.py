"""RSNA Pneumonia Detection Challenge (Kaggle, stage 2), as distributed.

    <root>/stage_2_train_labels.csv        patientId,x,y,width,height,Target
                                           (one row per box; a negative
                                           patient has one row, no box)
    <root>/stage_2_detailed_class_info.csv patientId,class (optional)
    <root>/stage_2_train_images/<patientId>.dcm   1024 x 1024 DICOM

One record per patient (26,684), positive (6,012) when any row has
Target 1, with every box (9,555). The split is GLoRIA's (also CXR-CLIP's
and MGCA's): patients in sorted order, 70/15/15 with `random_state=0`
(`splits.gloria_split`): 18,678 / 4,003 / 4,003.
"""

import os
import pathlib

from keras_clinclip.data.datasets import common
from keras_clinclip.data.datasets import splits as split_rules

LABELS_FILE = "stage_2_train_labels.csv"
CLASS_FILE = "stage_2_detailed_class_info.csv"
IMAGE_FOLDER = "stage_2_train_images"
IMAGE_HW = (1024, 1024)
CLASS_NAMES = ("Pneumonia",)
DETAILED_CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
MAPPING = {"Pneumonia": "Pneumonia"}
COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
RULES = ("gloria",)


def _table(root, name):
    for candidate in (root / name, root / (name + ".gz")):
        if candidate.exists():
            return candidate
    return root / name


def _detailed(root):
    path = _table(root, CLASS_FILE)
    if not path.exists():
        return {}
    columns, rows = common.read_table(path, ("patientId", "class"))
    out = {}
    for number, cells in rows:
        name = cells[columns["class"]].strip()
        common.check_name(name, DETAILED_CLASSES, path, number, "class")
        out[cells[columns["patientId"]].strip()] = name
    return out


def rsna(root, split=None, rule="gloria", seed=0, verify="auto"):
    """Records of the RSNA Pneumonia training set, with its boxes.

    Args:
        root: the folder of `stage_2_train_labels.csv` (see the module
            docstring for the layout); a path to the CSV itself also works.
        split: `"train"`, `"validate"`, `"test"`, a list of them, or None
            (all).
        rule: the split rule; `"gloria"` (the only published one).
        seed: the split's `random_state` (0 as published).
        verify: check the split counts against the published ones
            (`splits.check_counts`; `"auto"`: when the table is complete).

    Returns:
        A records dict: `id` (patientId), `image_path`, `report` (""),
        `split`, `labels` (Pneumonia), `class_names` (`["Pneumonia"]`),
        `class_labels` (N, 1), `boxes` (x, y, w, h per box),
        `box_labels`, `image_hw` (1024, 1024) and `detailed_class` (the
        class of `stage_2_detailed_class_info.csv`, "" without it).

    Raises:
        ValueError: one line naming the file, row and column: a wrong
            header, a Target that is not 0/1, a positive row without a box
            or a negative one with one, a box outside the 1024-px image.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "stage_2_train_labels.csv"), "w").write(
    ...     "patientId,x,y,width,height,Target\\n"
    ...     "p1,,,,,0\\np2,10,20,30,40,1\\np2,500,20,30,40,1\\n")
    >>> records = rsna(root)
    >>> records["id"], records["class_labels"][:, 0].tolist()
    (['p1', 'p2'], [0.0, 1.0])
    >>> records["boxes"][1].tolist()
    [[10.0, 20.0, 30.0, 40.0], [500.0, 20.0, 30.0, 40.0]]
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    root = pathlib.Path(root)
    path = root if root.is_file() else _table(root, LABELS_FILE)
    root = path.parent
    columns, rows = common.read_table(
        path,
        COLUMNS,
        fix=f"expected the Kaggle {LABELS_FILE} ({','.join(COLUMNS)})",
    )
    patients = {}
    for number, cells in rows:
        patient = cells[columns["patientId"]].strip()
        target = common.parse_binary(
            cells[columns["Target"]], path, number, "Target"
        )
        entry = patients.setdefault(patient, [0.0, []])
        box_cells = [cells[columns[c]].strip() for c in COLUMNS[1:5]]
        if target == 1.0:
            box = [
                common.parse_float(text, path, number, name)
                for text, name in zip(box_cells, COLUMNS[1:5])
            ]
            common.check_box(box, IMAGE_HW, path, number, "x")
            entry[0] = 1.0
            entry[1].append(box)
        elif any(box_cells):
            raise ValueError(
                f"{common.where(path, number, 'Target')}: 0 but the row has a "
                "box; a negative row has empty x, y, width, height."
            )
    detailed = _detailed(root)
    out = common.record_columns("boxes", "box_labels", "image_hw")
    out["detailed_class"] = []
    ids = sorted(patients)  # pandas' groupby order, as GLoRIA splits
    names = split_rules.gloria_split(len(ids), seed)
    split_rules.check_counts(
        "rsna", rule, len(ids), split_rules.counts_of(names), verify
    )
    folder = os.path.join(str(root), IMAGE_FOLDER, "")
    for patient, name in zip(ids, names):
        target, boxes = patients[patient]
        out["id"].append(patient)
        out["image_path"].append(f"{folder}{patient}.dcm")
        out["report"].append("")
        out["split"].append(name)
        out["class_labels"].append([target])
        out["boxes"].append(boxes)
        out["box_labels"].append(["Pneumonia"] * len(boxes))
        out["image_hw"].append(IMAGE_HW)
        out["detailed_class"].append(detailed.get(patient, ""))
    records = common.finish(out, CLASS_NAMES, MAPPING)
    return common.select_split(records, split)
