"""The callbacks of a training run: logs, checkpoints, backups."""

import importlib.util
import pathlib
import sys

import keras

from keras_clinclip.training.atomic_model_checkpoint import (
    AtomicModelCheckpoint,
)
from keras_clinclip.training.training_state_backup import TrainingStateBackup


def run_paths(output_dir):
    """Where a run writes each of its outputs, under `output_dir`.

    Args:
        output_dir: the run's output directory.

    Returns:
        A dict of `pathlib.Path`: `log_csv`, `tensorboard`, `checkpoints`,
        `backup`, `preset`, `config`.

    Example:
    >>> sorted(run_paths("runs/x"))[:3]
    ['backup', 'checkpoints', 'config']
    """
    root = pathlib.Path(output_dir)
    return {
        "log_csv": root / "training_log.csv",
        "tensorboard": root / "tensorboard",
        "checkpoints": root / "checkpoints",
        "backup": root / "backup",
        "preset": root / "preset",
        "config": root / "config.json",
    }


def build_callbacks(
    output_dir,
    save_freq=0,
    tensorboard=True,
    checkpoints=True,
    is_chief=True,
    monitor=None,
):
    """CSV and TensorBoard logs, atomic checkpoints and a resumable backup.

    Args:
        output_dir: the run's directory (see `run_paths`).
        save_freq: back up the training state every this many optimizer
            steps (0: at each epoch end); see `TrainingStateBackup`.
        tensorboard: add `keras.callbacks.TensorBoard` when the
            `tensorboard` package is installed (the default, True, logs
            when it can; without the package a one-line note on stderr).
        checkpoints: add an `AtomicModelCheckpoint` of the weights at
            each epoch end (the best by `monitor` when given).
        is_chief: False on non-chief workers: they log nothing and write
            no checkpoint (their state equals the chief's).
        monitor: metric for `save_best_only` checkpoints, e.g. `val_loss`.

    Returns:
        A list of callbacks; the `TrainingStateBackup` is always present.

    Example:
    >>> import tempfile
    >>> names = [type(c).__name__ for c in build_callbacks(
    ...     tempfile.mkdtemp(), tensorboard=False)]
    >>> names
    ['CSVLogger', 'AtomicModelCheckpoint', 'TrainingStateBackup']
    """
    paths = run_paths(output_dir)
    callbacks = []
    if is_chief:
        paths["log_csv"].parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(
            keras.callbacks.CSVLogger(str(paths["log_csv"]), append=True)
        )
        if tensorboard and importlib.util.find_spec("tensorboard") is None:
            print(
                "note: no TensorBoard logs (the `tensorboard` package is not "
                "installed: pip install 'keras-clinclip[tensorboard]'; turn "
                "the tensorboard option off to silence this)",
                file=sys.stderr,
            )
        elif tensorboard:
            callbacks.append(
                keras.callbacks.TensorBoard(
                    log_dir=str(paths["tensorboard"]), update_freq="epoch"
                )
            )
        if checkpoints:
            if monitor:
                target = paths["checkpoints"] / "best.weights.h5"
            else:
                target = paths["checkpoints"] / "epoch-{epoch:03d}.weights.h5"
            callbacks.append(
                AtomicModelCheckpoint(
                    str(target),
                    save_weights_only=True,
                    monitor=monitor or "loss",
                    save_best_only=bool(monitor),
                )
            )
    callbacks.append(
        TrainingStateBackup(
            paths["backup"],
            save_freq=save_freq,
            write=is_chief,
            log_csv=paths["log_csv"] if is_chief else None,
        )
    )
    return callbacks
