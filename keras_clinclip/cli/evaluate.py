"""The options of `clinclip evaluate` (the work:
`keras_clinclip.evaluation.cli`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--preset", "p", "--no-plots"])
>>> args.data, args.split, args.plots
('iu', 'test', False)
"""

import pathlib

from keras_clinclip import tables
from keras_clinclip.cli.errors import UserError
from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import dashed
from keras_clinclip.cli.options import existing_path
from keras_clinclip.cli.options import preset_path

FRACTIONS = "0.01,0.1,1.0"
# The file types `--data` reads (`keras_clinclip.evaluation.cli`).
DATA_SUFFIXES = (".npz", ".csv", ".jsonl", ".json")
# The columns a `--data` table needs (`keras_clinclip.data.load_records`
# with its default column names), checked before the preset loads.
TABLE_COLUMNS = (("image_column", "image_path"), ("report_column", "report"))


def add_arguments(parser):
    """Add the `evaluate` options to an `argparse` parser.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--preset", "p", "--output", "out"]).output
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
        help="iu | synthetic[:N] | records.npz | data.csv | data.jsonl",
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
        "--output",
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
        "--n_bootstrap",
        "--n-bootstrap",
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
        "--batch_size",
        dest="batch_size",
        type=int,
        default=32,
        help="images or reports per encoder call",
    )
    add_option(
        parser,
        "--max-samples",
        "--max_samples",
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
        old_negative=("--no_plots",),
    )
    add_option(
        parser,
        "--on-error",
        "--on_error",
        dest="on_error",
        default="raise",
        choices=("raise", "skip"),
        help="a bad table row or unreadable image: raise, or skip it and "
        "count it in the summary",
    )


def _check_data(spec):
    name, _, count = spec.partition(":")
    if spec == "iu" or (name == "synthetic" and (not count or count.isdigit())):
        return
    path = pathlib.Path(spec)
    if not path.exists():
        raise UserError(
            f"--data {spec!r} is neither 'iu', 'synthetic[:N]' nor an "
            "existing file"
        )
    if path.suffix not in DATA_SUFFIXES:
        raise UserError(
            f"--data {spec!r}: unknown file type {path.suffix!r} (use "
            f"{', '.join(DATA_SUFFIXES)})"
        )
    if path.suffix != ".npz":
        columns = tables.table_columns(path)
        missing = tables.missing_columns(path, TABLE_COLUMNS, columns)
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
    _check_data(args.data)
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
    lowest = {"bootstrap": 0, "batch_size": 1, "max_samples": 0}
    for option, minimum in lowest.items():
        value = getattr(args, option)
        if value is not None and value < minimum:
            raise UserError(
                f"{dashed(option)} must be >= {minimum}, got {value}"
            )
