"""The options of `clinclip export` (the work:
`keras_clinclip.training.export`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> parser.parse_args(["runs/x", "--preset-dir", "p"]).preset_dir
'p'
"""

from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import existing_path


def add_arguments(parser):
    """Add the `clinclip export` options.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["runs/x"]).preset_dir is None
    True
    """
    parser.add_argument(
        "run_dir", help="the --output-dir of a training run (a folder)"
    )
    add_option(
        parser,
        "--preset-dir",
        dest="preset_dir",
        default=None,
        output="folder",
        metavar="DIR",
        help="where to write the preset (default: RUN_DIR/preset)",
    )
    add_option(
        parser,
        "--weights",
        default=None,
        metavar="WEIGHTS_H5",
        help="a .weights.h5 to export (default: the final weights, else "
        "the best checkpoint, else the latest backup)",
    )


def check(args):
    """Raise `UserError` for a missing run folder or weights file.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> check(parser.parse_args(["."]))
    """
    existing_path(args.run_dir, "RUN_DIR", kind="folder")
    if args.weights:
        existing_path(args.weights, "--weights")
