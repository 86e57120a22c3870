"""Atomic writes and the output-path rule: the one home of both.

Every file the package writes goes through a temporary sibling renamed
onto its name, so readers see the old file or the complete new one, and
a failed write (a full disk) leaves nothing behind. An output may replace
only a regular file; symbolic links are followed (`check_output_path`).
"""

import contextlib
import os
import pathlib
import stat


def temp_sibling(path):
    """A temporary name next to `path` that keeps its suffixes.

    Keras checks suffixes such as `.weights.h5`, so the temporary name adds
    a prefix instead of a suffix. Being in the same folder, it is renamed
    onto `path` atomically.

    Args:
        path: the final file path.

    Example:
    >>> temp_sibling("/tmp/run/state.weights.h5").name.endswith(
    ...     ".weights.h5")
    True
    """
    path = pathlib.Path(path)
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def _fsync_dir(directory):
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit(temp, final):
    """Flush `temp` to disk and rename it onto `final` atomically.

    Args:
        temp: the written temporary file.
        final: the destination; replaced if it exists.

    Example:
    >>> import tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> temp = temp_sibling(folder / "a.txt")
    >>> _ = temp.write_text("done")
    >>> commit(temp, folder / "a.txt")
    >>> (folder / "a.txt").read_text()
    'done'
    """
    temp, final = pathlib.Path(temp), pathlib.Path(final)
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    _fsync_dir(final.parent)


class OutputPathError(ValueError):
    """An output path that a write must not replace; the message says why.

    Example:
    >>> issubclass(OutputPathError, ValueError)
    True
    """


def _kind(mode):
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def check_output_path(path, name=None, inputs=(), folder=False):
    """Refuse to write where a write would replace what is not an output.

    The rule of every write: an output may replace only a regular file (a
    folder for `folder=True`); a symbolic link is followed (its target is
    written, the link stays), so the rule applies to the target; and an
    output is never one of the inputs.

    Args:
        path: the output path.
        name: how the user named it (e.g. `--output`), for the message.
        inputs: `(name, path)` pairs of the command's inputs.
        folder: the output is a folder (then it must not be a file).

    Returns:
        The `pathlib.Path` written: `path` with symbolic links resolved.

    Raises:
        OutputPathError: naming the path, what it is and the fix.

    Example:
    >>> try:
    ...     check_output_path("/dev/null", "--output")
    ... except OutputPathError as error:
    ...     print(error)
    --output /dev/null is a device, not a regular file: give a file path
    """
    label = f"{name} {path}" if name else str(path)
    target = pathlib.Path(os.path.realpath(path))
    if target.exists():
        mode = target.stat().st_mode
        if folder and not stat.S_ISDIR(mode):
            raise OutputPathError(f"{label} is not a folder: give a folder")
        if not folder and not stat.S_ISREG(mode):
            raise OutputPathError(
                f"{label} is {_kind(mode)}, not a regular file: give a "
                "file path"
            )
    for input_name, value in inputs:
        if value and os.path.exists(value) and target.exists():
            if os.path.samefile(value, target):
                raise OutputPathError(
                    f"{label} is the input {input_name} {value}: choose "
                    "another output path (the input is left as it is)"
                )
    return target


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_kwargs):
    """Open a temporary sibling of `path`; rename it onto `path` on success.

    Readers see the old file or the complete new one, never a part. If the
    block raises, the temporary file is removed and `path` is untouched.
    `path` may replace only a regular file; a symbolic link is followed
    (`check_output_path`).

    Args:
        path: the destination file (its folder is created).
        mode: `"w"` (text) or `"wb"`.
        **open_kwargs: passed to `open` (e.g. `encoding="utf-8"`).

    Example:
    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with atomic_write(path, encoding="utf-8") as handle:
    ...     _ = handle.write("{}\\n")
    >>> path.read_text()
    '{}\\n'
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_sibling(path)
    try:
        with open(temp, mode, **open_kwargs) as handle:
            yield handle
        commit(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_text_atomic(path, text):
    """Write `text` to `path` so readers see the old or the new file only.

    Args:
        path: destination file.
        text: the content.

    Example:
    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
    >>> write_text_atomic(path, "{}")
    >>> path.read_text()
    '{}'
    """
    with atomic_write(path) as handle:
        handle.write(text)


def replace_atomically(path, write):
    """Write `path` through `write(temp)` and an atomic rename.

    For writers that take a file name (`model.save_weights`, h5py): the
    temporary sibling is removed if `write` fails (a full disk leaves no
    orphan `.tmp-*` file), and `path` keeps its old content.

    Args:
        path: the destination file.
        write: a callable writing the file name it is given.

    Example:
    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> replace_atomically(path, lambda temp: temp.write_text("done"))
    >>> path.read_text(), len(list(path.parent.iterdir()))
    ('done', 1)
    """
    path = pathlib.Path(path)
    temp = temp_sibling(path)
    try:
        write(temp)
        commit(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
