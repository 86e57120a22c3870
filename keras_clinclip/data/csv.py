"""Generic CSV / JSONL tables: `image_path`, `report`, optional labels."""

import logging
import math
import pathlib

import numpy as np

from keras_clinclip import tables
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import records as rec
from keras_clinclip.tables import parse_label

logger = logging.getLogger("keras_clinclip.data")


def load_records(
    path,
    image_root=None,
    id_column="id",
    image_column="image_path",
    report_column="report",
    split_column="split",
    label_columns=None,
    on_error="raise",
    error_log=None,
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
        on_error: `"raise"` (a bad row raises an error naming the file,
            row and line) or `"skip"` (the row is left out; the count and
            the first 20 errors are logged, logger `keras_clinclip.data`).
            Bad rows are those `keras_clinclip.tables` reports (not UTF-8,
            unclosed quote, missing or extra cells, bad JSON), an empty
            image path or report, and a label outside 1, 0, -1, blank.
        error_log: optional `ErrorLog`; each skipped row is added to its
            `skipped` list as `(row, path, reason)`, so that run summaries
            count it.

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
    with tables.Table(path) as table:
        rows = list(table)
        columns = list(table.columns or [])
    for row in rows:
        columns += [key for key in row.values if key not in columns]
    named = [("image_column", image_column), ("report_column", report_column)]
    if id_column != "id":  # the default may be absent (ids: row numbers)
        named.append(("id_column", id_column))
    missing = tables.missing_columns(path, named, columns)
    if missing is not None:
        raise missing
    if label_columns is None:
        label_columns = [
            name if name in columns else None for name in CHEXPERT_OBSERVATIONS
        ]
    elif len(label_columns) != rec.NUM_CLASSES:
        raise ValueError(
            f"label_columns must name {rec.NUM_CLASSES} columns (None for "
            f"absent ones), got {len(label_columns)}."
        )
    missing = tables.missing_columns(
        path, [("label_columns", c) for c in label_columns], columns
    )
    if missing is not None:
        raise missing
    root = pathlib.Path(image_root) if image_root else path.parent
    out = {"id": [], "image_path": [], "report": [], "labels": [], "split": []}
    skipped = []
    for number, line, row, error in rows:
        where = f"{path}, row {number}"
        try:
            if error is not None:
                raise ValueError(error)
            image = row.get(image_column)
            if rec.is_blank(image):
                raise ValueError(
                    f"{where} (line {line}): empty '{image_column}'."
                )
            report = row.get(report_column)
            if rec.is_blank(report):
                raise ValueError(
                    f"{where} (line {line}): empty '{report_column}'."
                )
            for column, value in (
                (image_column, image),
                (report_column, report),
            ):
                if not isinstance(value, str):
                    raise ValueError(
                        f"{where} (line {line}): '{column}' must be text, "
                        f"got the {type(value).__name__} {value!r}."
                    )
            labels = [
                math.nan
                if column is None
                else parse_label(
                    row.get(column), f"{where}, column {column} (line {line})"
                )
                for column in label_columns
            ]
        except ValueError as problem:
            if on_error == "raise":  # a user's data: one line (exit 2)
                raise tables.TableError(str(problem)) from None
            skipped.append(str(problem))
            if error_log is not None:
                error_log.skipped.append((number, str(path), str(problem)))
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
            tables.hash_split(study) if rec.is_blank(split) else str(split)
        )
    if skipped:
        logger.warning(
            "%s: skipped %d bad row(s):\n%s",
            path,
            len(skipped),
            "\n".join(skipped[:20])
            + (
                f"\n... and {len(skipped) - 20} more"
                if len(skipped) > 20
                else ""
            ),
        )
    unknown = sorted(set(out["split"]) - set(tables.SPLITS))
    if unknown:
        raise ValueError(
            f"{path}: unknown split value(s) {unknown}; use {tables.SPLITS}."
        )
    out["labels"] = np.asarray(out["labels"], np.float32).reshape(-1, 14)
    return out
