"""One home for turning a dataset name or file into a records dict.

`load_source("iu")`, `load_source("synthetic:256")` or
`load_source("reports.csv")`: what `clinclip evaluate --data` and the
training config's `dataset` accept, resolved in one place. The loaders
themselves stay where they are (`iu_xray`, `synthetic_pairs`,
`csv.load_records`); this module only picks one and reads saved `.npz`
records.
"""

import pathlib

import numpy as np

from keras_clinclip.data import csv
from keras_clinclip.data import synthcxr
from keras_clinclip.data.iu_xray import iu_xray

NAMES = ("iu", "iu_xray", "synthetic", "synthetic:N")
TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".gz")
_REQUIRED = ("id", "report", "labels")


def read_npz(path):
    """Records saved with `numpy.savez` (one array per column).

    Args:
        path: a `.npz` file with at least `id`, `report` and `labels`.

    Returns:
        A records dict; string arrays become lists of `str`.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
    >>> np.savez(path, id=["1"], report=["Clear."], labels=np.zeros((1, 14)))
    >>> read_npz(path)["report"]
    ['Clear.']
    """
    path = pathlib.Path(path)
    records = {}
    with np.load(path, allow_pickle=False) as arrays:
        for key in arrays.files:
            value = arrays[key]
            records[key] = (
                [str(v) for v in value] if value.dtype.kind in "US" else value
            )
    missing = [key for key in _REQUIRED if key not in records]
    if missing:
        raise KeyError(
            f"{path}: the records file has no {missing[0]!r} array "
            f"(arrays: {sorted(records)})"
        )
    return records


def load_source(
    source,
    image_size=224,
    seed=0,
    count=None,
    num_negations=None,
    graphs=True,
    on_error="raise",
    error_log=None,
):
    """The records of a dataset name or file.

    Args:
        source: `"iu"` (alias `"iu_xray"`: the IU reports with SynthCXR
            images), `"synthetic"` or `"synthetic:N"` (`synthetic_pairs`),
            or a path: `.npz` (saved records), `.csv`, `.csv.gz`,
            `.jsonl` (`keras_clinclip.data.load_records`).
        image_size: the side of rendered images (`iu`, `synthetic`).
        seed: the seed of synthetic data.
        count: `iu`: keep the first `count` reports (`limit=`);
            `synthetic` without `:N`: the number of pairs (default 512).
        num_negations: negated variants per report (`iu`, `synthetic`);
            None: the loader's default (2 for `iu`, 1 for `synthetic`).
        graphs: add the report graph arrays (`iu`, `synthetic`).
        on_error: for a table, `"raise"` on a bad row or `"skip"` it.
        error_log: optional `ErrorLog` that counts a table's skipped rows.

    Returns:
        A records dict.

    Example:
    >>> load_source("synthetic:3", image_size=32)["image"].shape
    (3, 32, 32)
    """
    spec = str(source)
    variants = {} if num_negations is None else {"num_negations": num_negations}
    if spec in ("iu", "iu_xray"):
        return iu_xray(
            image_size=image_size, limit=count, graphs=graphs, **variants
        )
    name, _, number = spec.partition(":")
    if name == "synthetic" and (number.isdigit() or not _):
        return synthcxr.synthetic_pairs(
            int(number) if number else (count or 512),
            seed=seed,
            image_size=max(int(image_size), 32),
            graphs=graphs,
            **variants,
        )
    path = pathlib.Path(spec)
    if not path.exists():
        raise FileNotFoundError(
            f"{spec!r} is neither one of {', '.join(NAMES)} nor an "
            "existing file"
        )
    if path.suffix == ".npz":
        return read_npz(path)
    if path.suffix in TABLE_SUFFIXES:
        return csv.load_records(path, on_error=on_error, error_log=error_log)
    raise ValueError(
        f"{spec!r}: unknown file type {path.suffix!r} (use .npz, .csv, "
        ".csv.gz or .jsonl)"
    )
