"""The output-path rule of every `clinclip` command.

An option that names what a command writes is added with
`add_option(..., output="file")` (or `"folder"`); `clinclip` checks them
all with `check_outputs` before the command's work starts, so a new
command gets the rule by declaring its outputs.
"""

import pathlib

from keras_clinclip.errors import UserError
from keras_clinclip.file_writes import OutputPathError
from keras_clinclip.file_writes import check_output_path


def check_outputs(parser, args):
    """Refuse outputs that a write must not replace, for any command.

    Every option added with `output="file"` or `output="folder"` is
    checked by `keras_clinclip.file_writes.check_output_path` against every
    other option whose value names an existing path (the inputs): an
    output may replace only a regular file (a folder), symbolic links are
    followed, and no output is an input. `clinclip` calls it for every
    command before its work starts.

    Args:
        parser: the command's parser.
        args: its parsed arguments.

    Raises:
        UserError: naming the option, the path and the fix.

    Example:
    >>> import argparse
    >>> from keras_clinclip.cli.options import add_option
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--image", help="input")
    >>> _ = add_option(parser, "--output", output="file", help="output")
    >>> args = parser.parse_args(["--image", "/dev/null", "--output",
    ...                           "/dev/null"])
    >>> try:
    ...     check_outputs(parser, args)
    ... except UserError as error:
    ...     print(error)
    --output /dev/null is a device, not a regular file: give a file path
    """
    outputs, inputs = [], []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if not isinstance(value, str) or not value:
            continue
        strings = action.option_strings
        label = strings[0] if strings else action.dest.upper()
        if getattr(action, "output", None):
            outputs.append((label, value, action.output == "folder"))
        elif pathlib.Path(value).exists():
            inputs.append((label, value))
    for label, value, folder in outputs:
        try:
            check_output_path(value, label, inputs, folder=folder)
        except OutputPathError as error:
            raise UserError(str(error)) from error
