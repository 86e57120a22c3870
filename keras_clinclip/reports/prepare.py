"""`clinclip prepare`: label, negate and graph a file of reports into JSONL.

    clinclip prepare --reports reports.csv --out prepared.jsonl --workers 2

The input is CSV or JSONL (by extension, or `--format`) with an id column
and a report column. Each output line is one JSON object:

    {"id", "report", "sections", "sentences", "labels" (NaN as null),
     "positive_findings", "negations": [{"finding", "report"}],
     "omissions": [{"finding", "report"}], "graph", "error"}

`graph` is sparse: {"max_nodes", "feature_dim", "num_nodes", "features":
[[node, feature, value], ...], "edges": [[i, j, type], ...]}; rebuild the
dense arrays of `graph_to_arrays` with `graph_arrays_from_record`. A row
that cannot be processed is written with only "id" and "error". Rows are
read, processed and written in blocks, so memory stays constant; the output
is flushed after every block, and on an interruption it is valid JSONL up
to its last full line.
"""

import csv
import itertools
import json
import math
import multiprocessing
import os
import sys
import time

import numpy as np

from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.graph import EDGE_TYPES
from keras_clinclip.reports.graph import GRAPH_FEATURE_DIM
from keras_clinclip.reports.graph import GRAPH_MAX_NODES
from keras_clinclip.reports.graph import graph_to_arrays
from keras_clinclip.reports.graph import report_graph
from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import positive_findings
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation import omit_finding
from keras_clinclip.reports.sections import split_sections
from keras_clinclip.reports.sentences import split_sentences

BLOCK = 256  # rows per worker per block


def add_arguments(parser):
    """Add the `prepare` options to an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--reports", "a.csv", "--out", "b.jsonl"]).workers
    1
    """
    parser.add_argument(
        "--reports",
        required=True,
        help="CSV or JSONL file with id and report columns",
    )
    parser.add_argument("--out", required=True, help="output JSONL file")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (default 1)"
    )
    parser.add_argument(
        "--format",
        choices=("auto", "csv", "jsonl"),
        default="auto",
        help="input format (default: by extension)",
    )
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--report-column", default="report")
    parser.add_argument(
        "--max-nodes",
        type=int,
        default=GRAPH_MAX_NODES,
        help="graph node slots (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="phrasing seed of negated reports"
    )
    parser.add_argument(
        "--no-graph", action="store_true", help="leave out the graph arrays"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _rows(path, fmt, id_column, report_column):
    """Yield (row number, id, report or exception) from the input file."""
    if fmt == "auto":
        lower = path.lower()
        fmt = (
            "jsonl"
            if lower.endswith((".jsonl", ".json", ".ndjson"))
            else ("csv")
        )
    if fmt == "csv":
        csv.field_size_limit(1 << 30)
        with open(
            path, encoding="utf-8", errors="surrogateescape", newline=""
        ) as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if report_column not in fields:
                raise ValueError(
                    f"{path}: no column {report_column!r} (columns: {fields})"
                )
            for number, row in enumerate(reader, 1):
                yield (
                    number,
                    row.get(id_column, str(number)),
                    row.get(report_column),
                )
        return
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, UnicodeDecodeError) as error:
                yield number, str(number), ValueError(f"bad JSON: {error}")
                continue
            if not isinstance(row, dict):
                yield number, str(number), ValueError("line is not an object")
                continue
            if report_column not in row:
                yield (
                    number,
                    row.get(id_column, str(number)),
                    ValueError(
                        f"no key {report_column!r} (keys: {sorted(row)})"
                    ),
                )
                continue
            yield number, row.get(id_column, str(number)), row[report_column]


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
            "negations": [
                {"finding": f, "report": negate_finding(text, f, seed=seed)}
                for f in findings
            ],
            "omissions": [
                {"finding": f, "report": omit_finding(text, f)}
                for f in findings
            ],
            "error": None,
        }
        if graph:
            arrays = graph_to_arrays(report_graph(text), max_nodes, typed=True)
            record["graph"] = _sparse_graph(arrays, max_nodes)
        return record
    except Exception as error:  # noqa: BLE001 - reported per row
        return {"id": report_id, "error": str(error) or type(error).__name__}


def _work(item):
    number, report_id, report, options = item
    record = process_report(report_id, report, **options)
    if record["error"] is not None:
        record["error"] = f"row {number}: {record['error']}"
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


class _Progress:
    """A plain progress line on stderr: rows, rate, share of the input."""

    def __init__(self, total_bytes, quiet):
        self.total = max(total_bytes, 1)
        self.quiet = quiet
        self.start = time.monotonic()

    def update(self, rows, done_bytes, errors):
        if self.quiet:
            return
        elapsed = max(time.monotonic() - self.start, 1e-9)
        share = min(done_bytes / self.total, 1.0)
        bar = "=" * int(30 * share)
        sys.stderr.write(
            f"\r[{bar:<30}] {100 * share:5.1f}% {rows} rows "
            f"{rows / elapsed:7.1f} rows/s {errors} errors"
        )
        sys.stderr.flush()


def run(args):
    """Run `prepare` with parsed arguments; returns the exit status.

    Returns 0 when every readable row was written (rows with an "error"
    field included), 2 when the input cannot be read.
    """
    options = {
        "max_nodes": args.max_nodes,
        "seed": args.seed,
        "graph": not args.no_graph,
    }
    if args.workers < 1:
        print(f"--workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        total = os.path.getsize(args.reports)
        rows = _rows(
            args.reports, args.format, args.id_column, args.report_column
        )
        first = list(itertools.islice(rows, 1))
    except (OSError, ValueError) as error:
        print(f"clinclip prepare: {error}", file=sys.stderr)
        return 2
    rows = itertools.chain(first, rows)
    progress = _Progress(total, args.quiet)
    pool = None
    if args.workers > 1:
        pool = multiprocessing.get_context("fork").Pool(args.workers)
    count = errors = 0
    approx_bytes = 0
    try:
        with open(
            args.out, "w", encoding="utf-8", errors="surrogateescape"
        ) as out:
            while True:
                block = [
                    (*row, options)
                    for row in itertools.islice(rows, BLOCK * args.workers)
                ]
                if not block:
                    break
                if pool is None:
                    lines = [_work(item) for item in block]
                else:
                    lines = pool.map(_work, block, chunksize=32)
                for item, line in zip(block, lines):
                    out.write(line + "\n")
                    count += 1
                    approx_bytes += len(str(item[2])) + len(str(item[1])) + 4
                    if '"error": null' not in line:
                        errors += 1
                out.flush()
                progress.update(count, approx_bytes, errors)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: {count} rows written to {args.out}",
            file=sys.stderr,
        )
        return 130
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    progress.update(count, total, errors)
    if not args.quiet:
        sys.stderr.write("\n")
    print(
        f"prepared {count} rows into {args.out} ({errors} with an error)",
        file=sys.stderr,
    )
    return 0
