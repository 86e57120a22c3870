"""What every dataset loader shares: strict tables, cells, records.

The tables of the field's datasets are read as their owners distribute
them, which the generic `keras_clinclip.tables` reader refuses on purpose
(ChestX-ray14's `Bbox [x,y,w,h],,,` header names a column twice and its
rows are shorter than it; SIIM's header has a leading space). Here a table
is read positionally: the header's names are stripped, the needed columns
must be present, and every error is one line naming the file, the row
(counted from 1, the header not being a row) and the column.
"""

import csv
import gzip
import math
import pathlib

import numpy as np

from keras_clinclip import tables
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import records as rec

csv.field_size_limit(1 << 30)


def where(path, row, column):
    """`"file, row N, column 'c'"`: the place of a cell in messages.

    Args:
        path: the file.
        row: the row, counted from 1 after the header.
        column: the column name.

    Returns:
        The text.

    Example:
    >>> where("a.csv", 3, "x")
    "a.csv, row 3, column 'x'"
    """
    return f"{path}, row {row}, column {column!r}"


def _open(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found.")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def read_table(path, needed, header=True, delimiter=",", fix=None):
    """Rows of a CSV (or `.csv.gz`) table with the needed columns.

    Args:
        path: the file.
        needed: the column names that must be in the header (compared
            after stripping spaces), or for `header=False` the names given
            to the columns in order.
        header: whether the first line is a header.
        delimiter: the cell separator (`None`: any run of spaces).
        fix: the hint appended to a wrong-header error.

    Returns:
        `(columns, rows)`: a dict name -> position (stripped names, the
        first of a repeated name) and a list of `(row number, cells)`;
        blank lines are skipped.

    Raises:
        ValueError: one line naming the file, the header row and the
            missing column, or a row with fewer cells than needed.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a, b\\n1,2\\n")
    >>> columns, rows = read_table(path, ["b"])
    >>> columns["b"], rows
    (1, [(1, ['1', '2'])])
    """
    with _open(path) as handle:
        if delimiter is None:
            lines = (line.split() for line in handle)
        else:
            lines = csv.reader(handle, delimiter=delimiter)
        lines = [c for c in lines if len(c) > 1 or (c and c[0].strip())]
    if header:
        if not lines:
            raise ValueError(f"{path}: the file is empty; expected a header.")
        names = [name.strip() for name in lines[0]]
        lines = lines[1:]
        columns = {}
        for index, name in enumerate(names):
            columns.setdefault(name, index)
        for name in needed:
            if name not in columns:
                raise ValueError(
                    f"{path}, header row, column {name!r}: missing (present: "
                    f"{', '.join(names)}){'; ' + fix if fix else ''}."
                )
    else:
        columns = {name: index for index, name in enumerate(needed)}
    positions = [columns[name] for name in needed]
    width = max(positions, default=-1) + 1
    rows = []
    for number, cells in enumerate(lines, start=1):
        if len(cells) < width:
            name = min(
                (p, n) for p, n in zip(positions, needed) if p >= len(cells)
            )[1]
            raise ValueError(
                f"{where(path, number, name)}: missing; the row has "
                f"{len(cells)} cell(s), the columns need {width}."
            )
        rows.append((number, cells))
    return columns, rows


def parse_float(text, path, row, column, blank=None):
    """A number cell; `blank` (default: an error) for an empty one.

    Args:
        text: the cell.
        path, row, column: its place, for the message.
        blank: the value of an empty cell; None makes it an error.

    Returns:
        float.

    Example:
    >>> parse_float(" 2.5", "t.csv", 1, "x")
    2.5
    """
    text = text.strip()
    if not text and blank is not None:
        return blank
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or math.isinf(value):
        raise ValueError(
            f"{where(path, row, column)}: {text!r} is not a number."
        )
    return value


def parse_binary(text, path, row, column):
    """A 0/1 cell (`0`, `1`, `0.0`, `1.0`) as float.

    Example:
    >>> parse_binary("1.0", "t.csv", 1, "Edema")
    1.0
    """
    value = parse_float(text, path, row, column)
    if value not in (0.0, 1.0):
        raise ValueError(f"{where(path, row, column)}: {text!r} is not 0 or 1.")
    return value


def check_box(box, image_hw, path, row, column):
    """Refuse a box (x, y, w, h) that is empty or leaves the image.

    A tolerance of one pixel allows for boxes drawn to the edge.

    Args:
        box: (x, y, w, h) in pixels.
        image_hw: the image's (height, width), or None (no bound).
        path, row, column: the place, for the message.

    Example:
    >>> check_box((1, 2, 3, 4), (10, 10), "t.csv", 1, "x")
    """
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise ValueError(
            f"{where(path, row, column)}: the box {list(box)} has no area "
            "(width and height must be > 0)."
        )
    if image_hw is None:
        return
    height, width = image_hw
    if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
        raise ValueError(
            f"{where(path, row, column)}: the box x={x:g}, y={y:g}, "
            f"w={w:g}, h={h:g} leaves the {width}x{height} image."
        )


def check_name(name, known, path, row, column):
    """Refuse a label name that is not in the dataset's list.

    Example:
    >>> check_name("Edema", ("Edema",), "t.csv", 1, "label")
    'Edema'
    """
    if name not in known:
        raise ValueError(
            f"{where(path, row, column)}: {name!r} is not a label of this "
            f"dataset ({', '.join(known)})."
        )
    return name


def to_chexpert(class_labels, class_names, mapping):
    """The CheXpert-14 labels of a dataset's own labels.

    Args:
        class_labels: float32 (N, L), 1/0/NaN.
        class_names: the L names.
        mapping: dataset name -> CheXpert name; several names mapped to
            one observation are OR-ed (the maximum, NaN ignored).

    Returns:
        float32 (N, 14), NaN where nothing maps.

    Example:
    >>> to_chexpert(np.array([[1.0]]), ["Effusion"],
    ...             {"Effusion": "Pleural Effusion"})[0, 10]
    np.float32(1.0)
    """
    class_labels = np.asarray(class_labels, np.float32)
    out = np.full((len(class_labels), 14), np.nan, np.float32)
    for source, target in mapping.items():
        if source not in class_names:
            continue
        values = class_labels[:, list(class_names).index(source)]
        column = CHEXPERT_OBSERVATIONS.index(target)
        out[:, column] = np.fmax(out[:, column], values)
    return out


def finish(columns, class_names, mapping):
    """A records dict from lists: arrays typed, `labels` mapped.

    Args:
        columns: dict of lists; `class_labels` a list of length-L rows,
            `image_hw` of (height, width) pairs, `boxes` of lists of
            (x, y, w, h).
        class_names: the dataset's L label names.
        mapping: dataset name -> CheXpert name (see `to_chexpert`).

    Returns:
        The records dict of the contract (`docs/data.md`).

    Example:
    >>> records = finish({"id": ["a"], "image_path": ["a.png"],
    ...                   "report": [""], "split": ["test"],
    ...                   "class_labels": [[1.0]]}, ["Edema"],
    ...                  {"Edema": "Edema"})
    >>> records["labels"].shape, records["class_names"]
    ((1, 14), ['Edema'])
    """
    n = len(columns["id"])
    out = dict(columns)
    out["class_labels"] = np.asarray(
        columns["class_labels"], np.float32
    ).reshape(n, len(class_names))
    out["class_names"] = list(class_names)
    out["labels"] = to_chexpert(out["class_labels"], class_names, mapping)
    if "image_hw" in columns:
        out["image_hw"] = np.asarray(columns["image_hw"], np.int32).reshape(
            n, 2
        )
    if "boxes" in columns:
        out["boxes"] = [
            np.asarray(b, np.float32).reshape(-1, 4) for b in columns["boxes"]
        ]
    return out


def record_columns(*extra):
    """Empty lists for the contract's columns plus `extra` ones.

    Example:
    >>> sorted(record_columns("boxes"))[:2]
    ['boxes', 'class_labels']
    """
    names = ("id", "image_path", "report", "split", "class_labels") + extra
    return {name: [] for name in names}


def select_split(records, split):
    """The records of one split or several (all when `split` is None).

    `class_names` (the L names, not a column) is kept whole.

    Example:
    >>> r = {"id": ["a", "b"], "split": ["train", "test"],
    ...      "class_names": ["X"]}
    >>> select_split(r, "test")["id"], select_split(r, "test")["class_names"]
    (['b'], ['X'])
    """
    if split is None:
        return records
    splits = (split,) if isinstance(split, str) else tuple(split)
    unknown = [s for s in splits if s not in tables.SPLITS]
    if unknown:
        raise ValueError(
            f"split must be 'train', 'validate' or 'test', got {unknown}."
        )
    return rec.select(records, [s in splits for s in records["split"]])
