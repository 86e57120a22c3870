"""SIIM-ACR Pneumothorax Segmentation (Kaggle), as distributed.

Stage 1:

    <root>/train-rle.csv     ImageId, EncodedPixels  (note the space: the
                             header is "ImageId, EncodedPixels"; negatives
                             are "-1" or " -1"; several rows per image)
    <root>/dicom-images-train/<study UID>/<series UID>/<ImageId>.dcm

Stage 2: `<root>/stage_2_train.csv` (`ImageId,EncodedPixels`, ids
`ID_...`) with the images anywhere below `<root>` as `<ImageId>.dcm`.

The masks are 1024 x 1024, run-length encoded column by column with
relative starts (`boxes.decode_rle`); the rows of an image are OR-ed.
12,954 rows, 12,047 images, 2,669 positive (stage 1).

Splits: `"gloria"` is GLoRIA's rule over the rows (70/15/15,
`random_state=0`), which puts the rows of one positive image into
different splits (an image can be in train and test); `"image"` is the
same rule over the distinct images in sorted order, with no leak.
"""

import os
import pathlib

from keras_clinclip.data.datasets import boxes as box_tools
from keras_clinclip.data.datasets import common
from keras_clinclip.data.datasets import splits as split_rules

TABLES = ("train-rle.csv", "stage_2_train.csv")
IMAGE_HW = (1024, 1024)
CLASS_NAMES = ("Pneumothorax",)
MAPPING = {"Pneumothorax": "Pneumothorax"}
COLUMNS = ("ImageId", "EncodedPixels")
RULES = ("gloria", "image")


def _find_table(root):
    if root.is_file():
        return root
    for name in TABLES:
        for candidate in (root / name, root / (name + ".gz")):
            if candidate.exists():
                return candidate
    raise FileNotFoundError(
        f"{root}: no SIIM table ({' or '.join(TABLES)}); download the "
        "SIIM-ACR Pneumothorax training set from Kaggle."
    )


def siim(root, split=None, rule="gloria", seed=0, verify="auto"):
    """Records of the SIIM-ACR Pneumothorax training set, with masks.

    Args:
        root: the folder of `train-rle.csv` (stage 1) or
            `stage_2_train.csv` (stage 2), or the table itself; DICOMs are
            found anywhere below its folder by name (`<ImageId>.dcm`).
        split: `"train"`, `"validate"`, `"test"`, a list of them, or None.
        rule: `"gloria"` (one record per row, as GLoRIA; images repeat)
            or `"image"` (one record per image).
        seed: the split's `random_state` (0 as published).
        verify: check the split counts (`splits.check_counts`).

    Returns:
        A records dict: `id` (ImageId), `image_path`, `report` (""),
        `split`, `labels` (Pneumothorax), `class_names`, `class_labels`
        (N, 1), `mask_rle` (the image's RLE rows, "-1" ones left out;
        decode with `decode_rle(rles, 1024, 1024)`), `image_hw`.

    Raises:
        ValueError: one line naming the file, row and column: a wrong
            header, an RLE that is not integer pairs or runs past the
            1024 x 1024 mask.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "train-rle.csv"), "w").write(
    ...     "ImageId, EncodedPixels\\n a, -1\\nb,5 2 10 3\\nb,100 1\\n")
    >>> records = siim(root, rule="image")
    >>> records["id"], records["class_labels"][:, 0].tolist()
    (['a', 'b'], [0.0, 1.0])
    >>> int(box_tools.decode_rle(records["mask_rle"][1], 1024, 1024).sum())
    6
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    path = _find_table(pathlib.Path(root))
    columns, rows = common.read_table(
        path,
        COLUMNS,
        fix="expected the Kaggle table (ImageId, EncodedPixels)",
    )
    size = IMAGE_HW[0] * IMAGE_HW[1]
    per_image = {}
    row_ids = []
    for number, cells in rows:
        image = cells[columns["ImageId"]].strip()
        rle = cells[columns["EncodedPixels"]].strip()
        where = common.where(path, number, "EncodedPixels")
        box_tools.parse_rle(rle, size, where)
        rles = per_image.setdefault(image, [])
        if rle not in ("", "-1"):
            rles.append(rle)
        row_ids.append(image)
    found = {p.stem: str(p) for p in path.parent.rglob("*.dcm")}
    folder = os.path.join(str(path.parent), "")
    ids = row_ids if rule == "gloria" else sorted(per_image)
    names = split_rules.gloria_split(len(ids), seed)
    split_rules.check_counts(
        "siim", rule, len(ids), split_rules.counts_of(names), verify
    )
    out = common.record_columns("mask_rle", "image_hw")
    for image, name in zip(ids, names):
        rles = per_image[image]
        out["id"].append(image)
        out["image_path"].append(found.get(image) or f"{folder}{image}.dcm")
        out["report"].append("")
        out["split"].append(name)
        out["class_labels"].append([1.0 if rles else 0.0])
        out["mask_rle"].append(list(rles))
        out["image_hw"].append(IMAGE_HW)
    records = common.finish(out, CLASS_NAMES, MAPPING)
    return common.select_split(records, split)


def decode_rle(rles, height=1024, width=1024):
    """The bool mask of one SIIM image's RLE rows (see `boxes`).

    Args:
        rles: a record's `mask_rle` (a list of RLE texts) or one text.
        height, width: the mask's size (SIIM's is 1024 x 1024).

    Returns:
        bool (height, width), the rows OR-ed.

    Example:
    >>> decode_rle(["0 2"], 2, 2).astype(int).tolist()
    [[1, 0], [1, 0]]
    """
    return box_tools.decode_rle(rles, height, width)
