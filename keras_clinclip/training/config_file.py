"""`--config FILE`: a config read from JSON, the command line winning."""

import dataclasses
import json
import pathlib
import re

from keras_clinclip.training.config import TrainingConfig


class ConfigFileError(ValueError):
    """A `--config` file that cannot be used; the message names it.

    Example:
    >>> str(ConfigFileError("a.json: not valid JSON"))
    'a.json: not valid JSON'
    """


def read_config_file(path):
    """The fields of a config JSON file, refused with one clear line.

    Args:
        path: a `config.json` (of an earlier run, or written by hand).

    Returns:
        A dict of field -> value (only known fields; not yet validated).

    Raises:
        ConfigFileError: the file is missing, not UTF-8 JSON, not an
            object, or has unknown fields; the message names the file.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "c.json")
    >>> _ = open(path, "w").write('{"epochs": 2, "epoch": 1}')
    >>> try:
    ...     read_config_file(path)
    ... except ConfigFileError as error:
    ...     print(str(error).split(": ", 1)[1][:26])
    unknown field(s) ['epoch']
    """
    try:
        values = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigFileError(f"{path}: a folder, not a config file") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigFileError(
            f"{path}: not a JSON config file ({error}); fix it or give the "
            "options on the command line"
        ) from None
    if not isinstance(values, dict):
        raise ConfigFileError(
            f"{path}: expected a JSON object of training options, got a "
            f"{type(values).__name__}"
        )
    names = [f.name for f in dataclasses.fields(TrainingConfig)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigFileError(
            f"{path}: unknown field(s) {unknown} (known: "
            f"{', '.join(names)}); remove or rename them"
        )
    return values


def config_with_file(args, path, given=()):
    """The config of a `--config` file, overridden by command-line values.

    Args:
        args: the parsed options (one attribute per field, as
            `config_from_args` takes).
        path: the config JSON file.
        given: the fields given on the command line: they win over the
            file even when their value equals the default.

    Returns:
        A validated `TrainingConfig`.

    Raises:
        ConfigFileError: the file is unreadable, or one of its own values
            is invalid (named with the file); a `ValueError` for a bad
            command-line value.

    Example:
    >>> import os, tempfile, types
    >>> path = os.path.join(tempfile.mkdtemp(), "c.json")
    >>> TrainingConfig(epochs=2, batch_size=4).save(path)
    >>> args = types.SimpleNamespace(**TrainingConfig().to_dict())
    >>> config = config_with_file(args, path, given={"epochs"})
    >>> config.epochs, config.batch_size
    (3, 4)
    """
    from_file = read_config_file(path)
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainingConfig)
    }
    values.update(from_file)
    values.update(
        {name: getattr(args, name) for name in given if name in values}
    )
    try:
        return TrainingConfig(**values)
    except ValueError as error:
        field = re.match(r"Field `(\w+)`", str(error))
        if (
            field
            and field.group(1) in from_file
            and field.group(1) not in given
        ):
            raise ConfigFileError(
                f"{path}: {str(error).rstrip('.')} (fix it in the file, or "
                "give the option on the command line)"
            ) from None
        raise
