"""The options of `clinclip benchmark` (the work:
`keras_clinclip.evaluation.benchmark`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--preset", "p", "rsna:/data/rsna"])
>>> args.datasets, args.fractions, args.output_dir
(['rsna:/data/rsna'], (0.01, 0.1, 1.0), 'benchmark')
"""

from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import existing_path
from keras_clinclip.cli.options import preset_path
from keras_clinclip.errors import UserError


def _fractions(text):
    values = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            value = float(part)
        except ValueError:
            raise UserError(
                f"--fractions: {part!r} is not a number (e.g. 0.01,0.1,1.0)"
            ) from None
        if not 0.0 < value <= 1.0:
            raise UserError(f"--fractions: {value} is not in (0, 1]")
        values.append(value)
    return tuple(values)


def add_arguments(parser):
    """Add the `benchmark` options to an `argparse` parser.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--preset", "p", "--config", "b.yaml"]).config
    'b.yaml'
    """
    add_option(
        parser,
        "--preset",
        required=True,
        help="a KerasHub preset directory saved by `clinclip export`",
    )
    parser.add_argument(
        "datasets",
        nargs="*",
        metavar="DATASET",
        help="dataset strings (`rsna:ROOT`, `siim:ROOT`, a records .npz, "
        "...), optionally named `NAME=SPEC` (the name picks the dataset's "
        "prompts, e.g. rsna=fixture.npz)",
    )
    add_option(
        parser,
        "--config",
        default=None,
        help='a JSON/YAML file {"datasets": {NAME: SPEC}} (with or '
        "instead of DATASET arguments)",
    )
    add_option(
        parser,
        "--output-dir",
        dest="output_dir",
        default="benchmark",
        metavar="DIR",
        help="where benchmark.md, benchmark.json and the plots go",
    )
    add_option(
        parser,
        "--bootstrap",
        dest="bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for the 95%% intervals",
    )
    add_option(
        parser, "--seed", type=int, default=0, help="seed of CIs/subsets"
    )
    add_option(
        parser,
        "--fractions",
        type=_fractions,
        default=(0.01, 0.1, 1.0),
        help="training fractions of the linear probe and fine-tuning, "
        "comma-separated (empty: neither)",
    )
    add_option(
        parser,
        "--fine-tune-epochs",
        dest="fine_tune_epochs",
        type=int,
        default=0,
        metavar="N",
        help="epochs of full fine-tuning per fraction (0: no fine-tuning)",
    )
    add_option(
        parser,
        "--batch-size",
        dest="batch_size",
        type=int,
        default=32,
        help="images or texts per model call",
    )
    add_flag(parser, "--plots", True, "draw ROC, reliability, localisation")


def check(args):
    """Raise `UserError` for a missing preset, config or no dataset.

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
    if args.config:
        existing_path(args.config, "--config")
    if not args.datasets and not args.config:
        raise UserError(
            "name at least one dataset (e.g. `rsna:ROOT` or a records .npz) "
            "or give --config FILE"
        )
    if args.bootstrap < 0:
        raise UserError(f"--bootstrap must be >= 0, got {args.bootstrap}")
