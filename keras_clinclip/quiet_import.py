"""Import TensorFlow without the start-up lines a user cannot act on.

TensorFlow 2.21 is imported under every Keras backend (by Keras's
TensorFlow backend, by KerasHub and by our `tf.data` pipeline). Its C++
libraries write to file descriptor 2 while they load, whatever
`TF_CPP_MIN_LOG_LEVEL`, `GLOG_minloglevel` or `ABSL_MIN_LOG_LEVEL` say:
absl's "All log messages before absl::InitializeLog() ..." line, the
oneDNN notice and, on a machine without an NVIDIA driver, "Could not find
cuda drivers" and `cuInit` errors. `import_tensorflow_quietly` imports
TensorFlow once with descriptor 2 sent to a temporary file, then writes
back every line that is not one of those (`NOISE`); on a machine with an
NVIDIA driver, the CUDA lines are real problems and are written back too.
If the import fails, everything it wrote is written back before the error.

`set_jax_platform` does the same for JAX at the source: with a CUDA plugin
installed and no NVIDIA driver, JAX tries CUDA and prints a `cuInit`
error before falling back to the CPU; `JAX_PLATFORMS=cpu` says so first.

Set `KERAS_CLINCLIP_NATIVE_LOGS=1` to see everything.
"""

import importlib
import importlib.util
import os
import re
import sys
import tempfile

__all__ = [
    "NOISE",
    "accelerator_expected",
    "import_quietly",
    "import_tensorflow_quietly",
    "kept_lines",
    "set_jax_platform",
]

# Start-up lines that say nothing a user can act on, anywhere.
_ALWAYS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called",
    r"port\.cc:\d+\] oneDNN custom operations are on",
    r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"To enable the following instructions: .* rebuild TensorFlow",
)
# Lines that only say "no GPU here": noise where none is expected.
_NO_GPU = (
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
)
NOISE = {
    "always": tuple(re.compile(p) for p in _ALWAYS),
    "no_gpu": tuple(re.compile(p) for p in _NO_GPU),
}

_ENV_SHOW = "KERAS_CLINCLIP_NATIVE_LOGS"
_NVIDIA_PATHS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia")


def accelerator_expected():
    """Whether this machine has an NVIDIA driver (a GPU may be used).

    Returns:
        `True` when an NVIDIA device node or driver is present.

    Example:
    >>> isinstance(accelerator_expected(), bool)
    True
    """
    return any(os.path.exists(path) for path in _NVIDIA_PATHS)


def kept_lines(text, accelerator=False):
    """The lines of `text` that are not start-up noise (`NOISE`).

    Args:
        text: what a library wrote to stderr.
        accelerator: whether a GPU is expected (its CUDA lines are kept).

    Returns:
        The lines to show the user, in order, each with its newline.

    Example:
    >>> text = ("WARNING: All log messages before absl::InitializeLog() "
    ...         "is called are written to STDERR\\n"
    ...         "I0000 cudart_stub.cc:31] Could not find cuda drivers on "
    ...         "your machine, GPU will not be used.\\n"
    ...         "E0000 something is really wrong\\n")
    >>> kept_lines(text)
    ['E0000 something is really wrong\\n']
    >>> len(kept_lines(text, accelerator=True))
    2
    """
    patterns = NOISE["always"] + (() if accelerator else NOISE["no_gpu"])
    return [
        line
        for line in text.splitlines(keepends=True)
        if line.strip() and not any(p.search(line) for p in patterns)
    ]


def import_tensorflow_quietly():
    """Imports TensorFlow, keeping its start-up noise off the terminal.

    Does nothing when TensorFlow is already imported, not installed, or
    `KERAS_CLINCLIP_NATIVE_LOGS=1` is set. See `import_quietly`.

    Returns:
        `True` when this call imported TensorFlow, else `False`.

    Example:
    >>> import_tensorflow_quietly()  # imported already by the package
    False
    """
    return import_quietly("tensorflow")


def import_quietly(name):
    """Imports module `name` with its `NOISE` on file descriptor 2 dropped.

    The lines it writes that are not `NOISE` are written back to stderr;
    if the import raises, all of them are, and the error propagates.

    Args:
        name: the module to import.

    Returns:
        `True` when this call imported it; `False` when it was imported
        already, is not installed, or `KERAS_CLINCLIP_NATIVE_LOGS=1`.

    Example:
    >>> import_quietly("json")  # imported already
    False
    """
    if name in sys.modules or os.environ.get(_ENV_SHOW) == "1":
        return False
    if importlib.util.find_spec(name) is None:
        return False
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            importlib.import_module(name)
            failed = False
        finally:
            _flush(sys.stderr)
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            lines = (
                text.splitlines(keepends=True)
                if failed
                else kept_lines(text, accelerator_expected())
            )
            if lines:
                sys.stderr.write("".join(lines))
                _flush(sys.stderr)
    return True


def set_jax_platform():
    """Sets `JAX_PLATFORMS=cpu` where JAX would only fail to find a GPU.

    Only when `JAX_PLATFORMS` is unset, a JAX CUDA plugin is installed and
    the machine has no NVIDIA driver (`accelerator_expected()`): there JAX
    prints a `cuInit` error and falls back to the CPU anyway.

    Returns:
        `True` when it set the variable, else `False`.

    Example:
    >>> import os
    >>> set_jax_platform() in (True, False)
    True
    """
    if "JAX_PLATFORMS" in os.environ or accelerator_expected():
        return False
    if not _cuda_plugin_installed():
        return False
    os.environ["JAX_PLATFORMS"] = "cpu"
    return True


def _cuda_plugin_installed():
    names = ("jax_cuda12_plugin", "jax_cuda13_plugin")
    if any(importlib.util.find_spec(name) is not None for name in names):
        return True
    try:
        plugins = importlib.util.find_spec("jax_plugins")
    except (ImportError, ValueError):
        return False
    locations = getattr(plugins, "submodule_search_locations", None) or []
    return any(
        entry.startswith("xla_cuda")
        for location in locations
        if os.path.isdir(location)
        for entry in os.listdir(location)
    )


def _flush(stream):
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass
