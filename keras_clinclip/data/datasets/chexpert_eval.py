"""CheXpert's evaluation sets: 5x200, the 500-study test set, valid.csv.

- `chexpert_5x200(path)`: GLoRIA's released `chexpert_5x200.csv` (`Path`,
  the five one-hot columns, `Report Impression`), paths re-rooted to
  where the user's CheXpert copy is.
- `build_chexpert_5x200(train_csv)`: GLoRIA's rule applied to `train.csv`
  (frontal only; blanks read as 0; exactly one of the five competition
  findings positive and every other column but No Finding 0; 200 per
  class). GLoRIA sampled without a seed, so no rule rebuilds the
  published file: this one is seeded and documented as not equal to it.
- `chexpert_test(root)`: the 500-study test set; `groundtruth.csv` (one
  row per `Study`) joined to the images of that study folder by name,
  never by sort order.
- `chexpert_valid(root)`: the official `valid.csv` (234 images, 200
  studies) with GLoRIA's U-Ones or U-Zeros mapping of uncertain labels.
"""

import functools
import pathlib

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data.datasets import common

COMPETITION = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
)
IDENTITY = {name: name for name in CHEXPERT_OBSERVATIONS}
UNCERTAIN = ("ones", "zeros", "keep")


def _reroot(root, relative):
    """A CheXpert path (`CheXpert-v1.0/train/...`) under `root`."""
    relative = pathlib.PurePosixPath(str(relative).strip())
    if root is None:
        return str(relative)
    root = pathlib.Path(root)
    candidates = [root / relative]
    for start in range(1, len(relative.parts)):
        candidates.append(root / pathlib.PurePosixPath(*relative.parts[start:]))
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    return str(candidates[min(1, len(candidates) - 1)])


def chexpert_5x200(path, root=None):
    """Records of GLoRIA's `chexpert_5x200.csv` (1,000 images, 5 classes).

    Args:
        path: the CSV file, or the folder holding `chexpert_5x200.csv`
            (as in the dataset string `chexpert-5x200:FOLDER`).
        root: the folder of the user's CheXpert copy (the one holding
            `train/`); the file's paths (`CheXpert-v1.0/train/...`) are
            re-rooted there, whatever their first folder. Default: the
            CSV's folder.

    Returns:
        A records dict, all `"test"`: `report` (`Report Impression`),
        `class_names` (the five findings), `class_labels` (N, 5) one-hot.

    Raises:
        ValueError: one line naming the file, row and column (a missing
            column, a label that is not 0/1, a row that is not one-hot).

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "chexpert_5x200.csv")
    >>> _ = open(path, "w").write(
    ...     "Path,Atelectasis,Cardiomegaly,Consolidation,Edema,"
    ...     "Pleural Effusion,Report Impression\\n"
    ...     "CheXpert-v1.0/train/p1/s1/view1_frontal.jpg,0,1,0,0,0,big\\n")
    >>> records = chexpert_5x200(path)
    >>> records["class_labels"].tolist(), records["report"]
    ([[0.0, 1.0, 0.0, 0.0, 0.0]], ['big'])
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "chexpert_5x200.csv"
    root = path.parent if root is None else root
    columns, rows = common.read_table(
        path,
        ("Path",) + COMPETITION,
        fix="expected GLoRIA's chexpert_5x200.csv",
    )
    out = common.record_columns()
    for number, cells in rows:
        labels = [
            common.parse_binary(cells[columns[name]], path, number, name)
            for name in COMPETITION
        ]
        if sum(labels) != 1:
            raise ValueError(
                f"{common.where(path, number, COMPETITION[0])}: the five "
                f"class columns must be one-hot, got {labels}."
            )
        report = ""
        if "Report Impression" in columns:
            report = cells[columns["Report Impression"]].strip()
        relative = cells[columns["Path"]]
        out["id"].append(str(pathlib.PurePosixPath(relative.strip()).parent))
        out["image_path"].append(_reroot(root, relative))
        out["report"].append(report)
        out["split"].append("test")
        out["class_labels"].append(labels)
    return common.finish(out, COMPETITION, IDENTITY)


_CODES = {"": 0.0, "0.0": 0.0, "1.0": 1.0, "-1.0": -1.0}
_CODES.update({"0": 0.0, "1": 1.0, "-1": -1.0})


def _zero_filled(cells, columns, path, number, names):
    """GLoRIA's reading of a train.csv row: blank -> 0."""
    values = []
    for name in names:
        text = cells[columns[name]].strip()
        value = _CODES.get(text)
        if value is None:
            raise ValueError(
                f"{common.where(path, number, name)}: {text!r} is not 1, 0, "
                "-1 or blank."
            )
        values.append(value)
    return values


def chexpert_5x200_pools(train_csv):
    """The candidate rows of GLoRIA's 5x200 rule, per class.

    The result is cached per file (path, size, modification time): the
    full `train.csv` takes seconds to read.

    Args:
        train_csv: CheXpert's `train.csv` (or `.csv.gz`).

    Returns:
        `(pools, rows)`: class -> list of row indices (0-based, in file
        order) and the `(row number, cells)` rows with their `columns`.

    Example:
    >>> import os, tempfile
    >>> from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS as names
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> row = ["0"] * 14
    >>> row[names.index("Edema")] = "1"
    >>> _ = open(path, "w").write(
    ...     "Path,Frontal/Lateral," + ",".join(names) + "\\n"
    ...     "a.jpg,Frontal," + ",".join(row) + "\\n")
    >>> [len(v) for v in chexpert_5x200_pools(path)[0].values()]
    [0, 0, 0, 1, 0]
    """
    path = pathlib.Path(train_csv)
    stat = path.stat()
    pools, table = _pools(str(path), stat.st_size, stat.st_mtime_ns)
    return {name: list(rows) for name, rows in pools.items()}, table


@functools.lru_cache(maxsize=2)
def _pools(path, size, mtime):
    path = pathlib.Path(path)
    names = [n for n in CHEXPERT_OBSERVATIONS if n != "No Finding"]
    columns, rows = common.read_table(path, ("Path", "Frontal/Lateral", *names))
    pools = {name: [] for name in COMPETITION}
    for index, (number, cells) in enumerate(rows):
        if cells[columns["Frontal/Lateral"]].strip() != "Frontal":
            continue
        values = _zero_filled(cells, columns, path, number, names)
        positive = [n for n, v in zip(names, values) if v != 0.0]
        if len(positive) == 1 and positive[0] in pools:
            if values[names.index(positive[0])] == 1.0:
                pools[positive[0]].append(index)
    return pools, (columns, rows)


def build_chexpert_5x200(train_csv, root=None, per_class=200, seed=0):
    """GLoRIA's 5x200 rule on `train.csv`, seeded (not the released file).

    Args:
        train_csv: CheXpert's `train.csv`.
        root: where the images are (default: the CSV's folder).
        per_class: images per class (200).
        seed: the seed of the draw.

    Returns:
        A records dict as `chexpert_5x200` (reports ""), classes in
        `COMPETITION` order, rows of a class in file order.

    Raises:
        ValueError: naming the class whose pool is smaller than
            `per_class`.

    Example:
    >>> import os, tempfile
    >>> from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS as names
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> lines = ["Path,Frontal/Lateral," + ",".join(names)]
    >>> for k, finding in enumerate(COMPETITION):
    ...     row = ["1" if n == finding else "" for n in names]
    ...     lines.append(f"p{k}/s1/view1_frontal.jpg,Frontal," + ",".join(row))
    >>> _ = open(path, "w").write("\\n".join(lines) + "\\n")
    >>> records = build_chexpert_5x200(path, per_class=1)
    >>> records["id"], records["class_labels"].sum(axis=0).tolist()
    (['p0/s1', 'p1/s1', 'p2/s1', 'p3/s1', 'p4/s1'], [1.0, 1.0, 1.0, 1.0, 1.0])
    """
    path = pathlib.Path(train_csv)
    root = path.parent if root is None else root
    pools, (columns, rows) = chexpert_5x200_pools(path)
    rng = np.random.RandomState(seed)
    out = common.record_columns()
    for k, name in enumerate(COMPETITION):
        pool = pools[name]
        if len(pool) < per_class:
            raise ValueError(
                f"{path}: only {len(pool)} candidate images of {name!r}, "
                f"fewer than per_class={per_class}."
            )
        for index in sorted(rng.choice(pool, per_class, replace=False)):
            relative = rows[index][1][columns["Path"]]
            out["id"].append(
                str(pathlib.PurePosixPath(relative.strip()).parent)
            )
            out["image_path"].append(_reroot(root, relative))
            out["report"].append("")
            out["split"].append("test")
            out["class_labels"].append(np.eye(5)[k].tolist())
    return common.finish(out, COMPETITION, IDENTITY)


def chexpert_test(root, table="groundtruth.csv"):
    """Records of CheXpert's 500-study test set, joined on `Study`.

    Args:
        root: the folder holding the table and the `test/` images
            (`test/patient64741/study1/view1_frontal.jpg`).
        table: the label table (one row per study; `Study` plus the 14
            observations, 0/1).

    Returns:
        A records dict, all `"test"`, one record per study with its first
        frontal image by name (`view1_frontal` before `view2_frontal`);
        `class_names` the 14 observations.

    Raises:
        ValueError: naming the file, row and column `Study` when the
            study's folder has no image.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> study = os.path.join(root, "test", "patient64741", "study1")
    >>> os.makedirs(study)
    >>> for view in ("view2_frontal.jpg", "view1_frontal.jpg"):
    ...     _ = open(os.path.join(study, view), "wb").write(b"")
    >>> _ = open(os.path.join(root, "groundtruth.csv"), "w").write(
    ...     "Study,Edema\\nCheXpert-v1.0/test/patient64741/study1,1\\n")
    >>> records = chexpert_test(root)
    >>> os.path.basename(records["image_path"][0]), records["labels"][0, 5]
    ('view1_frontal.jpg', np.float32(1.0))
    """
    root = pathlib.Path(root)
    path = root / table
    names = [n for n in CHEXPERT_OBSERVATIONS]
    columns, rows = common.read_table(path, ("Study",))
    present = [n for n in names if n in columns]
    out = common.record_columns()
    for number, cells in rows:
        study = cells[columns["Study"]].strip()
        folder = pathlib.Path(_reroot(root, study))
        images = sorted(folder.glob("view*_frontal.*")) or sorted(
            folder.glob("view*.*")
        )
        if not images:
            raise ValueError(
                f"{common.where(path, number, 'Study')}: no image in "
                f"{folder} (expected view1_frontal.jpg)."
            )
        labels = [
            common.parse_binary(cells[columns[n]], path, number, n)
            if n in present
            else np.nan
            for n in names
        ]
        out["id"].append(study)
        out["image_path"].append(str(images[0]))
        out["report"].append("")
        out["split"].append("test")
        out["class_labels"].append(labels)
    return common.finish(out, names, IDENTITY)


def chexpert_valid(root, uncertain="ones", frontal_only=True):
    """Records of CheXpert's `valid.csv` with U-Ones or U-Zeros.

    Args:
        root: the folder of `valid.csv` (its paths are re-rooted here).
        uncertain: `"ones"` (-1 -> 1, GLoRIA's U-Ones), `"zeros"` (-1 ->
            0) or `"keep"`; blanks are 0 for ones/zeros, NaN for keep.
        frontal_only: keep the frontal images.

    Returns:
        A records dict, split `"validate"`, `class_names` the 14
        observations.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> names = ",".join(CHEXPERT_OBSERVATIONS)
    >>> labels = ["-1.0", ""] + ["0.0"] * 12
    >>> _ = open(os.path.join(root, "valid.csv"), "w").write(
    ...     f"Path,Frontal/Lateral,{names}\\n"
    ...     f"CheXpert-v1.0/valid/p1/s1/v1.jpg,Frontal,{','.join(labels)}\\n")
    >>> chexpert_valid(root)["class_labels"][0, :2].tolist()
    [1.0, 0.0]
    >>> chexpert_valid(root, uncertain="zeros")["class_labels"][0, :2].tolist()
    [0.0, 0.0]
    """
    if uncertain not in UNCERTAIN:
        raise ValueError(
            f"uncertain must be one of {UNCERTAIN}, got {uncertain!r}."
        )
    root = pathlib.Path(root)
    path = root / "valid.csv" if root.is_dir() else root
    root = path.parent
    names = list(CHEXPERT_OBSERVATIONS)
    columns, rows = common.read_table(path, ("Path", *names))
    out = common.record_columns()
    for number, cells in rows:
        if frontal_only and "Frontal/Lateral" in columns:
            if cells[columns["Frontal/Lateral"]].strip() != "Frontal":
                continue
        values = _zero_filled(cells, columns, path, number, names)
        blank = [not cells[columns[n]].strip() for n in names]
        if uncertain == "keep":
            values = [np.nan if b else v for v, b in zip(values, blank)]
        else:
            fill = 1.0 if uncertain == "ones" else 0.0
            values = [fill if v == -1.0 else v for v in values]
        relative = cells[columns["Path"]]
        out["id"].append(str(pathlib.PurePosixPath(relative.strip()).parent))
        out["image_path"].append(_reroot(root, relative))
        out["report"].append("")
        out["split"].append("validate")
        out["class_labels"].append(values)
    return common.finish(out, names, IDENTITY)
