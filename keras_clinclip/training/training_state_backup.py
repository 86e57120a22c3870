"""Step-level, atomic backup of the whole training state."""

import json
import os
import pathlib

import keras
from keras import ops

from keras_clinclip.training import atomic_io

STATE_FILE = "latest.json"


class TrainingStateBackup(keras.callbacks.Callback):
    """Back up model and optimizer state every `save_freq` steps, atomically.

    Keras's `BackupAndRestore` restores only the epoch (a job killed
    mid-epoch replays that epoch from its start, on the mid-epoch weights)
    and writes its weights and metadata in place. This callback saves the
    weights and the optimizer state (whose `iterations` counts the steps)
    to `state-<step>.weights.h5` through a temporary file and an atomic
    rename, then points `latest.json` at it the same way, so a kill at any
    moment leaves the previous complete state readable. `restore` loads
    it back and returns the step reached; the trainer
    (`keras_clinclip.training.train.fit_with_resume`) then skips the
    batches already seen, so the resumed run makes exactly the steps of an
    uninterrupted one.

    Args:
        backup_dir: the directory of the backups (owned by this callback).
        save_freq: save every this many optimizer steps; 0 saves at the
            end of each epoch only.
        keep: how many past states to keep on disk (at least 1).
        write: False on non-chief workers of a multi-worker job: they
            never write.
        delete_on_end: remove the backups when `fit` ends normally.

    Example:
    >>> import tempfile, numpy as np, keras
    >>> folder = tempfile.mkdtemp()
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> backup = TrainingStateBackup(folder, save_freq=2)
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2,
    ...               callbacks=[backup], verbose=0)
    >>> TrainingStateBackup.latest_step(folder)
    4
    >>> TrainingStateBackup.restore(model, folder)
    4
    """

    def __init__(
        self, backup_dir, save_freq=0, keep=1, write=True, delete_on_end=False
    ):
        super().__init__()
        if int(save_freq) < 0:
            raise ValueError(
                f"`save_freq` must be >= 0 steps, got {save_freq}."
            )
        self.backup_dir = pathlib.Path(backup_dir)
        self.save_freq = int(save_freq)
        self.keep = max(int(keep), 1)
        self.write = bool(write)
        self.delete_on_end = bool(delete_on_end)
        self._last_saved = None

    # --- reading -----------------------------------------------------------
    @staticmethod
    def read_state(backup_dir):
        """The dict of `latest.json` in `backup_dir`, or None."""
        path = pathlib.Path(backup_dir) / STATE_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        weights = pathlib.Path(backup_dir) / state["weights"]
        if not weights.exists():
            raise FileNotFoundError(
                f"{path} points at {weights.name}, which is missing; the "
                "backup directory was altered by hand. Delete it to start "
                "afresh."
            )
        return state

    @classmethod
    def latest_step(cls, backup_dir):
        """The optimizer step of the latest backup (0 when none)."""
        state = cls.read_state(backup_dir)
        return 0 if state is None else int(state["step"])

    @classmethod
    def restore(cls, model, backup_dir):
        """Load the latest backup into `model` (and its optimizer).

        Args:
            model: a built and compiled model of the same architecture.
            backup_dir: the callback's directory.

        Returns:
            The optimizer step of the restored state, 0 when there is none.
        """
        state = cls.read_state(backup_dir)
        if state is None:
            return 0
        if not model.built:
            raise ValueError(
                "Build the model (call it on a batch) before restoring "
                f"the training state from {backup_dir}."
            )
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        model.load_weights(pathlib.Path(backup_dir) / state["weights"])
        step = _current_step(model)
        if step != int(state["step"]):
            raise ValueError(
                f"The backup in {backup_dir} says step {state['step']} but "
                f"its optimizer state holds {step} iterations."
            )
        return step

    # --- writing -----------------------------------------------------------
    def save(self):
        """Write the current state now (no-op when `write` is False)."""
        step = _current_step(self.model)
        if not self.write or step == self._last_saved:
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = f"state-{step:09d}.weights.h5"
        final = self.backup_dir / name
        temp = atomic_io.temp_sibling(final)
        self.model.save_weights(str(temp), overwrite=True)
        atomic_io.commit(temp, final)
        atomic_io.write_text_atomic(
            self.backup_dir / STATE_FILE,
            json.dumps({"step": step, "weights": name}) + "\n",
        )
        self._last_saved = step
        self._prune()

    def _prune(self):
        states = sorted(self.backup_dir.glob("state-*.weights.h5"))
        for stale in states[: -self.keep]:
            stale.unlink(missing_ok=True)
        for leftover in self.backup_dir.glob(".tmp-*"):
            # Temporary files of killed writers (never of a live process:
            # our own pid is in the names we write).
            if f"-{os.getpid()}-" not in leftover.name:
                leftover.unlink(missing_ok=True)

    def on_train_begin(self, logs=None):
        self._last_saved = _current_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq and _current_step(self.model) % self.save_freq == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def on_train_end(self, logs=None):
        if self.delete_on_end and self.write and self.backup_dir.exists():
            for path in self.backup_dir.iterdir():
                path.unlink(missing_ok=True)
            self.backup_dir.rmdir()


def _current_step(model):
    return int(ops.convert_to_numpy(model.optimizer.iterations))
