"""The options of `clinclip classify` (the work:
`keras_clinclip.evaluation.classify`).

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(
...     ["--preset", "p", "--image", "a.dcm", "--image", "b.png"])
>>> args.image, args.findings
(['a.dcm', 'b.png'], None)
"""

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.cli.options import add_option
from keras_clinclip.cli.options import existing_path
from keras_clinclip.cli.options import preset_path
from keras_clinclip.errors import UserError


def add_arguments(parser):
    """Add the options of `clinclip classify`.

    Args:
        parser: an `argparse` parser.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--preset", "p", "--image", "x.png",
    ...                    "--findings", "Edema"]).findings
    'Edema'
    """
    add_option(
        parser,
        "--preset",
        required=True,
        help="a preset directory saved by `clinclip train` or `clinclip "
        "export` (with its preprocessor)",
    )
    add_option(
        parser,
        "--image",
        action="append",
        required=True,
        help="a PNG, JPEG or DICOM radiograph; repeat for several",
    )
    add_option(
        parser,
        "--findings",
        default=None,
        help="comma-separated findings (default: the 14 CheXpert observations)",
    )


def findings_of(args):
    """The finding names of `--findings` (None: the 14 observations).

    Example:
    >>> import argparse
    >>> findings_of(argparse.Namespace(findings="Edema, Cardiomegaly"))
    ['Edema', 'Cardiomegaly']
    """
    if not args.findings:
        return None
    return [f.strip() for f in args.findings.split(",") if f.strip()]


def check(args):
    """Raise `UserError` for a missing preset or image, or a bad finding.

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--preset", ".", "--image", "no.png"])
    >>> try:
    ...     check(args)
    ... except UserError as error:
    ...     print(error)
    --image 'no.png' does not exist
    """
    preset_path(args.preset)
    for image in args.image:
        existing_path(image, "--image")
    unknown = [
        f for f in findings_of(args) or () if f not in CHEXPERT_OBSERVATIONS
    ]
    if unknown:
        raise UserError(
            f"--findings: unknown finding(s) {', '.join(unknown)}; use "
            f"CheXpert's spellings: {', '.join(CHEXPERT_OBSERVATIONS)}"
        )
