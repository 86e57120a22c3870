"""The records format shared by every loader, and helpers to build it.

A records dict holds columns of equal length N (see
`docs/architecture.md`): `id`, `image` (uint8 (N, H, W)) or `image_path`,
`report`, `labels` (float32 (N, 14)), `split`, and optionally `negations`,
`negation_labels`, `omissions`, `graph_nodes`, `graph_adjacency`,
`graph_node_mask`.

Keys in `METADATA` are not columns but facts of the whole table (the
field's datasets give `class_names`, the L names of `class_labels`'
columns): they are not length-checked, and `select` and `concatenate`
keep them whole.
"""

import hashlib
import math

import numpy as np

from keras_clinclip import reports as rep

NUM_CLASSES = 14
SPLITS = ("train", "validate", "test")
REQUIRED = ("id", "report", "labels", "split")
METADATA = ("class_names",)


def hash_split(study_id, fractions=(0.8, 0.1, 0.1)):
    """A fixed train/validate/test split from a hash of the id.

    Args:
        study_id: the study id (str).
        fractions: the shares of train, validate and test.

    Returns:
        `"train"`, `"validate"` or `"test"`; stable across runs, machines
        and Python versions (MD5 of the id).

    Example:
    >>> hash_split("CXR1") in ("train", "validate", "test")
    True
    """
    digest = hashlib.md5(str(study_id).encode("utf-8")).hexdigest()
    u = int(digest[:8], 16) / 2**32
    total = sum(fractions)
    edge = 0.0
    for name, share in zip(SPLITS, fractions):
        edge += share / total
        if u < edge:
            return name
    return SPLITS[-1]


def check_labels(labels, where="labels"):
    """Check labels are in {1, 0, -1, NaN}; raise naming the bad row.

    Args:
        labels: array-like (N, 14).
        where: a description of the source for the message.

    Returns:
        The labels as float32 (N, 14).

    Example:
    >>> check_labels([[1.0] * 14]).shape
    (1, 14)
    """
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim != 2 or labels.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"{where}: labels must have shape (N, {NUM_CLASSES}), got "
            f"{labels.shape}."
        )
    bad = ~(np.isnan(labels) | np.isin(labels, np.array([1.0, 0.0, -1.0])))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: row {row}, column {col}: label {labels[row, col]!r} "
            "is not one of 1, 0, -1 or NaN."
        )
    return labels


def bad_label_rows(labels):
    """Indices of rows with a label outside {1, 0, -1, NaN}.

    Example:
    >>> bad_label_rows(np.array([[1.0] * 14, [2.0] * 14])).tolist()
    [1]
    """
    labels = np.asarray(labels, dtype=np.float32)
    bad = ~(np.isnan(labels) | np.isin(labels, np.array([1.0, 0.0, -1.0])))
    return np.nonzero(bad.any(axis=1))[0]


def validate_records(records):
    """Check a records dict: columns present, equal lengths.

    Args:
        records: the dict of columns.

    Returns:
        N, the number of records.

    Example:
    >>> records = {"id": ["a"], "report": ["No effusion."],
    ...            "labels": np.full((1, 14), np.nan), "split": ["train"],
    ...            "image": np.zeros((1, 8, 8), np.uint8)}
    >>> validate_records(records)
    1
    """
    if not isinstance(records, dict):
        raise TypeError(f"records must be a dict of columns, got {records!r}")
    missing = [key for key in REQUIRED if key not in records]
    if "image" not in records and "image_path" not in records:
        missing.append("image or image_path")
    if missing:
        raise KeyError(
            f"records lack the columns {missing}; present: {sorted(records)}."
        )
    lengths = {
        key: len(value) for key, value in records.items() if key not in METADATA
    }
    n = lengths["id"]
    wrong = {key: length for key, length in lengths.items() if length != n}
    if wrong:
        raise ValueError(
            f"records columns must have equal lengths; 'id' has {n} but "
            f"{wrong}."
        )
    return n


def select(records, index):
    """The records at `index` (a list/array of ints or a boolean mask).

    Example:
    >>> select({"id": ["a", "b"], "x": np.arange(2)}, [1])["id"]
    ['b']
    """
    index = np.asarray(index)
    if index.dtype == bool:
        index = np.nonzero(index)[0]
    out = {}
    for key, value in records.items():
        if key in METADATA:
            out[key] = value
        elif isinstance(value, np.ndarray):
            out[key] = value[index]
        else:
            out[key] = [value[i] for i in index]
    return out


def concatenate(parts):
    """Concatenate records dicts with the same columns.

    Example:
    >>> concatenate([{"id": ["a"]}, {"id": ["b"]}])["id"]
    ['a', 'b']
    """
    out = {}
    for key in parts[0]:
        values = [part[key] for part in parts]
        if key in METADATA:
            out[key] = values[0]
        elif isinstance(values[0], np.ndarray):
            out[key] = np.concatenate(values)
        else:
            out[key] = [item for value in values for item in value]
    return out


def graph_columns(reports, max_nodes=None):
    """Graph arrays of many reports, stacked.

    Uses `keras_clinclip.reports.report_graph` and `graph_to_arrays`.

    Args:
        reports: a list of report texts.
        max_nodes: nodes per graph (default `reports.GRAPH_MAX_NODES`).

    Returns:
        A dict with `graph_nodes` float32 (N, M, F), `graph_adjacency`
        float32 (N, M, M), `graph_node_mask` float32 (N, M).

    Example:
    >>> cols = graph_columns(["No pleural effusion."])
    >>> cols["graph_node_mask"].shape[0]
    1
    """
    max_nodes = max_nodes or rep.GRAPH_MAX_NODES
    nodes, adjacency, mask = [], [], []
    for text in reports:
        arrays = rep.graph_to_arrays(rep.report_graph(text), max_nodes)
        nodes.append(arrays["nodes"])
        adjacency.append(arrays["adjacency"])
        mask.append(arrays["node_mask"])
    return {
        "graph_nodes": np.asarray(nodes, np.float32).reshape(
            len(reports), max_nodes, -1
        ),
        "graph_adjacency": np.asarray(adjacency, np.float32).reshape(
            len(reports), max_nodes, max_nodes
        ),
        "graph_node_mask": np.asarray(mask, np.float32).reshape(
            len(reports), max_nodes
        ),
    }


def negation_labels_for(labels, findings, observations, num_negations):
    """Labels of negated reports: the source labels, finding set to 0.

    Args:
        labels: float32 (C,) labels of the source report.
        findings: the negated observation of each variant (list of str).
        observations: the C observation names.
        num_negations: K, the padded size.

    Returns:
        float32 (K, C); rows past `len(findings)` are zeros.

    Example:
    >>> names = ["A", "B"]
    >>> negation_labels_for(np.array([1.0, 1.0]), ["B"], names, 2).tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    """
    out = np.zeros((num_negations, len(observations)), np.float32)
    for k, finding in enumerate(findings[:num_negations]):
        row = np.array(labels, np.float32)
        row[list(observations).index(finding)] = 0.0
        out[k] = row
    return out


def is_blank(value):
    """True for None, NaN and strings that are empty after stripping.

    Example:
    >>> is_blank("  "), is_blank("x")
    (True, False)
    """
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return not str(value).strip()
