"""Step-level, atomic backup of the whole training state."""

import contextlib
import json
import os
import pathlib

import keras
import numpy as np
from keras import ops

from keras_clinclip import file_writes

STATE_FILE = "latest.json"


class TrainingStateBackup(keras.callbacks.Callback):
    """Back up model and optimizer state every `save_freq` steps, atomically.

    Keras's `BackupAndRestore` restores only the epoch (a job killed
    mid-epoch replays that epoch from its start, on the mid-epoch weights)
    and writes its weights and metadata in place. This callback saves the
    weights and the optimizer state (whose `iterations` counts the steps)
    to `state-<step>.weights.h5` through a temporary file and an atomic
    rename, then points `latest.json` at it the same way, so a kill at any
    moment leaves the previous complete state readable. `latest.json` also
    holds the random state that `save_weights` leaves out (the seed
    generators of dropout and other random layers) and, with `log_csv`, a
    copy of the CSV log as it was at that step. `restore` loads it all
    back and returns the step reached; the trainer
    (`keras_clinclip.training.fit_loop.fit_with_resume`) then skips the
    batches already seen, so the resumed run makes exactly the steps, on
    the same batches and random draws, of an uninterrupted one, and its
    CSV log keeps every epoch's row exactly once.

    A backup is never taken at the last batch of an epoch: the epoch-end
    backup follows (after the CSV logger has written the epoch's row), so
    a kill between the two cannot lose that row.

    Args:
        backup_dir: the directory of the backups (owned by this callback).
        save_freq: save every this many optimizer steps; 0 saves at the
            end of each epoch only.
        keep: how many past states to keep on disk (at least 1).
        write: False on non-chief workers of a multi-worker job: they
            never write.
        delete_on_end: remove the backups when `fit` ends normally.
        log_csv: the `keras.callbacks.CSVLogger` file of the run, copied
            into each backup and put back by `restore`.

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
        self,
        backup_dir,
        save_freq=0,
        keep=1,
        write=True,
        delete_on_end=False,
        log_csv=None,
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
        self.log_csv = pathlib.Path(log_csv) if log_csv else None
        self._last_saved = None

    # --- reading -----------------------------------------------------------
    @staticmethod
    def read_state(backup_dir):
        """The dict of `latest.json` in `backup_dir`, or None."""
        path = pathlib.Path(backup_dir) / STATE_FILE
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
            weights = pathlib.Path(backup_dir) / state["weights"]
            int(state["step"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise CorruptStateError(
                path, f"not a backup state ({type(error).__name__}: {error})"
            ) from error
        if not weights.exists():
            raise CorruptStateError(
                path, f"it points at {weights.name}, which is missing"
            )
        return state

    @classmethod
    def latest_step(cls, backup_dir):
        """The optimizer step of the latest backup (0 when none)."""
        state = cls.read_state(backup_dir)
        return 0 if state is None else int(state["step"])

    @classmethod
    def restore(cls, model, backup_dir, log_csv=None):
        """Load the latest backup into `model` (and its optimizer).

        Args:
            model: a built and compiled model of the same architecture.
            backup_dir: the callback's directory.
            log_csv: the run's CSV log; rewritten from the backup's copy
                (the rows of the epochs finished at the backup's step).

        Returns:
            The optimizer step of the restored state, 0 when there is none.

        Raises:
            CorruptStateError: a state file cannot be read or does not
                fit `model`; the message names the file and the way out.
        """
        state = cls.read_state(backup_dir)
        if state is None:
            if log_csv is not None:
                # A run that starts from step 0 starts its log afresh too
                # (rows of an earlier, unfinished try would repeat).
                pathlib.Path(log_csv).unlink(missing_ok=True)
            return 0
        if not model.built:
            raise ValueError(
                "Build the model (call it on a batch) before restoring "
                f"the training state from {backup_dir}."
            )
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            # Under `tf.distribute` the slots must be made in its scope.
            strategy = getattr(model, "_distribute_strategy", None)
            with strategy.scope() if strategy else contextlib.nullcontext():
                optimizer.build(model.trainable_variables)
        weights = pathlib.Path(backup_dir) / state["weights"]
        try:
            model.load_weights(weights)
        except Exception as error:
            raise CorruptStateError(
                weights,
                "cannot be loaded into this model "
                f"({type(error).__name__}: {_first_line(error)})",
            ) from error
        step = _current_step(model)
        if step != int(state["step"]):
            raise CorruptStateError(
                weights,
                f"{STATE_FILE} says step {state['step']} but its optimizer "
                f"state holds {step} iterations",
            )
        _set_seed_states(model, state.get("seeds"), weights)
        if log_csv is not None:
            write_log(log_csv, state.get("log_csv", ""))
        return step

    # --- writing -----------------------------------------------------------
    def save(self):
        """Write the current state now (no-op when `write` is False)."""
        step = _current_step(self.model)
        if not self.write or step == self._last_saved:
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = f"state-{step:09d}.weights.h5"
        file_writes.replace_atomically(
            self.backup_dir / name,
            lambda temp: self.model.save_weights(str(temp), overwrite=True),
        )
        state = {
            "step": step,
            "weights": name,
            "seeds": _seed_states(self.model),
        }
        if self.log_csv is not None and self.log_csv.exists():
            with open(self.log_csv, encoding="utf-8", newline="") as handle:
                state["log_csv"] = handle.read()
        file_writes.write_text_atomic(
            self.backup_dir / STATE_FILE, json.dumps(state) + "\n"
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
        if not self.save_freq:
            return
        if batch + 1 >= int(self.params.get("steps") or 0) > 0:
            return  # the epoch-end backup follows, after the CSV row
        if _current_step(self.model) % self.save_freq == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def on_train_end(self, logs=None):
        if self.delete_on_end and self.write and self.backup_dir.exists():
            for path in self.backup_dir.iterdir():
                path.unlink(missing_ok=True)
            self.backup_dir.rmdir()


def write_log(path, text):
    """Put back a CSV log as it was at a backup, with CRLF line endings.

    `keras.callbacks.CSVLogger` ends rows with CRLF (the `csv` module's
    default); the log rewritten here keeps that one convention, so the
    rows appended after a resume match. An empty `text` (no row yet)
    removes the log.

    Args:
        path: the run's CSV log.
        text: its content at the backup's step.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> write_log(path, "epoch,loss\\n0,1.5\\r\\n")
    >>> open(path, "rb").read()
    b'epoch,loss\\r\\n0,1.5\\r\\n'
    """
    path = pathlib.Path(path)
    if not text:
        path.unlink(missing_ok=True)
        return
    lines = text.replace("\r\n", "\n").split("\n")
    with file_writes.atomic_write(path, encoding="utf-8", newline="") as handle:
        handle.write("\r\n".join(lines))


class CorruptStateError(ValueError):
    """A training-state file that cannot be read back.

    The message names the file and the two ways out: delete the backup
    directory (the run restarts from step 0 with the same options) or
    rerun with `--restart` (every output of the run is deleted first).

    Args:
        path: the unreadable file.
        reason: what is wrong with it.

    Example:
    >>> str(CorruptStateError("runs/x/backup/latest.json", "truncated"))[:43]
    'runs/x/backup/latest.json: truncated. The t'
    """

    def __init__(self, path, reason):
        self.path = pathlib.Path(path)
        folder = self.path.parent
        super().__init__(
            f"{path}: {reason}. The training state in {folder} is corrupt "
            "or from another model: delete that folder to restart this run "
            "from step 0, or rerun with --restart to start afresh."
        )


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def _seed_states(model):
    """The seed-generator states of `model` (not in `save_weights`)."""
    weights = {id(v) for v in model.weights}
    return [
        [int(x) for x in ops.convert_to_numpy(v).reshape(-1)]
        for v in model.variables
        if id(v) not in weights
    ]


def _set_seed_states(model, states, path):
    if states is None:
        return
    weights = {id(v) for v in model.weights}
    variables = [v for v in model.variables if id(v) not in weights]
    if len(variables) != len(states):
        raise CorruptStateError(
            path,
            f"it holds {len(states)} random-seed states, the model has "
            f"{len(variables)}",
        )
    for variable, values in zip(variables, states):
        variable.assign(
            np.asarray(values, variable.dtype).reshape(variable.shape)
        )


def _current_step(model):
    return int(ops.convert_to_numpy(model.optimizer.iterations))
