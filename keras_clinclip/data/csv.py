"""Generic CSV / JSONL tables: `image_path`, `report`, optional labels."""

import csv as _csv
import gzip
import json
import logging
import math
import pathlib

import numpy as np

from keras_clinclip.data import records as rec
from keras_clinclip.data.templates import CHEXPERT_OBSERVATIONS

logger = logging.getLogger("keras_clinclip.data")


def open_text(path):
    """Open a text file, gzip-compressed when it ends in `.gz`.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = open(path, "w").write("x")
    >>> open_text(path).read()
    'x'
    """
    path = pathlib.Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_rows(path):
    """Rows of a CSV (`.csv`, `.csv.gz`) or JSONL (`.jsonl`) file as dicts.

    Args:
        path: the file.

    Returns:
        `(columns, rows)`: the column names and a list of dicts.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
    >>> _ = open(path, "w").write('{"a": 1}\\n')
    >>> read_rows(path)
    (['a'], [{'a': 1}])
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: table file not found.")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        rows, columns = [], []
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"{path}, line {number}: not valid JSON ({error})."
                    ) from error
                if not isinstance(row, dict):
                    raise ValueError(
                        f"{path}, line {number}: expected a JSON object."
                    )
                for key in row:
                    if key not in columns:
                        columns.append(key)
                rows.append(row)
        return columns, rows
    with open_text(path) as handle:
        reader = _csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def parse_label(value, where):
    """A CheXpert label cell: 1, 0, -1, or NaN for blank.

    Args:
        value: the cell (str, number or None).
        where: `"file, row r, column c"` for the error message.

    Example:
    >>> parse_label("-1.0", "here"), math.isnan(parse_label("", "here"))
    (-1.0, True)
    """
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "nan", "none", "null"):
            return math.nan
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{where}: label {value!r} is not a number (1, 0, -1 or blank)."
            ) from None
    value = float(value)
    if not (math.isnan(value) or value in (1.0, 0.0, -1.0)):
        raise ValueError(
            f"{where}: label {value!r} is not one of 1, 0, -1 or NaN."
        )
    return value


def load_records(
    path,
    image_root=None,
    id_column="id",
    image_column="image_path",
    report_column="report",
    split_column="split",
    label_columns=None,
    on_error="raise",
):
    """Records from a generic CSV or JSONL table.

    Needed columns: `image_path` and `report`; optional: `id` (default: the
    row number), `split` (default: a hash of the id), and any of the 14
    CheXpert observation columns (1, 0, -1, blank). Relative image paths
    are taken from `image_root` (default: the table's folder).

    Args:
        path: a `.csv`, `.csv.gz` or `.jsonl` file.
        image_root: the folder relative image paths start from.
        id_column, image_column, report_column, split_column: column names.
        label_columns: the label columns in `CHEXPERT_OBSERVATIONS` order
            (default: the observation names that are present; missing
            ones are NaN).
        on_error: `"raise"` (a bad row raises an error naming the file and
            row) or `"skip"` (the row is left out and counted in the log).

    Returns:
        A records dict with `id`, `image_path`, `report`, `labels`,
        `split`.

    Example:
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> table = os.path.join(folder, "t.csv")
    >>> text = "image_path,report,Edema\\na.png,Edema.,1\\n"
    >>> _ = open(table, "w").write(text)
    >>> load_records(table)["labels"][0, 5]
    np.float32(1.0)
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(
            f"on_error must be 'raise' or 'skip', got {on_error!r}"
        )
    path = pathlib.Path(path)
    columns, rows = read_rows(path)
    missing = [c for c in (image_column, report_column) if c not in columns]
    if missing:
        raise ValueError(
            f"{path}: missing the column(s) {missing}; present: {columns}."
        )
    if label_columns is None:
        label_columns = [
            name if name in columns else None for name in CHEXPERT_OBSERVATIONS
        ]
    elif len(label_columns) != rec.NUM_CLASSES:
        raise ValueError(
            f"label_columns must name {rec.NUM_CLASSES} columns (None for "
            f"absent ones), got {len(label_columns)}."
        )
    absent = [c for c in label_columns if c is not None and c not in columns]
    if absent:
        raise ValueError(
            f"{path}: missing the label column(s) {absent}; present: {columns}."
        )
    root = pathlib.Path(image_root) if image_root else path.parent
    out = {"id": [], "image_path": [], "report": [], "labels": [], "split": []}
    skipped = 0
    for number, row in enumerate(rows, start=1):
        where = f"{path}, row {number}"
        try:
            image = row.get(image_column)
            if rec.is_blank(image):
                raise ValueError(f"{where}: empty '{image_column}'.")
            report = row.get(report_column)
            if rec.is_blank(report):
                raise ValueError(f"{where}: empty '{report_column}'.")
            labels = [
                math.nan
                if column is None
                else parse_label(row.get(column), f"{where}, column {column}")
                for column in label_columns
            ]
        except ValueError:
            if on_error == "raise":
                raise
            skipped += 1
            continue
        study = row.get(id_column)
        study = str(number - 1) if rec.is_blank(study) else str(study)
        image = pathlib.Path(str(image))
        out["id"].append(study)
        out["image_path"].append(
            str(image if image.is_absolute() else root / image)
        )
        out["report"].append(str(report))
        out["labels"].append(labels)
        split = row.get(split_column)
        out["split"].append(
            rec.hash_split(study) if rec.is_blank(split) else str(split)
        )
    if skipped:
        logger.warning("%s: skipped %d bad row(s).", path, skipped)
    unknown = sorted(set(out["split"]) - set(rec.SPLITS))
    if unknown:
        raise ValueError(
            f"{path}: unknown split value(s) {unknown}; use {rec.SPLITS}."
        )
    out["labels"] = np.asarray(out["labels"], np.float32).reshape(-1, 14)
    return out
