"""COVIDx CXR (the COVID-Net project's release), as distributed.

    <root>/train_COVIDx9A.txt, <root>/test_COVIDx9A.txt (any version;
    also val_*.txt, or train.txt / val.txt / test.txt in COVIDx CXR-3/4)
        patient id, filename, class, data source  (space-separated, no
        header: "419639-003251 MIDRC-RICORD-1C-...-jpg positive rsna")
    <root>/train/<filename>, <root>/test/<filename> (val images are in
    train/ in the releases that have a val list)

The classes are `positive`/`negative` (COVIDx 8 and later) or
`COVID-19`/`pneumonia`/`normal` (earlier); a file mixing the two is an
error. `normal` maps to CheXpert's No Finding, `pneumonia` to Pneumonia;
the others have no CheXpert name (NaN).
"""

import pathlib

from keras_clinclip.data.datasets import common

BINARY = ("positive", "negative")
THREE_CLASS = ("COVID-19", "pneumonia", "normal")
MAPPING = {"normal": "No Finding", "pneumonia": "Pneumonia"}
COLUMNS = ("patient id", "filename", "class", "data source")
PREFIXES = (("train", "train"), ("val", "validate"), ("test", "test"))


def _lists(root):
    """(split, file, image folder) for every list present."""
    found = []
    for prefix, split in PREFIXES:
        names = sorted(root.glob(f"{prefix}_COVIDx*.txt"))
        if (root / f"{prefix}.txt").exists():
            names.append(root / f"{prefix}.txt")
        if len(names) > 1:
            listed = ", ".join(p.name for p in names)
            raise ValueError(
                f"{root}: several {prefix} lists ({listed}); keep one "
                "version per folder."
            )
        folder = prefix if (root / prefix).is_dir() else "train"
        if names:
            found.append((split, names[0], folder))
    if not found:
        raise FileNotFoundError(
            f"{root}: no train_COVIDx*.txt or test_COVIDx*.txt list."
        )
    return found


def covidx(root, split=None):
    """Records of COVIDx CXR.

    Args:
        root: the folder of the lists and the `train/` and `test/` images.
        split: `"train"`, `"validate"`, `"test"`, a list, or None.

    Returns:
        A records dict: `id` (the filename), `image_path`, `report` (""),
        `split`, `labels`, `class_names` (`positive`, `negative` or the
        three older classes), `class_labels` one-hot, `patient`,
        `source`.

    Raises:
        ValueError: one line naming the file, row and column: fewer than
            four cells, or a class that is not one of the release's.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "test_COVIDx9A.txt"), "w").write(
    ...     "p1 a.png positive rsna\\np2 b.png negative rsna\\n")
    >>> records = covidx(root)
    >>> records["class_names"], records["class_labels"].tolist()
    (['positive', 'negative'], [[1.0, 0.0], [0.0, 1.0]])
    """
    root = pathlib.Path(root)
    out = common.record_columns("patient", "source")
    classes = None
    for part, path, folder in _lists(root):
        _, rows = common.read_table(path, COLUMNS, header=False, delimiter=None)
        for number, cells in rows:
            name = cells[2]
            if classes is None:
                classes = BINARY if name in BINARY else THREE_CLASS
            common.check_name(name, classes, path, number, "class")
            out["id"].append(cells[1])
            out["image_path"].append(str(root / folder / cells[1]))
            out["report"].append("")
            out["split"].append(part)
            out["class_labels"].append(
                [1.0 if name == c else 0.0 for c in classes]
            )
            out["patient"].append(cells[0])
            out["source"].append(cells[3])
    records = common.finish(out, classes or BINARY, MAPPING)
    return common.select_split(records, split)
