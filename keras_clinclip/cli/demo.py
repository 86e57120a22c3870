"""The options of `clinclip demo` (the work: `keras_clinclip.training.demo`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--quick", "--no-baseline"])
>>> args.quick, args.baseline, args.image_size
(True, False, 64)
"""

from keras_clinclip.cli.options import add_config_options
from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.train import check_config
from keras_clinclip.training.config import DEMO_DEFAULTS
from keras_clinclip.training.config import QUICK_OVERRIDES


def add_arguments(parser):
    """Add the demo's options: `--quick`, `--baseline`, `--bootstrap` and
    every `TrainingConfig` field (with the demo's defaults).

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--bootstrap", "5"]).n_bootstrap
    5
    """
    add_flag(
        parser,
        "--quick",
        False,
        "a few-minute run: "
        + ", ".join(f"{k}={v}" for k, v in QUICK_OVERRIDES.items()),
    )
    add_flag(
        parser,
        "--baseline",
        True,
        "evaluate the untrained model too",
    )
    add_option(
        parser,
        "--bootstrap",
        dest="n_bootstrap",
        type=int,
        default=200,
        metavar="N",
        help="bootstrap resamples of the confidence intervals",
    )
    add_config_options(parser, defaults=DEMO_DEFAULTS)


def check(args):
    """Raise `UserError` for a bad value, before anything heavy loads.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> check(parser.parse_args(["--epochs", "1"]))
    """
    check_config(args)
