"""Issue 30 items 2 and 6, issue 25 item 7: the training log is rebuilt
from the state a run resumes from, and a run that fails before its first
step leaves its folder free."""

import os

import keras
import numpy as np
import pytest

from keras_clinclip.cli import main
from keras_clinclip.training import run_folder
from keras_clinclip.training.atomic_model_checkpoint import (
    AtomicModelCheckpoint,
)
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.fit_loop import fit_with_resume
from keras_clinclip.training.training_state_backup import TrainingStateBackup

pytestmark = pytest.mark.backend_independent


def _fit(folder, epochs=2, save_freq=0):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    data = [np.ones((8, 2), "float32"), np.ones((8, 1), "float32")]
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(tuple(data)).batch(4)
    log = folder / "training_log.csv"
    callbacks = [
        keras.callbacks.CSVLogger(str(log), append=True),
        TrainingStateBackup(folder / "backup", save_freq, log_csv=log),
    ]
    fit_with_resume(model, dataset, epochs, 2, callbacks=callbacks, verbose=0)
    return log


def _epochs(log):
    lines = log.read_bytes().split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in line for line in lines)
    return [int(line.split(b",")[0]) for line in lines[1:-1]]


def test_a_rerun_from_step_0_starts_the_log_afresh(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_bytes(b"epoch,loss\r\n0,1.0\r\n")  # an earlier, killed try
    assert _epochs(_fit(tmp_path)) == [0, 1]
    # The way out a corrupt state's message gives: delete backup/, rerun.
    for path in (tmp_path / "backup").iterdir():
        path.unlink()
    assert _epochs(_fit(tmp_path)) == [0, 1]


def test_a_resumed_log_keeps_the_rows_of_its_state_with_one_ending(tmp_path):
    _fit(tmp_path, epochs=1)  # a backup at step 2, the log holds epoch 0
    log = tmp_path / "training_log.csv"
    with open(log, "ab") as handle:
        handle.write(b"1,9.9\r\n")  # a row written after the backup
    assert _epochs(_fit(tmp_path, epochs=3)) == [0, 1, 2]


def test_a_failed_checkpoint_write_leaves_no_temporary_file(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")

    def full_disk(path, *args, **kwargs):
        open(path, "wb").write(b"partial")
        raise OSError(28, "No space left on device", str(path))

    model.save_weights = full_disk
    checkpoint = AtomicModelCheckpoint(
        str(tmp_path / "e{epoch}.weights.h5"), save_weights_only=True
    )
    with pytest.raises(OSError):
        model.fit(
            np.ones((4, 2)), np.ones((4, 1)), callbacks=[checkpoint], verbose=0
        )
    assert os.listdir(tmp_path) == []


def test_a_run_that_fails_before_its_first_step_holds_no_folder(
    tmp_path, capsys
):
    run = tmp_path / "run"
    table = tmp_path / "t.csv"
    table.write_text("image_path,text\na.png,Edema.\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("image_path,report\na.png,\n")
    keras.utils.save_img(tmp_path / "a.png", np.zeros((32, 32, 1)))
    good = tmp_path / "good.csv"
    good.write_text("image_path,report\n" + "a.png,Edema.\n" * 8)
    bare = tmp_path / "bare.npz"  # saved records without report graphs
    np.savez(
        bare,
        id=[str(i) for i in range(8)],
        image_path=[str(tmp_path / "a.png")] * 8,
        report=["Edema."] * 8,
        labels=np.full((8, 14), np.nan, np.float32),
        split=["train"] * 8,
    )
    options = ["--output-dir", str(run), "--text-encoder", "tiny"]
    options += ["--image-encoder", "tiny", "--image-size", "32"]
    cases = [
        (tmp_path / "nothere.csv", [], "is no existing file or known name"),
        (table, [], "no column 'report' (report_column); the columns are: "),
        (empty, [], "line 2): empty 'report'"),
        (good, [], "fewer than one batch (--batch-size 32): lower"),
        (bare, ["--batch-size", "2", "--loss", "g"], "--loss g uses report"),
    ]
    for dataset, extra, expected in cases:
        argv = ["train", "--dataset", str(dataset), *options, *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        # Progress lines (the labeler's summary) may come first; the
        # mistake itself is one line.
        lines = [line for line in err.splitlines() if "error:" in line]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert expected in lines[0], lines[0]
        assert not (run / "config.json").exists()


def test_export_mistakes_and_a_running_run_are_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_bytes(b"not hdf5")
    cases = [
        (["export", str(run)], "not a JSON config file"),
        (["export", str(run), "--weights", str(garbage)], "not a JSON"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
    TrainingConfig(output_dir=str(run)).save(run / "config.json")
    with run_folder.RunLock(run):
        assert main(["export", str(run)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is in use by a training run" in err
    assert not (run / "preset").exists()
