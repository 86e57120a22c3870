"""User errors: what `clinclip` reports in one line, with exit status 2.

A user error is a mistake in the command line or in its inputs (a missing
file, a bad value, a corrupt table), as opposed to a bug. `clinclip`
prints `clinclip COMMAND: error: MESSAGE` on stderr and exits with status
2; any other exception keeps its traceback, and `clinclip --debug` shows
the traceback of user errors too.
"""

# The library's own exceptions that describe bad inputs, by class name
# (matched on the exception's classes defined in keras_clinclip, so that
# checking them imports nothing and survives a class moving module).
_LIBRARY_USER_ERRORS = (
    "CorruptStateError",
    "DatasetSpecError",
    "ImageDecodeError",
    "MissingPackageError",
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


class UserError(Exception):
    """A mistake in the command line or its inputs (exit status 2).

    Raise it with one line that names the option or the file and, where
    there is one, the fix.

    Example:
    >>> is_user_error(UserError("--preset 'x' does not exist"))
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
    if isinstance(error, (UserError, *_PATH_ERRORS)):
        return True
    return any(
        cls.__module__.startswith("keras_clinclip")
        and cls.__name__ in _LIBRARY_USER_ERRORS
        for cls in type(error).__mro__
    )


def one_line(error):
    """The first non-empty line of `error`'s message (its type if none).

    Example:
    >>> one_line(ValueError("bad value\\n  details"))
    'bad value'
    """
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
