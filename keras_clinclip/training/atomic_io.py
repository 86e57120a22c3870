"""Atomic file writes: write to a temporary sibling, then rename."""

import contextlib
import os
import pathlib


def temp_sibling(path):
    """A temporary name next to `path` that keeps its suffixes.

    Keras checks suffixes such as `.weights.h5`, so the temporary name adds
    a prefix instead of a suffix.

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
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_sibling(path)
    temp.write_text(text)
    commit(temp, path)
