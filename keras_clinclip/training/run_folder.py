"""The rules of a run's `--output-dir`: one run at a time, one config.

- `RunLock`: an exclusive `fcntl.flock` on `<output_dir>/.lock`, held for
  the whole run. The operating system releases it when the process ends,
  however it ends (even by SIGKILL), so a stale lock never blocks a rerun;
  a second process on the same folder stops at once with `RunFolderError`.
- `check_run_config`: a folder that already holds a run (its
  `config.json`) is resumed only with the same options; other options are
  refused with one line naming them, unless `restart=True`, which deletes
  the run's outputs (`clear_run`) and starts afresh. The caller writes
  `config.json` only after this check.
"""

import json
import os
import pathlib
import shutil

LOCK_FILE = ".lock"

# Options that change neither the model nor the data order: a resumed run
# may change them.
FREE_OPTIONS = ("verbose", "output_dir", "save_freq", "tensorboard")

# What a run writes under its folder (see `callbacks.run_paths`), all
# removed by `clear_run`.
RUN_OUTPUTS = (
    "config.json",
    "model.json",
    "training_log.csv",
    "tensorboard",
    "checkpoints",
    "backup",
    "preset",
    "final.weights.h5",
)


class RunFolderError(RuntimeError):
    """A run folder that cannot be used as asked; the message says why.

    Example:
    >>> str(RunFolderError("runs/x is locked"))
    'runs/x is locked'
    """


class RunLock:
    """An exclusive lock on a run folder, released on exit or `release`.

    Args:
        output_dir: the run's folder (created if needed).

    Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunLock(folder):
    ...     try:
    ...         RunLock(folder).acquire()
    ...     except RunFolderError as error:
    ...         print("refused")
    refused
    >>> RunLock(folder).acquire().release()
    """

    def __init__(self, output_dir):
        self.path = pathlib.Path(output_dir) / LOCK_FILE
        self._file = None

    def acquire(self):
        """Take the lock or raise `RunFolderError`; returns `self`.

        A lock already held by this object stays held (so a lock taken
        early, e.g. by `clinclip train` before loading Keras, can be
        handed to `train` and entered there).
        """
        if self._file is not None:
            return self
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks, run unlocked.
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise RunFolderError(
                f"{self.path.parent} is in use by another training run "
                f"(pid {owner}, lock {self.path}); wait for it to end or "
                "choose another --output-dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self):
        """Release the lock (closing the file releases the flock)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


def config_differences(saved, config):
    """The options that differ between a saved and a new config.

    Args:
        saved: the dict of the folder's `config.json`.
        config: the new `TrainingConfig` (or its dict).

    Returns:
        A list of `(field, saved_value, new_value)`, `FREE_OPTIONS` left
        out; fields missing from `saved` count as differing.

    Example:
    >>> from keras_clinclip.training.config import TrainingConfig
    >>> old = TrainingConfig(epochs=3).to_dict()
    >>> config_differences(old, TrainingConfig(epochs=4, verbose=0))
    [('epochs', 3, 4)]
    """
    new = config if isinstance(config, dict) else config.to_dict()
    missing = object()
    differences = []
    for key in sorted(set(saved) | set(new)):
        if key in FREE_OPTIONS:
            continue
        old_value, new_value = saved.get(key, missing), new.get(key, missing)
        if old_value != new_value:
            differences.append(
                (
                    key,
                    None if old_value is missing else old_value,
                    None if new_value is missing else new_value,
                )
            )
    return differences


def clear_run(output_dir):
    """Delete the outputs of a run (`RUN_OUTPUTS`), nothing else.

    Args:
        output_dir: the run's folder.

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("config.json", "notes.txt"):
    ...     _ = open(os.path.join(folder, name), "w").write("{}")
    >>> clear_run(folder)
    >>> sorted(os.listdir(folder))
    ['notes.txt']
    """
    root = pathlib.Path(output_dir)
    for name in RUN_OUTPUTS:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def check_run_config(config, restart=False):
    """Refuse to mix configs in `config.output_dir`; clear it on restart.

    Args:
        config: the new `TrainingConfig`.
        restart: delete the outputs of an earlier run in the folder
            (`clear_run`) instead of resuming or refusing.

    Returns:
        True when the folder holds a run of the same options (which will
        resume or, if finished, stay finished), False when it starts
        afresh.

    Raises:
        RunFolderError: the folder's `config.json` has other options
            (named, with the saved and new values) or cannot be read.

    Example:
    >>> import tempfile
    >>> from keras_clinclip.training.config import TrainingConfig
    >>> config = TrainingConfig(output_dir=tempfile.mkdtemp())
    >>> config.save(config.output_dir + "/config.json")
    >>> check_run_config(config)
    True
    >>> try:
    ...     check_run_config(config.replace(epochs=9))
    ... except RunFolderError as error:
    ...     print("epochs 3 -> 9" in str(error))
    True
    >>> check_run_config(config.replace(epochs=9), restart=True)
    False
    """
    root = pathlib.Path(config.output_dir)
    path = root / "config.json"
    if restart:
        clear_run(root)
        return False
    if not path.exists():
        return False
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as error:
        raise RunFolderError(
            f"{path} cannot be read ({error}); rerun with --restart to "
            "start afresh in this folder, or choose another --output-dir."
        ) from error
    # Fields added since the folder's run was started take their default.
    saved = {**type(config)().to_dict(), **saved}
    differences = config_differences(saved, config)
    if differences:
        listed = ", ".join(
            f"{key} {old!r} -> {new!r}" for key, old, new in differences
        )
        raise RunFolderError(
            f"{root} holds a run with other options: {listed}. Rerun with "
            "its options to resume it, pass --restart to delete it and "
            "start afresh, or choose another --output-dir."
        )
    return True
