"""The text side of a dataset, prepared once: labels, negations, graphs.

Any source of image paths and reports (a user's CSV, MIMIC-CXR, a
registered dataset) gets the whole method from `add_text_columns`: the
labeler's CheXpert-14 labels where the source has none, up to K negated
and omitted variants per study and the report graphs, computed by
`keras_clinclip.reports.prepare.study_text_columns`.

The work is done once per set of reports: in blocks of `CHUNK` studies,
in worker processes (`keras_clinclip.utils.worker_pool`), with a progress
line, each finished block saved under
`keras_clinclip.utils.cache_dir("prepared", KEY)` so that an interrupted
run resumes from the blocks it has. KEY is a hash of the study ids, the
report texts, K and the report toolkit's fingerprint
(`records.toolkit_fingerprint`): a changed report or toolkit version
prepares again, and a second run on the same data reads one file.
"""

import hashlib
import json
import math
import os
import pathlib

import numpy as np

from keras_clinclip import tables
from keras_clinclip import utils
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import records as rec
from keras_clinclip.data.report_graphs import ReportGraphs
from keras_clinclip.reports.graph import GRAPH_MAX_NODES
from keras_clinclip.reports.prepare import choose_negated
from keras_clinclip.reports.prepare import graph_arrays_from_record
from keras_clinclip.reports.prepare import study_text_columns

CHUNK = 2000  # studies per saved block
WORKERS = 2  # the most worker processes `prepare_text` starts by default
# Bump when the columns built from a report change outside the toolkit.
_VERSION = "2"  # 2: graphs stored compact (`ReportGraphs`)
_GRAPH_KEYS = ("graph_nodes", "graph_adjacency", "graph_node_mask")
LABEL_CHOICES = ("auto", "table", "labeler")


def cache_key(ids, reports, num_negations):
    """The cache key of a set of reports (see the module docstring).

    Args:
        ids: the study ids.
        reports: the report texts.
        num_negations: K.

    Returns:
        A 16-character hex string.

    Example:
    >>> cache_key(["a"], ["Clear."], 1) == cache_key(["a"], ["Clear."], 2)
    False
    """
    digest = hashlib.md5()
    head = f"{_VERSION}|{rec.toolkit_fingerprint()}|{int(num_negations)}|"
    digest.update(head.encode())
    for study, text in zip(ids, reports):
        digest.update(f"{study}\x1f{text}\x1e".encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def prepare_chunk(job):
    """The text columns of one block of studies (run in the workers).

    Args:
        job: `(ids, reports, num_negations)`.

    Returns:
        A dict of columns: `labels` (n, 14), `negated_findings`,
        `negations`, `omissions` (lists of lists) and the report graphs
        as the `graph_*` columns of `ReportGraphs.to_columns`.

    Example:
    >>> out = prepare_chunk((["s1"], ["Small left effusion."], 1))
    >>> out["negated_findings"], out["graph_node_ids"].shape
    ([['Pleural Effusion']], (1, 32))
    """
    ids, reports, num_negations = job
    labels, chosen, negations, omissions = [], [], [], []
    nodes, adjacency, mask = [], [], []
    for study, text in zip(ids, reports):
        out = study_text_columns(study, text, num_negations, graph=True)
        labels.append(out["labels"])
        chosen.append(out["negated_findings"])
        negations.append(out["negations"])
        omissions.append(out["omissions"])
        nodes.append(out["graph"]["nodes"])
        adjacency.append(out["graph"]["adjacency"])
        mask.append(out["graph"]["node_mask"])
    n, m = len(ids), GRAPH_MAX_NODES
    graphs = ReportGraphs.from_dense(
        np.asarray(nodes, np.float32).reshape(n, m, -1),
        np.asarray(adjacency, np.float32).reshape(n, m, m),
        np.asarray(mask, np.float32).reshape(n, m),
    )
    return {
        "labels": np.asarray(labels, np.float32).reshape(n, 14),
        "negated_findings": chosen,
        "negations": negations,
        "omissions": omissions,
        **graphs.to_columns(),
    }


def _split_graphs(columns):
    """`columns` without its `graph_*` arrays, and their `ReportGraphs`."""
    graphs = ReportGraphs.from_columns(columns)
    rest = {k: v for k, v in columns.items() if not k.startswith("graph_")}
    return rest, graphs


def prepare_text(
    ids, reports, num_negations=1, workers=None, progress=True, cache=True
):
    """The text columns of many studies, cached and resumable.

    Args:
        ids: the study ids (they seed the negations).
        reports: the report texts.
        num_negations: K, negated/omitted variants per study.
        workers: processes (default: `WORKERS` (2), at most one per
            core, when there is more than one block of `CHUNK` studies to
            prepare, else 1).
        progress: a progress line on stderr (when it is a terminal).
        cache: read and write `utils.cache_dir("prepared")`.

    Returns:
        `(columns, reused)`: the columns of `prepare_chunk` for all
        studies, with the graphs as one `ReportGraphs` under `graphs`
        (trimmed to the node slots some study uses), and whether they
        were read from the cache.

    Example:
    >>> columns, _ = prepare_text(["a", "b"], ["Edema.", "Clear."],
    ...                           cache=False, progress=False)
    >>> columns["labels"].shape
    (2, 14)
    """
    ids, reports = [str(i) for i in ids], [str(t) for t in reports]
    folder = final = None
    if cache:
        key = cache_key(ids, reports, num_negations)
        folder = utils.cache_dir("prepared", key)
        final = folder / "columns.npz"
        if final.exists():
            columns, graphs = _split_graphs(rec.load_columns(final))
            return {**columns, "graphs": graphs}, True
    starts = list(range(0, len(ids), CHUNK))
    parts = [None] * len(starts)
    todo = []
    for index, start in enumerate(starts):
        part = folder / f"part_{index:05d}.npz" if folder else None
        if part is not None and part.exists():
            parts[index] = rec.load_columns(part)
        else:
            end = start + CHUNK
            todo.append(
                (index, (ids[start:end], reports[start:end], num_negations))
            )
    if workers is None:
        workers = min(WORKERS, os.cpu_count() or 1) if len(todo) > 1 else 1
    label = "preparing reports (labels, negations, graphs)"
    bar = utils.ProgressLine(len(ids), label, progress)
    bar.update(sum(len(p["labels"]) for p in parts if p is not None))
    pool = utils.worker_pool(workers) if workers > 1 and todo else None
    try:
        jobs = [job for _, job in todo]
        results = (
            pool.imap(prepare_chunk, jobs) if pool else map(prepare_chunk, jobs)
        )
        for (index, _), columns in zip(todo, results):
            if folder is not None:
                rec.save_columns(folder / f"part_{index:05d}.npz", columns)
            parts[index] = columns
            bar.update(len(columns["labels"]))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    parts = [_split_graphs(p) for p in parts or [prepare_chunk(([], [], 1))]]
    columns = rec.concatenate([p for p, _ in parts])
    graphs = ReportGraphs.concatenate([g for _, g in parts]).trimmed()
    if final is not None:
        rec.save_columns(final, {**columns, **graphs.to_columns()})
        for part in folder.glob("part_*.npz"):
            part.unlink()
    return {**columns, "graphs": graphs}, False


def add_text_columns(
    records,
    num_negations=1,
    graphs=True,
    labels="auto",
    workers=None,
    progress=True,
    cache=True,
):
    """Records with the text side of the method added (see the module).

    Columns the records already have are kept: a source that brings its
    own negations (CheXpert's template reports) keeps them.

    Args:
        records: a records dict with `id` and `report` (and `labels`,
            NaN where the source has none).
        num_negations: K, negated/omitted variants per study.
        graphs: add the report graphs (a `ReportGraphs` under `graphs`).
        labels: `"auto"`: a study's labels from the source's table where
            it has any (not all blank), else the labeler's;
            `"table"`: the table's only; `"labeler"`: the labeler's only.
        workers, progress, cache: see `prepare_text`.

    Returns:
        `(records, summary)`: a new dict and a one-line `str` saying where
        the labels came from, how many studies have a valid negation slot
        and whether the prepared text was reused.

    Example:
    >>> records = {"id": ["a", "b"], "report": ["Edema.", "Clear."],
    ...            "labels": np.full((2, 14), np.nan, np.float32)}
    >>> out, summary = add_text_columns(records, cache=False,
    ...                                 progress=False)
    >>> out["labels"][0, 5], out["negations"][0]
    (np.float32(1.0), ['There is no pulmonary edema.'])
    >>> summary.split(";")[0]
    'labels: 0 studies from the table, 2 from the labeler'
    """
    if labels not in LABEL_CHOICES:
        raise ValueError(
            f"labels must be one of {', '.join(LABEL_CHOICES)}, got {labels!r}"
        )
    n = len(records["id"])
    table = records.get("labels")
    table = (
        np.full((n, rec.NUM_CLASSES), np.nan, np.float32)
        if table is None
        else np.asarray(table, np.float32)
    )
    has_own = "negations" in records
    need_text = labels != "table" or not has_own
    need_graph = graphs and not (
        "graphs" in records or all(k in records for k in _GRAPH_KEYS)
    )
    out = dict(records)
    if not (need_text or need_graph):
        return out, "labels: from the source; negations and graphs given"
    columns, reused = prepare_text(
        records["id"],
        records["report"],
        max(int(num_negations), 1),
        workers=workers,
        progress=progress,
        cache=cache,
    )
    given = ~np.isnan(table).all(axis=1)
    if labels == "labeler":
        given[:] = False
    elif labels == "table":
        given[:] = True
    out["labels"] = np.where(given[:, None], table, columns["labels"])
    if not has_own:
        k = max(int(num_negations), 1)
        out["negations"] = [v[:k] for v in columns["negations"]]
        out["omissions"] = [v[:k] for v in columns["omissions"]]
        out["negated_findings"] = [v[:k] for v in columns["negated_findings"]]
        out["negation_labels"] = (
            np.stack(
                [
                    rec.negation_labels_for(
                        row, chosen, CHEXPERT_OBSERVATIONS, k
                    )
                    for row, chosen in zip(
                        out["labels"], out["negated_findings"]
                    )
                ]
            )
            if n
            else np.zeros((0, k, rec.NUM_CLASSES), np.float32)
        )
    if need_graph:
        out["graphs"] = columns["graphs"]
    valid = sum(1 for v in out.get("negations", []) if any(v))
    summary = (
        f"labels: {int(given.sum())} studies from the table, "
        f"{int(n - given.sum())} from the labeler; negations: {valid} of "
        f"{n} studies have a valid negation slot; report text "
        + ("reused from the cache" if reused else "prepared")
    )
    return out, summary


def is_prepared(path):
    """Whether `path` is the JSONL output of `clinclip prepare`.

    Example:
    >>> is_prepared("/nonexistent.csv")
    False
    """
    path = pathlib.Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = json.loads(line)
                except ValueError:
                    return False
                return (
                    isinstance(first, dict)
                    and "error" in first
                    and ("positive_findings" in first or first.get("error"))
                )
    return False


def read_prepared(path, num_negations=1, graphs=True, on_error="raise"):
    """Records from the output of `clinclip prepare`, nothing recomputed.

    A row's labels are its `table_labels` where it has any (not all
    blank), else the labeler's `labels`; its negated and omitted
    variants are chosen among its negations as `study_text_columns`
    chooses them.

    Args:
        path: the prepared `.jsonl` (with `image_path`, see
            `keras_clinclip.reports.prepare`).
        num_negations: K.
        graphs: add the report graphs (needs the `graph` field), as a
            `ReportGraphs` under `graphs`.
        on_error: `"raise"` at a row with an `error` (naming its row) or
            `"skip"` such rows.

    Returns:
        `(records, summary)` as `add_text_columns` returns them.

    Example:
    >>> import os, tempfile
    >>> from keras_clinclip.reports.prepare import process_report
    >>> row = process_report("s1", "Small left effusion.")
    >>> row.update(image_path="/x.png", split="train")
    >>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
    >>> with open(path, "w") as handle:
    ...     print(json.dumps(row), file=handle)
    >>> records, _ = read_prepared(path)
    >>> records["negated_findings"], records["labels"][0, 10]
    ([['Pleural Effusion']], np.float32(1.0))
    """
    path = pathlib.Path(path)
    k = max(int(num_negations), 1)
    names = list(CHEXPERT_OBSERVATIONS)
    out = {key: [] for key in ("id", "image_path", "report", "split")}
    labels, chosen, negations, omissions, graph_rows = [], [], [], [], []
    from_table = 0
    with tables.Table(path) as table:
        for number, _, row, error in table:
            problem = error or row.get("error")
            if not problem and "image_path" not in row:
                problem = "no image_path (prepare with --image-column)"
            if problem:
                if on_error == "raise":
                    raise ValueError(f"{path}, row {number}: {problem}")
                continue
            given = row.get("table_labels") or {}
            source = (
                given if any(v is not None for v in given.values()) else None
            )
            from_table += source is not None
            source = source or row["labels"]
            values = [
                math.nan if source.get(n) is None else float(source[n])
                for n in names
            ]
            labeler = [
                math.nan if row["labels"].get(n) is None else row["labels"][n]
                for n in names
            ]
            texts = {v["finding"]: v["report"] for v in row["negations"]}
            # As study_text_columns: a rejected negation (absent from
            # "negations") gives its place to the next finding.
            picked = [
                f
                for f in choose_negated(row["id"], labeler, len(names))
                if f in texts
            ][:k]
            omitted = {v["finding"]: v["report"] for v in row["omissions"]}
            out["id"].append(str(row["id"]))
            out["image_path"].append(str(row["image_path"]))
            out["report"].append(row["report"])
            out["split"].append(
                row.get("split") or tables.hash_split(row["id"])
            )
            labels.append(values)
            chosen.append(picked)
            negations.append([texts[f] for f in picked])
            omissions.append([omitted[f] for f in picked])
            if graphs:
                graph_rows.append(graph_arrays_from_record(row))
    n = len(out["id"])
    out["labels"] = np.asarray(labels, np.float32).reshape(n, 14)
    out["negated_findings"] = chosen
    out["negations"] = negations
    out["omissions"] = omissions
    out["negation_labels"] = np.zeros((n, k, 14), np.float32)
    for i, picked in enumerate(chosen):
        out["negation_labels"][i] = rec.negation_labels_for(
            out["labels"][i], picked, names, k
        )
    if graphs and n:
        out["graphs"] = ReportGraphs.concatenate(
            [
                ReportGraphs.from_dense(
                    *(
                        np.stack([g[key] for g in graph_rows[i : i + CHUNK]])
                        for key in ("nodes", "adjacency", "node_mask")
                    )
                )
                for i in range(0, n, CHUNK)
            ]
        ).trimmed()
    valid = sum(1 for v in negations if v)
    summary = (
        f"labels: {from_table} studies from the table, {n - from_table} "
        f"from the labeler; negations: {valid} of {n} studies have a valid "
        "negation slot; report text read from the prepared file"
    )
    return out, summary
