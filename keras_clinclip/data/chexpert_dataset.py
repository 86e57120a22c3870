"""CheXpert (`train.csv` / `valid.csv` with labels and image paths).

CheXpert has no reports: each study gets a report written from its labels
by templates, with negations and uncertainty (as cxr-clip does), and the
negated/omitted variants come out exact.
"""

import hashlib
import pathlib

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import records as rec
from keras_clinclip.data import templates
from keras_clinclip.tables import parse_label
from keras_clinclip.tables import read_rows

_SPLIT_FILES = (
    ("train.csv", "train"),
    ("valid.csv", "validate"),
    ("test.csv", "test"),
)


def _resolve(root, relative):
    """CheXpert paths start with the dataset folder name; find the file."""
    relative = pathlib.PurePosixPath(relative)
    candidates = [root / relative, root.parent / relative]
    if len(relative.parts) > 1:
        candidates.append(root / pathlib.PurePosixPath(*relative.parts[1:]))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[-1]


def chexpert(
    root,
    splits=("train", "validate", "test"),
    frontal_only=True,
    num_negations=1,
    seed=0,
    graphs=False,
):
    """Records from a CheXpert folder (`CheXpert-v1.0` or `-small`).

    Args:
        root: the folder holding `train.csv` and `valid.csv` (and
            `test.csv` when present); paths inside them (e.g.
            `CheXpert-v1.0-small/train/patient00001/study1/
            view1_frontal.jpg`) are resolved against `root` and its parent.
        splits: which of `train` (train.csv), `validate` (valid.csv),
            `test` (test.csv) to read.
        frontal_only: keep frontal views (`Frontal/Lateral` column).
        num_negations: K, template negations per report.
        seed: the seed of the report phrasings.
        graphs: add the report graph arrays.

    Returns:
        A records dict with `id` (the study folder), `image_path`,
        `report`, `labels`, `split`, `negations`, `negation_labels`,
        `omissions`.

    Example:
    >>> records = chexpert("/data/CheXpert-v1.0-small")  # doctest: +SKIP
    """
    root = pathlib.Path(root)
    parts = []
    found = False
    for file_name, split in _SPLIT_FILES:
        path = root / file_name
        if split not in splits or not path.exists():
            continue
        found = True
        columns, rows = read_rows(path)
        needed = ["Path"]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise ValueError(
                f"{path}: missing the column(s) {missing}; present: {columns}."
            )
        label_names = [
            name if name in columns else None for name in CHEXPERT_OBSERVATIONS
        ]
        part = {
            k: []
            for k in (
                "id",
                "image_path",
                "report",
                "labels",
                "split",
                "negations",
                "omissions",
            )
        }
        negation_labels = []
        for number, row in enumerate(rows, start=1):
            if frontal_only and row.get("Frontal/Lateral", "Frontal") != (
                "Frontal"
            ):
                continue
            where = f"{path}, row {number}"
            labels = [
                np.nan
                if name is None
                else parse_label(row.get(name), f"{where}, column {name}")
                for name in label_names
            ]
            relative = row["Path"]
            study = str(pathlib.PurePosixPath(relative).parent)
            digest = hashlib.md5(f"{seed}:{relative}".encode()).hexdigest()
            text = templates.labels_to_report(
                labels, seed=int(digest[:8], 16), num_negations=num_negations
            )
            part["id"].append(study)
            part["image_path"].append(str(_resolve(root, relative)))
            part["report"].append(text["report"])
            part["labels"].append(labels)
            part["split"].append(split)
            part["negations"].append(text["negations"])
            part["omissions"].append(text["omissions"])
            negation_labels.append(
                rec.negation_labels_for(
                    np.asarray(labels, np.float32),
                    text["negated_findings"],
                    CHEXPERT_OBSERVATIONS,
                    num_negations,
                )
            )
        part["labels"] = np.asarray(part["labels"], np.float32).reshape(-1, 14)
        part["negation_labels"] = np.asarray(
            negation_labels, np.float32
        ).reshape(-1, num_negations, 14)
        parts.append(part)
    if not found:
        raise FileNotFoundError(
            f"{root}: no CheXpert table (train.csv, valid.csv, test.csv) "
            f"for the splits {list(splits)}."
        )
    records = rec.concatenate(parts)
    if graphs:
        records.update(rec.graph_columns(records["report"]))
    return records
