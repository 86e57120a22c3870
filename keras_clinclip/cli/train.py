"""The options of `clinclip train` (the work: `keras_clinclip.training.train`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> parser.parse_args(["--loss", "n", "--batch-size", "8"]).batch_size
8
"""

import re

from keras_clinclip.cli.options import add_config_options
from keras_clinclip.cli.options import add_flag
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import dashed
from keras_clinclip.cli.options import given_options
from keras_clinclip.errors import UserError
from keras_clinclip.training import run_folder
from keras_clinclip.training.config import config_from_args
from keras_clinclip.training.config_file import ConfigFileError
from keras_clinclip.training.config_file import config_with_file


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
    """The `TrainingConfig` of `args`, or `UserError` naming a bad value.

    With `--config FILE`, the file's fields are read first and every
    option given on the command line wins over them, also when its value
    equals the default.

    Args:
        args: parsed arguments with one attribute per config field.

    Returns:
        A validated `TrainingConfig`.

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
        if getattr(args, "config", None):
            return config_with_file(args, args.config, given_options(args))
        return config_from_args(args)
    except ConfigFileError as error:
        raise UserError(f"--config {error}") from error
    except ValueError as error:
        text = re.sub(
            r"Field `(\w+)`", lambda m: dashed(m.group(1)), str(error)
        )
        raise UserError(text.rstrip(".")) from error


def check(args):
    """Check the options and lock the run folder, before anything heavy.

    The config (`check_config`) is kept as `args.training_config`. The run
    folder is locked (`run_folder.RunLock`, kept as `args.run_lock`, held
    until the command ends), so a second run on a busy folder is refused
    at once, and a folder holding a run of other options is refused
    (unless `--restart`).

    Example:
    >>> import argparse, tempfile
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--output-dir", tempfile.mkdtemp()])
    >>> check(args)
    >>> args.training_config.epochs
    3
    >>> args.run_lock.release()
    """
    args.training_config = config = check_config(args)
    args.run_lock = run_folder.RunLock(config.output_dir).acquire()
    try:
        if not getattr(args, "restart", False):
            run_folder.check_run_config(config)
    except BaseException:
        args.run_lock.release()
        raise
