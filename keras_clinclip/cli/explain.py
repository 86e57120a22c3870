"""The options of `clinclip explain` (the work:
`keras_clinclip.evaluation.explain`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(
...     ["--preset", "p", "--image", "x.png", "--text", "effusion"])
>>> args.output
'map.png'
"""

from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import existing_path
from keras_clinclip.cli.options import preset_path
from keras_clinclip.errors import UserError


def add_arguments(parser):
    """Add the options of `clinclip explain`.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--preset", "p", "--image", "x.png", "--text",
    ...                    "edema", "--output", "m.png"]).output
    'm.png'
    """
    add_option(
        parser,
        "--preset",
        required=True,
        help="a preset directory saved by `clinclip export` (with its "
        "preprocessor)",
    )
    add_option(
        parser,
        "--image",
        required=True,
        help="a PNG, JPEG or DICOM radiograph",
    )
    add_option(
        parser,
        "--text",
        required=True,
        help="a finding prompt or report sentence, e.g. 'left pleural "
        "effusion'",
    )
    add_option(
        parser,
        "--output",
        default="map.png",
        output="file",
        help="the PNG file to write",
    )


def check(args):
    """Raise `UserError` for a missing preset or image, or an empty text.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--preset", ".", "--image", ".",
    ...                           "--text", " "])
    >>> try:
    ...     check(args)
    ... except UserError as error:
    ...     print(error)
    --text is empty: give a finding or a sentence
    """
    preset_path(args.preset)
    existing_path(args.image, "--image")
    if not args.text.strip():
        raise UserError("--text is empty: give a finding or a sentence")
