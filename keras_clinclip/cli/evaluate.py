"""The options of `clinclip evaluate` (the work:
`keras_clinclip.evaluation.evaluate`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--preset", "p", "--no-plots"])
>>> args.data, args.split, args.plots
('iu', 'test', False)
"""

import os
import urllib.parse

from keras_clinclip import tables
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import dashed
from keras_clinclip.cli.options import existing_path
from keras_clinclip.cli.options import preset_path
from keras_clinclip.errors import UserError

FRACTIONS = "0.01,0.1,1.0"
# The table suffixes whose columns `check` reads before the preset loads.
TABLE_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".json")


def add_arguments(parser):
    """Add the `evaluate` options to an `argparse` parser.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--preset", "p", "--output-dir", "out"]).output
    'out'
    """
    add_option(
        parser,
        "--preset",
        required=True,
        help="a KerasHub preset directory saved by `clinclip export` or "
        "`ClinCLIPBackbone.save_to_preset` (with its preprocessor)",
    )
    add_option(
        parser,
        "--data",
        default="iu",
        help="a dataset string: iu, synthetic[:N], mimic-cxr:ROOT, "
        "chexpert:ROOT or a .csv/.jsonl/.npz file, with ?key=value "
        "options (docs/data.md)",
    )
    add_option(
        parser,
        "--image-column",
        dest="image_column",
        default="image_path",
        help="the image column of a CSV/JSONL --data",
    )
    add_option(
        parser,
        "--report-column",
        dest="report_column",
        default="report",
        help="the report column of a CSV/JSONL --data",
    )
    add_option(
        parser,
        "--image-root",
        dest="image_root",
        default="",
        help="folder of relative image paths (default: the table's folder)",
    )
    add_option(parser, "--split", default="test", help="the split to evaluate")
    add_option(
        parser,
        "--train-split",
        default="train",
        help="the linear probe's training split (empty: no probe)",
    )
    add_option(
        parser,
        "--output-dir",
        dest="output",
        default=None,
        output="folder",
        metavar="DIR",
        help="write report.md, PNG figures and results.json in this folder "
        "(default: print the tables only)",
    )
    add_option(
        parser,
        "--cxr-align",
        default=None,
        help="a CXR-Align JSON file (default: built from the records' "
        "negated reports when they have them)",
    )
    add_option(
        parser,
        "--negation-families",
        dest="negation_families",
        default="",
        help="the negation families the model was trained with, "
        "comma-separated (default: templates); CXR-Align is also scored on "
        "benchmarks that every family builds from the records' negated "
        "findings, same-family vs cross-family",
    )
    add_option(
        parser,
        "--prompts",
        default=None,
        help="a YAML/JSON prompt file merged over the default prompts",
    )
    add_option(
        parser,
        "--findings",
        default=None,
        help="comma-separated findings for zero-shot (default: the 14 "
        "CheXpert observations, the label columns)",
    )
    add_option(
        parser,
        "--uncertain",
        default="exclude",
        choices=("exclude", "positive", "negative"),
        help="how uncertain (-1) labels count",
    )
    add_option(
        parser,
        "--blank",
        default="negative",
        choices=("negative", "exclude"),
        help="how unmentioned (NaN) labels count",
    )
    add_option(
        parser,
        "--bootstrap",
        dest="bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for 95%% CIs",
    )
    add_option(
        parser, "--seed", type=int, default=0, help="seed of data and CIs"
    )
    add_option(
        parser,
        "--probe-fractions",
        default=FRACTIONS,
        help="linear-probe training fractions, comma-separated (empty: no "
        "probe)",
    )
    add_option(
        parser,
        "--batch-size",
        dest="batch_size",
        type=int,
        default=32,
        help="images or reports per encoder call",
    )
    add_option(
        parser,
        "--max-samples",
        dest="max_samples",
        type=int,
        default=None,
        help="evaluate at most this many studies per split (default: all)",
    )
    add_flag(
        parser,
        "--plots",
        True,
        "draw the report's figures",
    )
    add_option(
        parser,
        "--on-error",
        dest="on_error",
        default="raise",
        choices=("raise", "skip"),
        help="a bad table row or unreadable image: raise, or skip it and "
        "count it in the summary",
    )


def _check_table_columns(args):
    """A `--data` table without its image and report columns: refused
    before the preset (and Keras) loads."""
    path, _, query = str(args.data).partition("?")
    if not path.endswith(TABLE_SUFFIXES) or not os.path.isfile(path):
        return  # a dataset string or a missing file: the resolver says
    options = dict(urllib.parse.parse_qsl(query))
    # (option, column): the string's `?option=` wins, then the flag, then
    # the default column name.
    named = [
        (
            f"--{key.replace('_', '-')}",
            options.get(key) or getattr(args, key, None) or default,
        )
        for key, default in (
            ("image_column", "image_path"),
            ("report_column", "report"),
        )
    ]
    missing = tables.missing_columns(path, named, tables.table_columns(path))
    if missing is not None:
        raise missing


def check(args):
    """Raise `UserError` for a missing file or a bad value.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> try:
    ...     check(parser.parse_args(["--preset", "/nonexistent"]))
    ... except UserError as error:
    ...     print(error)
    --preset '/nonexistent' does not exist
    """
    preset_path(args.preset)
    for option in ("cxr_align", "prompts"):
        if getattr(args, option):
            existing_path(getattr(args, option), dashed(option))
    for text in args.probe_fractions.split(","):
        try:
            fraction = float(text) if text.strip() else 1.0
        except ValueError:
            fraction = -1.0
        if not 0.0 < fraction <= 1.0:
            raise UserError(
                f"--probe-fractions: {text!r} is not a fraction in (0, 1]"
            )
    if args.findings:
        named = [f.strip() for f in args.findings.split(",") if f.strip()]
        unknown = [f for f in named if f not in CHEXPERT_OBSERVATIONS]
        if unknown:
            raise UserError(
                f"--findings: unknown finding(s) {', '.join(unknown)}; use "
                f"CheXpert's spellings: {', '.join(CHEXPERT_OBSERVATIONS)}"
            )
    lowest = {"bootstrap": 0, "batch_size": 1, "max_samples": 0}
    for option, minimum in lowest.items():
        value = getattr(args, option)
        if value is not None and value < minimum:
            raise UserError(
                f"{dashed(option)} must be >= {minimum}, got {value}"
            )
    _check_table_columns(args)
