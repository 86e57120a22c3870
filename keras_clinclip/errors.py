"""User errors: what `clinclip` reports in one line, with exit status 2.

At the bottom of the package (it imports nothing of it), so that every
layer can tell a user's mistake from a bug: `clinclip` and `clinclip
train`'s own failure report.

A user error is a mistake in the command line or in its inputs (a missing
file, a bad value, a corrupt table), as opposed to a bug. `clinclip`
prints `clinclip COMMAND: error: MESSAGE` on stderr and exits with status
2; any other exception keeps its traceback, and `clinclip --debug` shows
the traceback of user errors too.
"""

import errno
import os
import re

# The library's own exceptions that describe bad inputs, by class name
# (matched on the exception's classes defined in keras_clinclip, so that
# checking them imports nothing and survives a class moving module).
_LIBRARY_USER_ERRORS = (
    "ConfigFileError",
    "CorruptStateError",
    "DatasetSpecError",
    "ImageDecodeError",
    "MissingPackageError",
    "OutputPathError",
    "PresetError",
    "RecordError",
    "RunFolderError",
    "TableError",
)
# Operating-system errors about a path the user gave.
_PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
# Operating-system errors of a full disk or a read-only file system: the
# user frees space or writes elsewhere.
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
# How libraries that hide the errno (h5py) spell them.
_DISK_TEXTS = ("No space left on device", "File too large", "errno = 28")
_DISK_FIX = "free some space or choose another output folder"
_READ_ONLY_FIX = "choose an output folder on a writable file system"


class UserError(Exception):
    """A mistake in the command line or its inputs (exit status 2).

    Raise it with one line that names the option or the file and, where
    there is one, the fix.

    Example:
    >>> is_user_error(UserError("--preset 'x' does not exist"))
    True
    """


class UserValueError(UserError, ValueError):
    """A user's option that does not fit the data (also a `ValueError`,
    for library callers that catch those).

    Example:
    >>> is_user_error(UserValueError("--loss full needs report graphs"))
    True
    """


def is_user_error(error):
    """Whether `clinclip` reports `error` as a user error.

    True for `UserError`, a missing or unreadable path (`FileNotFoundError`,
    `PermissionError`, ...) and the library's input errors
    (`keras_clinclip.tables.TableError`,
    `keras_clinclip.data.ImageDecodeError`,
    `keras_clinclip.utils.MissingPackageError`, a refused run folder, a
    corrupt training state).

    Args:
        error: an exception.

    Returns:
        `True` or `False`.

    Example:
    >>> is_user_error(FileNotFoundError("no.csv")), is_user_error(KeyError())
    (True, False)
    """
    if isinstance(error, (UserError, *_PATH_ERRORS)) or is_disk_error(error):
        return True
    return any(
        cls.__module__.startswith("keras_clinclip")
        and cls.__name__ in _LIBRARY_USER_ERRORS
        for cls in type(error).__mro__
    )


# The backends `clinclip` runs on (Keras also knows numpy and openvino,
# which cannot train).
KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def check_keras_backend(environ):
    """Raise `UserError` when `KERAS_BACKEND` names no Keras backend.

    Args:
        environ: the environment (e.g. `os.environ`).

    Example:
    >>> try:
    ...     check_keras_backend({"KERAS_BACKEND": "pytorch"})
    ... except UserError as error:
    ...     print(str(error)[:64])
    KERAS_BACKEND='pytorch' is not a Keras backend: set it to one of
    """
    name = environ.get("KERAS_BACKEND")
    if name is not None and name not in (*KERAS_BACKENDS, "numpy", "openvino"):
        raise UserError(
            f"KERAS_BACKEND={name!r} is not a Keras backend: set it to one "
            f"of {', '.join(KERAS_BACKENDS)} (or unset it)"
        )


def is_disk_error(error):
    """Whether `error` is a full disk or a read-only file system.

    Args:
        error: an exception.

    Returns:
        `True` or `False`.

    Example:
    >>> is_disk_error(OSError(28, "No space left on device"))
    True
    """
    if not isinstance(error, OSError):
        return False
    return error.errno in _DISK_ERRNOS or any(
        text in str(error) for text in _DISK_TEXTS
    )


def one_line(error):
    """The first non-empty line of `error`'s message (its type if none).

    A full disk or read-only file system gets its fix added.

    Example:
    >>> one_line(ValueError("bad value\\n  details"))
    'bad value'
    >>> one_line(OSError(28, "No space left on device", "a.h5"))[:35]
    'a.h5: No space left on device: free'
    """
    if is_disk_error(error):
        # h5py puts the file and errno in a multi-line text.
        text = " ".join(str(error).split())
        named = re.search(r"filename = '([^']+)'", text)
        where = error.filename or (named.group(1) if named else "")
        where = re.sub(r"\.tmp-\d+-", "", str(where))  # the final name
        number = error.errno or next(
            (n for n in _DISK_ERRNOS if f"errno = {n}" in text), None
        )
        what = os.strerror(number) if number else "No space left on device"
        fix = _READ_ONLY_FIX if number == errno.EROFS else _DISK_FIX
        return f"{where + ': ' if where else ''}{what}: {fix}"
    if isinstance(error, PermissionError) and error.filename:
        return (
            f"{error.filename}: permission denied: check its permissions "
            "or choose another path"
        )
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
