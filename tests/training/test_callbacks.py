"""Atomic checkpoints and the step-level training-state backup."""

import json

import keras
import numpy as np
import pytest

from keras_clinclip.training.atomic_model_checkpoint import (
    AtomicModelCheckpoint,
)
from keras_clinclip.training.callbacks import build_callbacks
from keras_clinclip.training.training_state_backup import TrainingStateBackup


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 3)).astype("float32"), rng.normal(
        size=(12, 2)
    ).astype("float32")


def test_backup_restores_weights_and_optimizer_step(tmp_path):
    x, y = _data()
    model = _model()
    backup = TrainingStateBackup(tmp_path, save_freq=2, keep=2)
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[backup], verbose=0)
    assert TrainingStateBackup.latest_step(tmp_path) == 6
    assert len(list(tmp_path.glob("state-*.weights.h5"))) == 2  # keep=2
    fresh = _model()
    fresh.build((None, 3))
    assert TrainingStateBackup.restore(fresh, tmp_path) == 6
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )
    assert len(fresh.optimizer.variables) == len(model.optimizer.variables)


def test_a_crash_while_saving_leaves_the_previous_state(tmp_path, monkeypatch):
    x, y = _data()
    model = _model()
    backup = TrainingStateBackup(tmp_path, save_freq=2)
    model.fit(x[:4], y[:4], batch_size=2, callbacks=[backup], verbose=0)
    assert TrainingStateBackup.latest_step(tmp_path) == 2
    state = json.loads((tmp_path / "latest.json").read_text())

    original = keras.Model.save_weights

    def half_written(self, filepath, overwrite=True, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"\x89HDF truncated")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save_weights", half_written)
    with pytest.raises(OSError, match="disk full"):
        model.fit(x[:4], y[:4], batch_size=2, callbacks=[backup], verbose=0)
    monkeypatch.setattr(keras.Model, "save_weights", original)
    # The pointer and the file it names are untouched and loadable.
    assert json.loads((tmp_path / "latest.json").read_text()) == state
    fresh = _model()
    fresh.build((None, 3))
    assert TrainingStateBackup.restore(fresh, tmp_path) == 2


def test_atomic_model_checkpoint_final_name_only_when_complete(
    tmp_path, monkeypatch
):
    x, y = _data()
    model = _model()
    path = tmp_path / "best.weights.h5"
    checkpoint = AtomicModelCheckpoint(str(path), save_weights_only=True)

    def half_written(self, filepath, overwrite=True, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"partial")
        raise OSError("killed")

    monkeypatch.setattr(keras.Model, "save_weights", half_written)
    with pytest.raises(OSError):
        model.fit(x, y, epochs=1, callbacks=[checkpoint], verbose=0)
    assert not path.exists()
    monkeypatch.undo()
    model.fit(x, y, epochs=1, callbacks=[checkpoint], verbose=0)
    fresh = _model()
    fresh.build((None, 3))
    fresh.load_weights(str(path))


def test_build_callbacks_for_chief_and_worker(tmp_path):
    # TensorBoard on/off by install: tests/training/test_tensorboard_default.py
    chief = [
        type(c).__name__ for c in build_callbacks(tmp_path, tensorboard=False)
    ]
    assert chief == [
        "CSVLogger",
        "AtomicModelCheckpoint",
        "TrainingStateBackup",
    ]
    worker = build_callbacks(tmp_path, is_chief=False)
    assert [type(c).__name__ for c in worker] == ["TrainingStateBackup"]
    assert worker[0].write is False
