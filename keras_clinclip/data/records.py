"""The records format shared by every loader, and helpers to build it.

A records dict holds columns of equal length N (see
`docs/architecture.md`): `id`, `image` (uint8 (N, H, W)) or `image_path`,
`report`, `labels` (float32 (N, 14)), `split`, and optionally `negations`,
`negation_labels`, `omissions`, and the report graphs: either dense
(`graph_nodes`, `graph_adjacency`, `graph_node_mask`) or compact
(`graphs`, a `ReportGraphs`; what the prepared-text loaders give).

Keys in `METADATA` are not columns but facts of the whole table (the
field's datasets give `class_names`, the L names of `class_labels`'
columns): they are not length-checked, and `select` and `concatenate`
keep them whole.
"""

import hashlib
import json
import math
import pathlib

import numpy as np

from keras_clinclip import file_writes
from keras_clinclip import reports as rep
from keras_clinclip.data.report_graphs import ReportGraphs

NUM_CLASSES = 14
REQUIRED = ("id", "report", "labels", "split")
METADATA = ("class_names",)


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
        elif isinstance(value, (np.ndarray, ReportGraphs)):
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
        elif isinstance(values[0], ReportGraphs):
            out[key] = ReportGraphs.concatenate(values)
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


def toolkit_fingerprint():
    """A hash of the report toolkit's code and data (text columns depend on
    it): a cache of labels, negations or graphs keyed on it is rebuilt
    when the toolkit changes.

    Example:
    >>> len(toolkit_fingerprint())
    12
    """
    digest = hashlib.md5()
    root = pathlib.Path(rep.__file__).parent
    for file in sorted(root.rglob("*")):
        if file.suffix in (".py", ".yaml", ".yml", ".json"):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def save_columns(path, columns):
    """Write a dict of columns (arrays and JSON-able lists) atomically.

    The file is written under a per-process temporary name and renamed,
    so that processes sharing a cache never read half a file.

    Args:
        path: the `.npz` file.
        columns: a dict of numpy arrays and lists.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
    >>> save_columns(path, {"a": np.arange(2), "b": [["x"], []]})
    >>> load_columns(path)["b"]
    [['x'], []]
    """
    path = pathlib.Path(path)
    arrays = {k: v for k, v in columns.items() if isinstance(v, np.ndarray)}
    lists = {k: v for k, v in columns.items() if k not in arrays}
    tmp = file_writes.temp_sibling(path)  # per process: caches may be shared
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            __lists__=np.frombuffer(
                json.dumps(lists).encode("utf-8"), np.uint8
            ),
            **arrays,
        )
    tmp.replace(path)


def load_columns(path):
    """Read the columns written by `save_columns`.

    Args:
        path: the `.npz` file.

    Returns:
        The dict of columns.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "c.npz")
    >>> save_columns(path, {"a": np.arange(2)})
    >>> load_columns(path)["a"].tolist()
    [0, 1]
    """
    with np.load(path) as data:
        out = {k: data[k] for k in data.files if k != "__lists__"}
        out.update(json.loads(data["__lists__"].tobytes().decode("utf-8")))
    return out
