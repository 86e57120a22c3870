"""The options of `clinclip prepare` (the work:
`keras_clinclip.reports.prepare`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--reports", "a.csv", "--output", "b.jsonl"])
>>> args.out, args.workers, args.graph, args.verbose
('b.jsonl', 1, True, 1)
"""

import os

from keras_clinclip import tables
from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import given_options
from keras_clinclip.errors import UserError

# `keras_clinclip.reports.GRAPH_MAX_NODES`, kept here so that `--help`
# does not import the report graph code (a test holds them equal).
GRAPH_MAX_NODES = 32


def add_arguments(parser):
    """Add the `prepare` options to an `argparse` parser.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--reports", "a.csv", "--output", "b.jsonl",
    ...                           "--verbose", "0", "--no-graph"])
    >>> args.out, args.verbose, args.graph
    ('b.jsonl', 0, False)
    """
    add_option(
        parser,
        "--reports",
        required=True,
        help="CSV or JSONL file with id and report columns",
    )
    add_option(
        parser,
        "--output",
        dest="out",
        required=True,
        output="file",
        metavar="FILE",
        help="the JSONL file to write",
    )
    add_option(
        parser, "--workers", type=int, default=1, help="worker processes"
    )
    add_option(
        parser,
        "--format",
        choices=("auto", "csv", "jsonl"),
        default="auto",
        help="input format (auto: by extension)",
    )
    add_option(
        parser,
        "--id-column",
        dest="id_column",
        default="id",
        help="the input column of study ids",
    )
    add_option(
        parser,
        "--report-column",
        dest="report_column",
        default="report",
        help="the input column of report texts",
    )
    add_option(
        parser,
        "--image-column",
        dest="image_column",
        default="image_path",
        help="the input column of image paths (copied to the output, "
        "absolute, so that it trains as is)",
    )
    add_option(
        parser,
        "--image-root",
        dest="image_root",
        default=None,
        help="folder of relative image paths (default: the input's folder)",
    )
    add_option(
        parser,
        "--max-nodes",
        dest="max_nodes",
        type=int,
        default=GRAPH_MAX_NODES,
        help="graph node slots",
    )
    add_option(
        parser,
        "--seed",
        type=int,
        default=0,
        help="phrasing seed of negated reports",
    )
    add_flag(
        parser,
        "--graph",
        True,
        "write the report graph arrays",
    )
    add_option(
        parser,
        "--verbose",
        type=int,
        choices=(0, 1),
        default=1,
        help="0: no progress bar, 1: a progress bar on stderr",
    )
    add_option(
        parser,
        "--reference-labels",
        dest="reference_labels",
        default=None,
        help="CSV/JSONL of reference labels (e.g. mimic-cxr-2.0.0-chexpert"
        ".csv.gz): print the per-class agreement of our labels with them",
    )
    add_option(
        parser,
        "--reference-id-column",
        dest="reference_id_column",
        default=None,
        help="id column of --reference-labels (default: study_id, else id)",
    )


def check(args):
    """Raise `UserError` for a bad number or a column the table lacks.

    `--report-column` must be a column of `--reports`, and so must
    `--id-column` when it is given (by default, a table without an `id`
    column numbers its rows).

    Example:
    >>> import argparse, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(path, "w").write("study_id,report\\n1,Clear.\\n")
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--reports", path, "--output", "o.jsonl",
    ...                           "--id-column", "studyid"])
    >>> try:
    ...     check(args)
    ... except UserError as error:
    ...     print(str(error).split(": ", 1)[1])
    no column 'studyid' (--id-column); the columns are: study_id, report
    """
    for option, value in (("--max-nodes", args.max_nodes),):
        if value < 1:
            raise UserError(f"{option} must be >= 1, got {value}")
    if not os.path.isfile(args.reports):
        return  # the work names the missing file
    named = [("--report-column", args.report_column)]
    if "id_column" in given_options(args):
        named.append(("--id-column", args.id_column))
    try:
        columns = tables.table_columns(args.reports, fmt=args.format)
    except (OSError, ValueError):
        return  # the work reports an unreadable table
    missing = tables.missing_columns(args.reports, named, columns)
    if missing is not None:
        raise UserError(str(missing))
