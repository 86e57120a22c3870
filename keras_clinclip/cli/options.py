"""The option conventions of `clinclip` and the recipes, in one place.

- One spelling: words joined by dashes (`--batch-size`), as argparse, pip,
  pytest and torchrun spell them. The underscore spellings of earlier
  releases (`--batch_size`) still work for one release: they are hidden
  from `--help`, and `clinclip` notes on stderr which one to use instead.
- Booleans are `--flag/--no-flag` (`argparse.BooleanOptionalAction`); the
  value forms of earlier releases (`--tensorboard false`,
  `--tensorboard=false`, absl's `--notensorboard`) still work for one
  release.
- Every option has a help text, and `--help` shows its default.

This module imports only the standard library (and the pure-Python
`keras_clinclip.training.config`), so that `clinclip --help` answers
before any backend loads.
"""

import argparse
import dataclasses
import pathlib
import sys

from keras_clinclip.cli.errors import UserError
from keras_clinclip.training.config import TrainingConfig

# The old spellings used since the parser was made, in order; `clinclip`
# prints a note for each and clears the list (see `take_old_spellings`).
_OLD_SPELLINGS = []

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


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


def parse_bool(text):
    """Read `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).

    Args:
        text: the value given on the command line.

    Returns:
        The boolean.

    Example:
    >>> parse_bool("False"), parse_bool("1")
    (False, True)
    """
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _note(old, new):
    _OLD_SPELLINGS.append((old, new))


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


def take_old_spellings():
    """The `(old, new)` spellings used since the last call, then forgets them.

    Returns:
        A list of pairs of option strings.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--batch-size", "--batch_size", type=int,
    ...                default=8, help="examples per step")
    >>> _ = take_old_spellings()
    >>> parser.parse_args(["--batch_size", "4"]).batch_size
    4
    >>> take_old_spellings()
    [('--batch_size', '--batch-size')]
    """
    used = list(_OLD_SPELLINGS)
    _OLD_SPELLINGS.clear()
    return used


def print_old_spelling_notes(prog, file=None):
    """Print one note per old spelling used since the last call.

    Args:
        prog: the command's name, e.g. `clinclip`.
        file: where to print (default: `sys.stderr`).

    Example:
    >>> import sys
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--max-len", "--max_len", type=int,
    ...                default=64, help="report tokens")
    >>> _ = take_old_spellings()
    >>> _ = parser.parse_args(["--max_len", "32"])
    >>> print_old_spelling_notes("x", file=sys.stdout)
    x: note: --max_len is deprecated and goes in the next release; use --max-len
    """
    for old, new in take_old_spellings():
        print(
            f"{prog}: note: {old} is deprecated and goes in the next "
            f"release; use {new}",
            file=file or sys.stderr,
        )


class BooleanFlag(argparse.BooleanOptionalAction):
    """`--flag` / `--no-flag`, also accepting `--flag=false` for a release.

    The first option string is the flag; `--no-` + its words is added.
    Old spellings (`old_negative`: options that meant `False`) are hidden
    from the help. Used through `add_flag`.
    """

    def __init__(
        self,
        option_strings,
        dest,
        default=None,
        required=False,
        help=None,
        old_negative=(),
    ):
        primary = option_strings[0]
        negative = "--no-" + primary[2:]
        strings = [primary, negative, *option_strings[1:], *old_negative]
        self.negative = {negative, *old_negative}
        self.old_spellings = tuple(option_strings[1:]) + tuple(old_negative)
        argparse.Action.__init__(
            self,
            option_strings=strings,
            dest=dest,
            nargs="?",
            const=None,
            default=default,
            type=parse_bool,
            required=required,
            help=help,
            metavar="BOOL",
        )

    def __call__(self, parser, namespace, values, option_string=None):
        negative = option_string in self.negative
        if values is not None and negative:
            parser.error(f"{option_string} takes no value")
        value = (not negative) if values is None else bool(values)
        _record(namespace, self.dest)
        if option_string in self.old_spellings or values is not None:
            _note(
                option_string if values is None else f"{option_string} VALUE",
                self.option_strings[0 if value else 1],
            )
        setattr(namespace, self.dest, value)


_NOTING_CLASSES = {}


def _noting(action_class):
    """A subclass of `action_class` that notes the use of old spellings."""
    if action_class not in _NOTING_CLASSES:

        def __call__(self, parser, namespace, values, option_string=None):
            _record(namespace, self.dest)
            if option_string in self.old_spellings:
                new = getattr(self, "replacement", self.option_strings[0])
                _note(option_string, new)
            super(noting, self).__call__(
                parser, namespace, values, option_string
            )

        noting = type(action_class.__name__, (action_class,), {})
        noting.__call__ = __call__
        _NOTING_CLASSES[action_class] = noting
    return _NOTING_CLASSES[action_class]


def add_option(parser, name, *old, replacement=None, **kwargs):
    """Add an option with its old spellings as hidden aliases.

    Args:
        parser: an `argparse` parser or argument group.
        name: the option string, e.g. `--batch-size`.
        *old: earlier spellings still accepted for a release.
        replacement: for an option that is itself an old one (give it
            `help=argparse.SUPPRESS`), what to write instead, e.g.
            `--verbose 0` for `--quiet`.
        **kwargs: `parser.add_argument`'s keyword arguments (`help` is
            required), and `output="file"` or `output="folder"` for an
            option naming what the command writes (see `check_outputs`).

    Returns:
        The `argparse.Action`.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_option(parser, "--output", "--out", dest="out",
    ...                help="the output file")
    >>> parser.parse_args(["--out", "x.jsonl"]).out
    'x.jsonl'
    """
    if not kwargs.get("help"):
        raise ValueError(f"option {name} has no help text")
    output = kwargs.pop("output", None)
    action = parser.add_argument(name, *old, **kwargs)
    action.old_spellings = tuple(old)
    action.output = output
    if replacement:
        action.old_spellings = (name, *old)
        action.replacement = replacement
    action.__class__ = _noting(type(action))
    return action


def add_flag(parser, name, default, help, old=(), old_negative=(), dest=None):
    """Add a `--flag/--no-flag` boolean (see `BooleanFlag`).

    Args:
        parser: an `argparse` parser or argument group.
        name: the flag, e.g. `--plots` (`--no-plots` is added).
        default: the value when neither is given.
        help: the help text.
        old: earlier spellings of the flag itself.
        old_negative: earlier spellings that meant `False`, e.g.
            `--no_plots`.
        dest: the attribute name (default: from `name`).

    Returns:
        The `argparse.Action`.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_flag(parser, "--plots", True, "draw figures")
    >>> parser.parse_args(["--no-plots"]).plots
    False
    >>> parser.parse_args(["--plots=false"]).plots
    False
    """
    kwargs = {"dest": dest} if dest else {}
    return parser.add_argument(
        name,
        *old,
        action=BooleanFlag,
        default=default,
        help=help,
        old_negative=tuple(old_negative),
        **kwargs,
    )


def add_config_options(parser, defaults=None):
    """Add one option per `TrainingConfig` field (`--batch-size`, ...).

    Each field's underscore spelling (`--batch_size`) stays a hidden alias
    for a release; boolean fields are `--flag/--no-flag` (absl's
    `--noflag` also accepted). The attribute names are the field names,
    so `config_from_args(args)` builds the config.

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
        old = (f"--{field.name}",) if "_" in field.name else ()
        help_text = field.metadata["help"]
        if field.type in (bool, "bool"):
            add_flag(
                parser,
                name,
                default,
                help_text,
                old=old,
                old_negative=(f"--no{field.name}", f"--no_{field.name}"),
                dest=field.name,
            )
            continue
        choices = field.metadata.get("choices")
        add_option(
            parser,
            name,
            *old,
            output=field.metadata.get("output"),
            dest=field.name,
            type=type(default) if default is not None else str,
            default=default,
            choices=choices,
            metavar=None if choices else field.name.upper(),
            help=help_text,
        )


class HelpFormatter(argparse.HelpFormatter):
    """Help without the old spellings, and with every default shown."""

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
        hidden = set(getattr(action, "old_spellings", ()))
        strings = [s for s in action.option_strings if s not in hidden]
        if not strings:  # a positional argument
            return super()._format_action_invocation(action)
        if action.nargs == 0 or isinstance(action, BooleanFlag):
            return ", ".join(strings)
        metavar = self._format_args(
            action, self._get_default_metavar_for_optional(action)
        )
        return ", ".join(f"{s} {metavar}" for s in strings)

    def _format_args(self, action, default_metavar):
        if isinstance(action, BooleanFlag):
            return ""
        return super()._format_args(action, default_metavar)

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
