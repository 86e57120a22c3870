"""The option conventions of `clinclip` and the recipes, in one place.

- One spelling: words joined by dashes (`--batch-size`), as argparse, pip,
  pytest and torchrun spell them.
- Booleans are `--flag/--no-flag` (`argparse.BooleanOptionalAction`).
- Every option has a help text, and `--help` shows its default.

This module imports only the standard library (and the pure-Python
`keras_clinclip.training.config`), so that `clinclip --help` answers
before any backend loads.
"""

import argparse
import dataclasses
import pathlib

from keras_clinclip.errors import UserError
from keras_clinclip.training.config import TrainingConfig


def dashed(name):
    """The option string of a field name: `batch_size` -> `--batch-size`.

    Args:
        name: a Python identifier.

    Returns:
        The option string, words joined by dashes.

    Example:
    >>> dashed("batch_size")
    '--batch-size'
    """
    return "--" + name.replace("_", "-")


# The attribute of parsed arguments that lists the options given.
_GIVEN = "given_options"


def _record(namespace, dest):
    given = getattr(namespace, _GIVEN, None)
    if given is None:
        given = set()
        setattr(namespace, _GIVEN, given)
    given.add(dest)


def given_options(args):
    """The attribute names of the options given on the command line.

    Options added by `add_option`, `add_flag` and `add_config_options`
    count, also when the value given equals the default (so a value given
    on the command line can win over a `--config` file).

    Args:
        args: the parsed arguments.

    Returns:
        A set of attribute names.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--epochs", type=int, default=3,
    ...                help="epochs")
    >>> given_options(parser.parse_args(["--epochs", "3"]))
    {'epochs'}
    >>> given_options(parser.parse_args([]))
    set()
    """
    return set(getattr(args, _GIVEN, ()))


class BooleanFlag(argparse.BooleanOptionalAction):
    """`--flag` / `--no-flag` that records that it was given.

    Used through `add_flag`; `given_options` lists the flags given.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        _record(namespace, self.dest)
        super().__call__(parser, namespace, values, option_string)


_RECORDING_CLASSES = {}


def _recording(action_class):
    """A subclass of `action_class` that records that it was given."""
    if action_class not in _RECORDING_CLASSES:

        def __call__(self, parser, namespace, values, option_string=None):
            _record(namespace, self.dest)
            super(recording, self).__call__(
                parser, namespace, values, option_string
            )

        recording = type(action_class.__name__, (action_class,), {})
        recording.__call__ = __call__
        _RECORDING_CLASSES[action_class] = recording
    return _RECORDING_CLASSES[action_class]


def add_option(parser, name, **kwargs):
    """Add an option, recording when it is given (see `given_options`).

    Args:
        parser: an `argparse` parser or argument group.
        name: the option string, e.g. `--batch-size`.
        **kwargs: `parser.add_argument`'s keyword arguments (`help` is
            required), and `output="file"` or `output="folder"` for an
            option naming what the command writes (see `check_outputs`).

    Returns:
        The `argparse.Action`.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--output", dest="out",
    ...                help="the output file")
    >>> parser.parse_args(["--output", "x.jsonl"]).out
    'x.jsonl'
    """
    if not kwargs.get("help"):
        raise ValueError(f"option {name} has no help text")
    output = kwargs.pop("output", None)
    action = parser.add_argument(name, **kwargs)
    action.output = output
    action.__class__ = _recording(type(action))
    return action


def add_flag(parser, name, default, help, dest=None):
    """Add a `--flag/--no-flag` boolean (see `BooleanFlag`).

    Args:
        parser: an `argparse` parser or argument group.
        name: the flag, e.g. `--plots` (`--no-plots` is added).
        default: the value when neither is given.
        help: the help text.
        dest: the attribute name (default: from `name`).

    Returns:
        The `argparse.Action`.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_flag(parser, "--plots", True, "draw figures")
    >>> parser.parse_args(["--no-plots"]).plots
    False
    >>> parser.parse_args([]).plots
    True
    """
    kwargs = {"dest": dest} if dest else {}
    return parser.add_argument(
        name, action=BooleanFlag, default=default, help=help, **kwargs
    )


def add_config_options(parser, defaults=None):
    """Add one option per `TrainingConfig` field (`--batch-size`, ...).

    Boolean fields are `--flag/--no-flag`. The attribute names are the
    field names, so `config_from_args(args)` builds the config.

    Args:
        parser: an `argparse` parser or argument group.
        defaults: optional dict of field -> default overriding the
            dataclass defaults (e.g. the demo's own).

    Example:
    >>> from keras_clinclip.training.config import config_from_args
    >>> parser = argparse.ArgumentParser()
    >>> add_config_options(parser)
    >>> args = parser.parse_args(["--batch-size", "8", "--no-tensorboard"])
    >>> config = config_from_args(args)
    >>> config.batch_size, config.tensorboard
    (8, False)
    """
    defaults = dict(defaults or {})
    base = TrainingConfig()
    for field in dataclasses.fields(TrainingConfig):
        default = defaults.get(field.name, getattr(base, field.name))
        name = dashed(field.name)
        help_text = field.metadata["help"]
        if field.type in (bool, "bool"):
            add_flag(parser, name, default, help_text, dest=field.name)
            continue
        choices = field.metadata.get("choices")
        add_option(
            parser,
            name,
            output=field.metadata.get("output"),
            dest=field.name,
            type=type(default) if default is not None else str,
            default=default,
            choices=choices,
            metavar=None if choices else field.name.upper(),
            help=help_text,
        )


class HelpFormatter(argparse.HelpFormatter):
    """Help with every default shown and one metavar per option string."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = action.default not in (None, argparse.SUPPRESS, "") and (
            action.nargs != 0 or isinstance(action, BooleanFlag)
        )
        if (
            shown
            and action.option_strings
            and not action.required
            and "%(default)" not in text
        ):
            text += " (default: %(default)s)"
        return text

    def _format_action_invocation(self, action):
        strings = action.option_strings
        if not strings:  # a positional argument
            return super()._format_action_invocation(action)
        if action.nargs == 0:
            return ", ".join(strings)
        metavar = self._format_args(
            action, self._get_default_metavar_for_optional(action)
        )
        return ", ".join(f"{s} {metavar}" for s in strings)

    def _format_usage(self, usage, actions, groups, prefix):
        text = super()._format_usage(usage, actions, groups, prefix)
        return text.replace(" ]", "]")


# How the Keras backend is chosen (there is no `--backend` option).
BACKEND_HINT = (
    "the Keras backend is chosen with the KERAS_BACKEND environment "
    "variable, one of tensorflow, jax, torch: e.g. `KERAS_BACKEND=jax "
    "clinclip train ...`"
)


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` with `HelpFormatter` and one-line errors.

    Options are taken only as spelled in full (no prefixes).

    A usage error prints `PROG: error: MESSAGE (PROG --help lists the
    options)` on stderr and exits with status 2.

    Example:
    >>> parser = ArgumentParser(prog="clinclip demo")
    >>> try:
    ...     parser.parse_args(["--nope"])
    ... except SystemExit as exit:
    ...     print(exit.code)
    2
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # one spelling per option
        super().__init__(*args, **kwargs)

    def error(self, message):
        hint = f"`{self.prog} --help` lists the options"
        if "--backend" in message:
            hint = BACKEND_HINT
        self.exit(2, f"{self.prog}: error: {message} ({hint})\n")


def existing_path(text, option, kind="file"):
    """Check that a path exists; raises `UserError` naming the option.

    Args:
        text: the path given.
        option: the option it came from, for the message.
        kind: `file` (anything that exists) or `folder`.

    Returns:
        `text`, unchanged.

    Example:
    >>> existing_path(".", "--run-dir", kind="folder")
    '.'
    """
    path = pathlib.Path(text)
    if not path.exists():
        raise UserError(f"{option} {text!r} does not exist")
    if kind == "folder" and not path.is_dir():
        raise UserError(f"{option} {text!r} is not a folder")
    return text


def preset_path(text, option="--preset"):
    """Check a preset: a local folder, or a handle such as `hf://...`.

    Example:
    >>> preset_path("hf://someone/some-preset")
    'hf://someone/some-preset'
    """
    if "://" in str(text):
        return text
    return existing_path(text, option)
