"""The options of `clinclip train` (the work: `keras_clinclip.training.train`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> parser.parse_args(["--loss", "n", "--batch-size", "8"]).batch_size
8
"""

import re

from keras_clinclip.cli.errors import UserError
from keras_clinclip.cli.options import add_config_options
from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import dashed
from keras_clinclip.cli.options import existing_path
from keras_clinclip.training.config import config_from_args


def add_arguments(parser):
    """Add the `clinclip train` options (every `TrainingConfig` field).

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--restart"]).restart
    True
    """
    add_config_options(parser)
    add_option(
        parser,
        "--config",
        default=None,
        metavar="CONFIG_JSON",
        help="a config.json of an earlier run; options given on the "
        "command line override it",
    )
    add_flag(
        parser,
        "--restart",
        False,
        "delete the outputs of an earlier run in --output-dir and start "
        "afresh (without it, a rerun with the same options resumes and one "
        "with other options is refused)",
    )


def check_config(args):
    """Raise `UserError` naming the first invalid `TrainingConfig` value.

    Args:
        args: parsed arguments with one attribute per config field.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> try:
    ...     check_config(parser.parse_args(["--epochs", "0"]))
    ... except UserError as error:
    ...     print(error)
    --epochs must be positive, got 0
    """
    try:
        config_from_args(args)
    except ValueError as error:
        text = re.sub(
            r"Field `(\w+)`", lambda m: dashed(m.group(1)), str(error)
        )
        raise UserError(text.rstrip(".")) from error


def check(args):
    """Raise `UserError` for a bad value, before anything heavy loads.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> check(parser.parse_args([]))
    """
    check_config(args)
    if args.config:
        existing_path(args.config, "--config")
