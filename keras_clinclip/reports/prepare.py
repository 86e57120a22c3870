"""`clinclip prepare`: label, negate and graph a file of reports into JSONL.

    clinclip prepare --reports reports.csv --output prepared.jsonl --workers 2

The input is CSV or JSONL (by extension, or `--format`) with an id column
and a report column. Each output line is one JSON object:

    {"id", "report", "sections", "sentences", "labels" (NaN as null),
     "positive_findings", "negations": [{"finding", "report"}],
     "omissions": [{"finding", "report"}], "rejected_negations":
     [{"finding", "error"}], "graph", "error", "image_path", "split",
     "table_labels"}

A positive finding whose negation the labeler check rejects
(`NegationRejectedError`) is left out of "negations" and "omissions" and
listed in "rejected_negations" with the reason; the rest of the row is
kept, and training negates another of the study's findings instead.

`image_path` (absolute; from `--image-column`, relative paths starting at
`--image-root` or the input's folder), `split` (the input's `split`
column, else a hash of the id) and `table_labels` (the input's CheXpert
label columns, when it has any) make the output a training table:
`clinclip train --dataset prepared.jsonl` reads it as is, with no
report processed again (`keras_clinclip.data.prepared_text`).

`graph` is sparse: {"max_nodes", "feature_dim", "num_nodes", "features":
[[node, feature, value], ...], "edges": [[i, j, type], ...]}; rebuild the
dense arrays of `graph_to_arrays` with `graph_arrays_from_record`.

Every input row gives exactly one output line, in order. A row that cannot
be read (the rules of `keras_clinclip.tables`: not UTF-8, an unclosed
quote, missing or extra cells, bad JSON) or processed is written with only
"id" and "error" (naming the file, line and column), and counted in the
summary. The input is refused (exit code 2, nothing written) when its
header cannot be read, it lacks the report column, or `--output` is the input
itself (also through a link). Rows are read, processed and written in
blocks, so memory stays constant; the output goes to a temporary file in
the folder of `--output`, renamed onto it at the end (on an error the old
`--output` is untouched; on Ctrl-C the complete lines written so far are
kept, exit code 130).
"""

import hashlib
import itertools
import json
import math
import os
import sys

import numpy as np

from keras_clinclip import tables
from keras_clinclip import utils
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.file_writes import atomic_write
from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.graph import EDGE_TYPES
from keras_clinclip.reports.graph import GRAPH_FEATURE_DIM
from keras_clinclip.reports.graph import GRAPH_MAX_NODES
from keras_clinclip.reports.graph import graph_to_arrays
from keras_clinclip.reports.graph import report_graph
from keras_clinclip.reports.label_agreement import agreement_report
from keras_clinclip.reports.label_agreement import read_reference_labels
from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import positive_findings
from keras_clinclip.reports.negation import NegationRejectedError
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation import omit_finding
from keras_clinclip.reports.sections import split_sections
from keras_clinclip.reports.sentences import split_sentences

BLOCK = 256  # rows per worker per block


def _rows(table, id_column, report_column, extras=None):
    """Yield (row number, line, id, report or exception, extras) per row.

    `extras(values, report_id)` gives the fields copied to the output
    (image path, split, table labels); None gives none.
    """
    if table.columns is not None and report_column not in table.columns:
        raise ValueError(
            f"{table.path}: no column {report_column!r} (columns: "
            f"{table.columns})"
        )
    for number, line, values, error in table:
        report_id = values.get(id_column, str(number))
        if error is not None:
            yield number, line, report_id, _TableRowError(error), {}
        elif report_column not in values:
            problem = ValueError(
                f"no key {report_column!r} (keys: {sorted(values)})"
            )
            yield number, line, report_id, problem, {}
        else:
            try:
                extra = extras(values, report_id) if extras else {}
            except ValueError as problem:
                yield number, line, report_id, problem, {}
                continue
            yield number, line, report_id, values[report_column], extra


def row_extras(path, image_column="image_path", image_root=None):
    """The function that copies a row's training fields to the output.

    `image_path` (absolute: relative paths start at `image_root`, default
    the table's folder), `split` (the row's `split`, else
    `tables.hash_split` of the id) and `table_labels` (the row's CheXpert
    observation columns, when it has any), so that the output of
    `prepare` is a training table.

    Args:
        path: the input table.
        image_column: the image column (absent: no `image_path`).
        image_root: the folder relative image paths start from.

    Returns:
        A function `(values, report_id) -> dict`.

    Example:
    >>> extras = row_extras("/data/t.csv")
    >>> out = extras({"image_path": "a.png", "Edema": "1"}, "s1")
    >>> out["image_path"], out["table_labels"]
    ('/data/a.png', {'Edema': 1.0})
    """
    root = os.path.abspath(image_root or os.path.dirname(os.path.abspath(path)))

    def extras(values, report_id):
        out = {}
        image = values.get(image_column)
        if image not in (None, ""):
            out["image_path"] = os.path.join(root, str(image))
        split = values.get("split")
        out["split"] = str(split) if split else tables.hash_split(report_id)
        labels = {}
        for name in CHEXPERT_OBSERVATIONS:
            if name in values:
                value = tables.parse_label(values[name], f"column {name}")
                labels[name] = None if math.isnan(value) else value
        if labels:
            out["table_labels"] = labels
        return out

    return extras


class _TableRowError(ValueError):
    """A row the table reader could not read; its message is complete."""


def _same_file(out, source):
    """True when writing `out` would replace or truncate `source`."""
    out, source = os.path.abspath(out), os.path.abspath(source)
    if os.path.realpath(out) == os.path.realpath(source):
        return True
    try:
        return os.path.samefile(out, source)
    except OSError:  # `out` does not exist yet
        return False


def _sparse_graph(arrays, max_nodes):
    nodes = arrays["nodes"]
    rows, cols = np.nonzero(nodes)
    edges = []
    types = arrays["edge_types"]
    for k, i, j in zip(*np.nonzero(types)):
        edges.append([int(i), int(j), EDGE_TYPES[k]])
    return {
        "max_nodes": max_nodes,
        "feature_dim": GRAPH_FEATURE_DIM,
        "num_nodes": int(arrays["node_mask"].sum()),
        "features": [
            [int(i), int(j), round(float(nodes[i, j]), 4)]
            for i, j in zip(rows, cols)
        ],
        "edges": edges,
    }


def graph_arrays_from_record(record):
    """Dense `graph_to_arrays` output from a prepared JSONL record.

    Args:
        record: a dict read from the `prepare` output (or its "graph").

    Returns:
        A dict with `nodes`, `adjacency`, `node_mask` (float32).

    Example:
    >>> record = process_report("1", "Small left effusion.")
    >>> graph_arrays_from_record(record)["node_mask"].sum()
    np.float32(2.0)
    """
    graph = record.get("graph", record)
    m, f = graph["max_nodes"], graph["feature_dim"]
    nodes = np.zeros((m, f), np.float32)
    for i, j, v in graph["features"]:
        nodes[i, j] = v
    adjacency = np.zeros((m, m), np.float32)
    for i, j, _ in graph["edges"]:
        adjacency[i, j] = 1.0
    mask = np.zeros((m,), np.float32)
    mask[: graph["num_nodes"]] = 1.0
    return {"nodes": nodes, "adjacency": adjacency, "node_mask": mask}


def process_report(
    report_id, report, max_nodes=GRAPH_MAX_NODES, seed=0, graph=True
):
    """The output record of one report (see the module docstring).

    Errors are returned in the record's "error" field, never raised.

    Example:
    >>> record = process_report("7", "Mild cardiomegaly. No effusion.")
    >>> record["labels"]["Cardiomegaly"], record["error"]
    (1.0, None)
    >>> process_report("8", None)["error"]
    'report is None; expected a str'
    """
    try:
        if isinstance(report, Exception):
            raise report
        text = as_text(report)
        labels = label_report(text)
        findings = positive_findings(labels)
        record = {
            "id": report_id,
            "report": text,
            "sections": split_sections(text),
            "sentences": split_sentences(text),
            "labels": {
                k: (None if math.isnan(v) else v) for k, v in labels.items()
            },
            "positive_findings": findings,
        }
        negated, rejected = negations_of(text, findings, seed)
        record.update(
            negations=[{"finding": f, "report": r} for f, r in negated],
            omissions=[
                {"finding": f, "report": omit_finding(text, f)}
                for f in findings
            ],
            rejected_negations=rejected,
            error=None,
        )
        if graph:
            arrays = graph_to_arrays(report_graph(text), max_nodes, typed=True)
            record["graph"] = _sparse_graph(arrays, max_nodes)
        return record
    except Exception as error:  # noqa: BLE001 - reported per row
        return {"id": report_id, "error": str(error) or type(error).__name__}


def negations_of(text, findings, seed=0, limit=None):
    """The negated reports of `findings`, skipping the rejected ones.

    A finding whose negation the labeler check rejects
    (`NegationRejectedError`) is skipped and reported, so that one odd
    sentence never costs a study its labels or its other negations.

    Args:
        text: the report.
        findings: observation names to negate, in order.
        seed: the phrasing seed of `negate_finding`.
        limit: stop after this many negations (`None`: all).

    Returns:
        `(negated, rejected)`: a list of `(finding, negated report)` and a
        list of `{"finding", "error"}` dicts.

    Example:
    >>> negated, rejected = negations_of(
    ...     "Blunting of the costophrenic angle with hydropneumothorax. "
    ...     "Mild cardiomegaly.", ["Pneumothorax", "Cardiomegaly"])
    >>> negated
    [('Cardiomegaly', 'Blunting of the costophrenic angle with \
hydropneumothorax. The heart is not enlarged.')]
    >>> [r["finding"] for r in rejected]
    ['Pneumothorax']
    """
    negated, rejected = [], []
    for finding in findings:
        if limit is not None and len(negated) >= limit:
            break
        try:
            negated.append((finding, negate_finding(text, finding, seed=seed)))
        except NegationRejectedError as error:
            rejected.append({"finding": finding, "error": str(error)})
    return negated, rejected


def study_seed(report_id):
    """The seed of a study's choices and phrasings (MD5 of its id).

    Example:
    >>> study_seed("s1") == study_seed("s1")
    True
    """
    digest = hashlib.md5(str(report_id).encode("utf-8")).hexdigest()
    return int(digest[:8], 16)


def choose_negated(report_id, labels, num_negations):
    """The findings to negate: up to K positives in a seeded order.

    Args:
        report_id: the study id (seeds the order).
        labels: 14 values in `CHEXPERT_OBSERVATIONS` order.
        num_negations: K.

    Returns:
        A list of observation names (never "No Finding").

    Example:
    >>> labels = [float("nan")] * 14
    >>> labels[5] = 1.0
    >>> choose_negated("s1", labels, 2)
    ['Edema']
    """
    positives = [
        name
        for name, value in zip(CHEXPERT_OBSERVATIONS, labels)
        if value == 1.0 and name != "No Finding"
    ]
    rng = np.random.default_rng([study_seed(report_id), 13])
    order = rng.permutation(len(positives))
    return [positives[j] for j in order][: int(num_negations)]


def study_text_columns(
    report_id, text, num_negations=1, graph=True, max_nodes=GRAPH_MAX_NODES
):
    """The training columns of one study's report (dense, for records).

    Labels from `label_report`; up to `num_negations` positive findings
    (not "No Finding") in an order seeded by the study id, each negated
    (`negate_finding`) and omitted (`omit_finding`); the dense report
    graph (`graph_to_arrays`). The same rule as the embedded IU X-ray
    dataset, so any source of reports gets the same method.

    Args:
        report_id: the study id (seeds the choice and the phrasing).
        text: the report.
        num_negations: K, the most negated variants.
        graph: add `graph` (the `graph_to_arrays` dict).
        max_nodes: graph node slots.

    Returns:
        A dict with `labels` (float32 (14,)), `negated_findings`,
        `negations`, `omissions` (lists of str) and, with `graph`,
        `graph`.

    Example:
    >>> out = study_text_columns("s1", "Large right pleural effusion.")
    >>> out["negated_findings"], out["negations"]
    (['Pleural Effusion'], ['Right pleural effusion is not seen.'])
    """
    text = as_text(text)
    seed = study_seed(report_id)
    found = label_report(text)
    labels = np.asarray(
        [found[name] for name in CHEXPERT_OBSERVATIONS], np.float32
    )
    # Every positive in the seeded order; a rejected negation gives its
    # place to the next finding.
    order = choose_negated(report_id, labels, len(labels))
    negated, _ = negations_of(text, order, seed, limit=int(num_negations))
    chosen = [f for f, _ in negated]
    out = {
        "labels": labels,
        "negated_findings": chosen,
        "negations": [r for _, r in negated],
        "omissions": [omit_finding(text, f) for f in chosen],
    }
    if graph:
        out["graph"] = graph_to_arrays(report_graph(text), max_nodes)
    return out


def _work(item):
    """One output line and whether it holds an error."""
    number, line, report_id, report, extra, options = item
    if isinstance(report, _TableRowError):
        record = {"id": report_id, "error": str(report)}
    else:
        record = process_report(report_id, report, **options)
        if record["error"] is not None:
            record["error"] = f"row {number} (line {line}): {record['error']}"
        else:
            record.update(extra)
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate from JSON input
        record = {
            "id": as_text(report_id).encode("utf-8", "replace").decode(),
            "error": f"row {number} (line {line}): not writable as UTF-8 "
            f"({error.reason}: {error.object[error.start]!r})",
        }
        text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    return text, record["error"] is not None


def run(args):
    """Run `prepare` with parsed arguments; returns the exit status.

    Returns 0 when every row was written (rows with an "error" field
    included), 2 when the input cannot be read or `--output` is an input,
    130 when interrupted (the rows done so far are kept).
    """
    options = {
        "max_nodes": args.max_nodes,
        "seed": args.seed,
        "graph": args.graph,
    }
    reference = None
    if getattr(args, "reference_labels", None):
        try:
            reference = read_reference_labels(
                args.reference_labels,
                getattr(args, "reference_id_column", None),
            )
        except (OSError, ValueError) as error:
            print(f"clinclip prepare: {error}", file=sys.stderr)
            return 2
    if args.workers < 1:
        print(f"--workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    if os.path.exists(args.reports) and _same_file(args.out, args.reports):
        print(
            f"clinclip prepare: --output {args.out} is the input file "
            f"--reports {args.reports}; choose another output path (the "
            "input is left as it is).",
            file=sys.stderr,
        )
        return 2
    if os.path.isdir(args.out):
        print(
            f"clinclip prepare: --output {args.out} is a folder; give a file.",
            file=sys.stderr,
        )
        return 2
    try:
        total = os.path.getsize(args.reports)
        table = tables.Table(args.reports, args.format)
    except (OSError, ValueError) as error:
        print(f"clinclip prepare: {error}", file=sys.stderr)
        return 2
    with table:
        try:
            extras = row_extras(
                args.reports,
                getattr(args, "image_column", "image_path"),
                getattr(args, "image_root", None),
            )
            rows = _rows(table, args.id_column, args.report_column, extras)
            first = list(itertools.islice(rows, 1))
        except ValueError as error:
            print(f"clinclip prepare: {error}", file=sys.stderr)
            return 2
        rows = itertools.chain(first, rows)
        status = _write(args, rows, options, total, table)
    if status == 0 and reference is not None:
        print(agreement_report(args.out, reference))
    return status


def _write(args, rows, options, total, table):
    """Process `rows` in blocks into a temporary file renamed onto --output."""
    progress = utils.ProgressLine(
        max(total, 1), "clinclip prepare", bool(args.verbose), counts=False
    )
    pool = None
    if args.workers > 1:
        pool = utils.worker_pool(args.workers)
    count = errors = 0
    approx_bytes = 0
    interrupted = False
    try:
        with atomic_write(args.out, encoding="utf-8") as out:
            try:
                while True:
                    block = [
                        (*row, options)
                        for row in itertools.islice(rows, BLOCK * args.workers)
                    ]
                    if not block:
                        progress.update(
                            done=total, note=f"{count} rows, {errors} errors"
                        )
                        break
                    if pool is None:
                        lines = [_work(item) for item in block]
                    else:
                        lines = pool.map(_work, block, chunksize=32)
                    for item, (line, is_error) in zip(block, lines):
                        out.write(line + "\n")
                        count += 1
                        approx_bytes += len(str(item[3])) + len(str(item[2]))
                        errors += is_error
                    out.flush()
                    progress.update(
                        done=approx_bytes, note=f"{count} rows, {errors} errors"
                    )
            except KeyboardInterrupt:
                interrupted = True  # keep the complete lines written so far
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        progress.close()
    if interrupted:
        print(
            f"interrupted: {count} rows written to {args.out} (the input "
            "was not read to its end)",
            file=sys.stderr,
        )
        return 130
    blank = (
        f"; {table.blank_lines} blank line(s) skipped"
        if table.blank_lines
        else ""
    )
    print(
        f"prepared {count} rows into {args.out} ({errors} with an error"
        f"{blank})",
        file=sys.stderr,
    )
    return 0
