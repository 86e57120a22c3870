"""CheXpert's 14 observations and its label convention.

The bottom of the package: every layer (reports, data, models, losses,
evaluation) spells the observations and the label values from here, and
this module imports only numpy and `keras_clinclip.utils` (the standard
library). It also reads the real CheXpert training label table
(`chexpert_label_table`) that `torchxrayvision` ships.

Labels follow the CheXpert CSV convention: `POSITIVE` (1.0), `NEGATIVE`
(0.0), `UNCERTAIN` (-1.0), and NaN for "not mentioned".

Example:
>>> from keras_clinclip import chexpert
>>> len(chexpert.CHEXPERT_OBSERVATIONS)
14
>>> chexpert.CHEXPERT_OBSERVATIONS.index(chexpert.NO_FINDING)
0
>>> chexpert.UNCERTAIN
-1.0
"""

import csv
import gzip
import pathlib

import numpy as np

from keras_clinclip import file_writes
from keras_clinclip import utils

NO_FINDING = "No Finding"

CHEXPERT_OBSERVATIONS = (
    NO_FINDING,
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

POSITIVE = 1.0
NEGATIVE = 0.0
UNCERTAIN = -1.0

# P(1), P(0), P(-1) per observation (the rest is NaN, "not mentioned"),
# measured on the CheXpert training labels that torchxrayvision ships
# (data/chexpert_train.csv.gz, 223,414 rows).
LABEL_FREQUENCIES = {
    "No Finding": (0.100, 0.0, 0.0),
    "Enlarged Cardiomediastinum": (0.048, 0.097, 0.056),
    "Cardiomegaly": (0.121, 0.050, 0.036),
    "Lung Opacity": (0.473, 0.030, 0.025),
    "Lung Lesion": (0.041, 0.006, 0.007),
    "Edema": (0.234, 0.093, 0.058),
    "Consolidation": (0.066, 0.126, 0.124),
    "Pneumonia": (0.027, 0.013, 0.084),
    "Atelectasis": (0.149, 0.006, 0.151),
    "Pneumothorax": (0.087, 0.252, 0.014),
    "Pleural Effusion": (0.386, 0.158, 0.052),
    "Pleural Other": (0.016, 0.001, 0.012),
    "Fracture": (0.041, 0.011, 0.003),
    "Support Devices": (0.519, 0.028, 0.005),
}


def observation_index(name):
    """The column of observation `name` in `CHEXPERT_OBSERVATIONS`.

    Args:
        name: an observation as CheXpert spells it.

    Returns:
        int, 0..13.

    Raises:
        ValueError: naming the unknown observation and the known ones.

    Example:
    >>> observation_index("Pleural Effusion")
    10
    """
    try:
        return CHEXPERT_OBSERVATIONS.index(name)
    except ValueError:
        raise ValueError(
            f"unknown CheXpert observation {name!r}; known: "
            f"{', '.join(CHEXPERT_OBSERVATIONS)}"
        ) from None


# The CheXpert training labels shipped (as data) by torchxrayvision.
_LABEL_TABLE_FILE = "data/chexpert_train.csv.gz"
_LABEL_TABLE = {}


def _cached_file(path):
    """`path` if it exists, else the same file in the default cache.

    Files that depend only on the installed packages (the label table,
    SynthCXR's lung masks) are cached under `synthcxr/`; a copy in the
    default cache (`~/.cache/keras_clinclip`) serves when
    `$KERAS_CLINCLIP_CACHE` points to a fresh folder (as in tests).
    """
    if path.exists():
        return path
    other = pathlib.Path(utils.DEFAULT_CACHE_ROOT, "synthcxr", path.name)
    return other if other.exists() else None


def _read_label_table(path):
    """The label columns of a CheXpert CSV (gzip) as float32 (rows, 14)."""
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = [header.index(name) for name in CHEXPERT_OBSERVATIONS]
        codes = {"1.0": 1, "0.0": 0, "-1.0": -1, "": 2}
        rows = [[codes[row[c]] for c in columns] for row in reader]
    codes = np.asarray(rows, np.int8)
    return np.where(codes == 2, np.nan, codes).astype(np.float32)


def chexpert_label_table():
    """The real CheXpert training label table, (223414, 14) float32.

    Read once from `torchxrayvision`'s `data/chexpert_train.csv.gz` (found
    with `importlib.util.find_spec`; torchxrayvision is never imported)
    and cached as `synthcxr/chexpert_train_labels.npy` under
    `keras_clinclip.utils.cache_dir`.

    Returns:
        float32 (rows, 14) in `CHEXPERT_OBSERVATIONS` order (1, 0, -1,
        NaN), or `None` when `torchxrayvision` is not installed.

    Example:
    >>> table = chexpert_label_table()
    >>> table is None or table.shape[1] == 14
    True
    """
    if "table" in _LABEL_TABLE:
        return _LABEL_TABLE["table"]
    try:
        path = utils.package_data_path("torchxrayvision", _LABEL_TABLE_FILE)
    except (ImportError, FileNotFoundError):
        _LABEL_TABLE["table"] = None
        return None
    cache = utils.cache_dir("synthcxr") / "chexpert_train_labels.npy"
    found = _cached_file(cache)
    if found is not None:
        table = np.load(found)
    else:
        table = _read_label_table(path)
        # per process: caches may be shared
        tmp = file_writes.temp_sibling(cache)
        np.save(tmp, table)
        tmp.replace(cache)
    _LABEL_TABLE["table"] = table
    return table
