"""MS-CXR (PhysioNet 1.1.0): phrase-grounding boxes over MIMIC-CXR-JPG.

    <table> MS_CXR_Local_Alignment_v1.1.0.csv
        dicom_id,category_name,label_text,path,x,y,w,h,image_width,
        image_height,split    (one row per box; `path` is relative to the
        MIMIC-CXR-JPG root: files/p10/p10000032/s5.../<dicom_id>.jpg)

One record per image with its boxes, their categories (`box_labels`)
and phrases (`phrases`, the `label_text` of each box). The split column
(`train`, `val`, `test`) is the published one. Its images come from
MIMIC-CXR, so a model trained on MIMIC-CXR must leave out MS-CXR's
patients before it is evaluated here: `exclude_patients`.
"""

import pathlib
import re

import numpy as np

from keras_clinclip.data import records as rec
from keras_clinclip.data.datasets import common

TABLE = "MS_CXR_Local_Alignment_v1.1.0.csv"
CLASS_NAMES = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Lung Opacity",
    "Pleural Effusion",
    "Pneumonia",
    "Pneumothorax",
)
MAPPING = {name: name for name in CLASS_NAMES}
COLUMNS = (
    "dicom_id",
    "category_name",
    "label_text",
    "path",
    "x",
    "y",
    "w",
    "h",
    "image_width",
    "image_height",
    "split",
)
SPLITS = {"train": "train", "val": "validate", "test": "test"}
_SUBJECT = re.compile(r"(?:^|[/\\])p(\d{8})(?:[/\\]|$)")


def ms_cxr(root, table=None, split=None):
    """Records of MS-CXR over a MIMIC-CXR-JPG folder.

    Args:
        root: the MIMIC-CXR-JPG root (holding `files/`).
        table: the MS-CXR CSV (default: `TABLE` in `root`).
        split: `"train"`, `"validate"`, `"test"`, a list, or None.

    Returns:
        A records dict: `id` (dicom_id), `image_path`, `report` (""),
        `split`, `labels`, `class_names` (the 8 categories),
        `class_labels` (1 for the boxed categories, NaN for the others:
        MS-CXR does not say they are absent), `boxes`, `box_labels`,
        `phrases`, `image_hw`.

    Raises:
        ValueError: one line naming the file, row and column: a wrong
            header, an unknown category, a split other than train/val/
            test, a box outside the image.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, TABLE), "w").write(
    ...     ",".join(COLUMNS) + "\\n"
    ...     "d1,Edema,mild edema,files/p10/p10000001/s1/d1.jpg,"
    ...     "10,20,30,40,100,200,test\\n")
    >>> records = ms_cxr(root)
    >>> records["phrases"], records["image_hw"].tolist()
    ([['mild edema']], [[200, 100]])
    """
    root = pathlib.Path(root)
    path = pathlib.Path(table) if table else root / TABLE
    columns, rows = common.read_table(
        path, COLUMNS, fix=f"expected MS-CXR's {TABLE}"
    )
    images = {}
    for number, cells in rows:

        def cell(name, cells=cells):
            return cells[columns[name]].strip()

        image = cell("dicom_id")
        name = common.check_name(
            cell("category_name"), CLASS_NAMES, path, number, "category_name"
        )
        if cell("split") not in SPLITS:
            raise ValueError(
                f"{common.where(path, number, 'split')}: {cell('split')!r} "
                "is not train, val or test."
            )
        hw = [
            int(common.parse_float(cell(c), path, number, c))
            for c in ("image_height", "image_width")
        ]
        box = [common.parse_float(cell(c), path, number, c) for c in "xywh"]
        common.check_box(box, hw, path, number, "x")
        entry = images.setdefault(
            image,
            {
                "path": cell("path"),
                "split": SPLITS[cell("split")],
                "hw": hw,
                "boxes": [],
                "names": [],
                "phrases": [],
            },
        )
        entry["boxes"].append(box)
        entry["names"].append(name)
        entry["phrases"].append(cell("label_text"))
    out = common.record_columns("boxes", "box_labels", "phrases", "image_hw")
    for image, entry in images.items():
        values = np.full(len(CLASS_NAMES), np.nan, np.float32)
        values[[CLASS_NAMES.index(n) for n in entry["names"]]] = 1.0
        out["id"].append(image)
        out["image_path"].append(str(root / entry["path"]))
        out["report"].append("")
        out["split"].append(entry["split"])
        out["class_labels"].append(values)
        out["boxes"].append(entry["boxes"])
        out["box_labels"].append(entry["names"])
        out["phrases"].append(entry["phrases"])
        out["image_hw"].append(entry["hw"])
    records = common.finish(out, CLASS_NAMES, MAPPING)
    return common.select_split(records, split)


def subject_of(path):
    """The MIMIC-CXR subject (patient) of an image path, or None.

    Example:
    >>> subject_of("files/p10/p10000032/s5/d.jpg")
    '10000032'
    """
    match = _SUBJECT.search(str(path))
    return match.group(1) if match else None


def exclude_patients(records, ms_cxr_records):
    """MIMIC-CXR records without the patients of MS-CXR.

    Args:
        records: MIMIC-CXR records (`image_path` under `files/pXX/pN/`).
        ms_cxr_records: `ms_cxr(...)` records.

    Returns:
        `records` without the rows whose patient has an MS-CXR image.

    Example:
    >>> mimic = {"id": ["a", "b"], "image_path": [
    ...     "files/p10/p10000001/s1/x.jpg", "files/p10/p10000002/s2/y.jpg"]}
    >>> exclude_patients(mimic, {"image_path": [
    ...     "m/files/p10/p10000002/s9/z.jpg"]})["id"]
    ['a']
    """
    patients = {subject_of(p) for p in ms_cxr_records["image_path"]}
    patients.discard(None)
    keep = [subject_of(p) not in patients for p in records["image_path"]]
    return rec.select(records, keep)
