"""TrainingStateBackup under faults (issue 19, cases 6-7): corrupt state
files named with the way out, the random state and the CSV log put back,
no backup at the last batch of an epoch (before the CSV row)."""

import json

import keras
import numpy as np
import pytest

from keras_clinclip.training.training_state_backup import CorruptStateError
from keras_clinclip.training.training_state_backup import TrainingStateBackup


def _model():
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def _backed_up(folder, log_csv=None):
    model = _model()
    backup = TrainingStateBackup(folder, save_freq=2, log_csv=log_csv)
    model.fit(
        np.ones((8, 2)),
        np.ones((8, 1)),
        batch_size=2,
        callbacks=[backup],
        verbose=0,
    )
    return model


@pytest.mark.parametrize(
    "damage",
    ["truncated_json", "json_without_step", "truncated_weights", "missing"],
)
def test_corrupt_state_files_are_named_with_the_way_out(tmp_path, damage):
    _backed_up(tmp_path)
    state = json.loads((tmp_path / "latest.json").read_text())
    weights = tmp_path / state["weights"]
    if damage == "truncated_json":
        bad = tmp_path / "latest.json"
        bad.write_text(bad.read_text()[:10])
    elif damage == "json_without_step":
        bad = tmp_path / "latest.json"
        bad.write_text(json.dumps({"weights": state["weights"]}))
    elif damage == "truncated_weights":
        bad = weights
        bad.write_bytes(bad.read_bytes()[:100])
    else:
        bad = tmp_path / "latest.json"
        weights.unlink()
    with pytest.raises(CorruptStateError) as info:
        TrainingStateBackup.restore(_model(), tmp_path)
    message = str(info.value)
    assert str(bad) in message
    assert "delete" in message and "--restart" in message


def test_state_of_another_model_is_named(tmp_path):
    _backed_up(tmp_path)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(CorruptStateError, match="cannot be loaded"):
        TrainingStateBackup.restore(other, tmp_path)


def test_restore_puts_back_seed_states_and_the_csv_log(tmp_path):
    inputs = keras.Input((2,))
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,1.0\n")
    backup = TrainingStateBackup(tmp_path / "b", save_freq=1, log_csv=log)
    model.fit(np.ones((4, 2)), np.ones((4, 1)), callbacks=[backup], verbose=0)
    seeds = [
        keras.ops.convert_to_numpy(v).tolist()
        for v in model.variables
        if "seed" in v.path
    ]
    assert seeds  # the dropout layer has a seed generator
    log.write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.2\n")  # rows after it
    fresh = keras.Model.from_config(model.get_config())
    fresh.compile(optimizer="sgd", loss="mse")
    before = [
        keras.ops.convert_to_numpy(v).tolist()
        for v in fresh.variables
        if "seed" in v.path
    ]
    assert before != seeds
    TrainingStateBackup.restore(fresh, tmp_path / "b", log_csv=log)
    after = [
        keras.ops.convert_to_numpy(v).tolist()
        for v in fresh.variables
        if "seed" in v.path
    ]
    assert after == seeds
    assert log.read_text() == "epoch,loss\n0,1.0\n"


def test_no_backup_at_the_last_batch_of_an_epoch(tmp_path):
    saved = []

    class Spy(TrainingStateBackup):
        def save(self):
            saved.append(int(self.model.optimizer.iterations))
            super().save()

    model = _model()
    model.fit(
        np.ones((8, 2)),
        np.ones((8, 1)),
        batch_size=2,
        epochs=2,
        callbacks=[Spy(tmp_path, save_freq=2)],
        verbose=0,
    )
    # Steps 4 and 8 end an epoch: saved once, by the epoch-end backup.
    assert saved == [2, 4, 6, 8]
