"""Run folders (issue 19, cases 6 and 8): one run at a time, one config
per folder, `config.json` written only once accepted."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from keras_clinclip.cli import train as train_options
from keras_clinclip.training import run_folder
from keras_clinclip.training import train as train_lib
from keras_clinclip.training.config import TrainingConfig

pytestmark = pytest.mark.backend_independent


def test_second_lock_on_a_folder_is_refused_and_names_the_holder(tmp_path):
    with run_folder.RunLock(tmp_path):
        with pytest.raises(run_folder.RunFolderError) as info:
            run_folder.RunLock(tmp_path).acquire()
        assert str(tmp_path) in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)
    run_folder.RunLock(tmp_path).acquire().release()  # free again


def test_lock_of_a_sigkilled_process_is_released(tmp_path):
    holder = textwrap.dedent(
        f"""
        import time
        from keras_clinclip.training.run_folder import RunLock
        lock = RunLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "locked"
        with pytest.raises(run_folder.RunFolderError):
            run_folder.RunLock(tmp_path).acquire()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    run_folder.RunLock(tmp_path).acquire().release()


def test_train_on_a_locked_folder_stops_at_once(tmp_path):
    config = TrainingConfig(output_dir=str(tmp_path), verbose=0)
    with run_folder.RunLock(tmp_path):
        start = time.time()
        with pytest.raises(run_folder.RunFolderError, match="in use"):
            train_lib.train(config)
        assert time.time() - start < 5
    assert not (tmp_path / "config.json").exists()


def test_other_options_are_refused_before_config_json_is_written(tmp_path):
    first = TrainingConfig(output_dir=str(tmp_path))
    first.save(tmp_path / "config.json")
    before = (tmp_path / "config.json").read_text()
    other = first.replace(learning_rate=0.05, epochs=4, verbose=0)
    with pytest.raises(run_folder.RunFolderError) as info:
        train_lib.train(other)
    message = str(info.value)
    assert "\n" not in message
    assert "epochs 3 -> 4" in message and "learning_rate" in message
    assert "--restart" in message
    assert "verbose" not in message  # free options are not differences
    assert (tmp_path / "config.json").read_text() == before


def test_cli_prints_one_line_and_exits_1_on_other_options(tmp_path, capsys):
    import argparse

    TrainingConfig(output_dir=str(tmp_path)).save(tmp_path / "config.json")
    parser = argparse.ArgumentParser()
    train_options.add_arguments(parser)
    args = parser.parse_args(
        ["--output-dir", str(tmp_path), "--embed-dim", "32"]
    )
    assert train_lib.run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "embed_dim 128 -> 32" in err[0]
    assert json.loads((tmp_path / "config.json").read_text())["embed_dim"] == (
        128
    )


def test_restart_clears_only_the_run_outputs(tmp_path):
    config = TrainingConfig(output_dir=str(tmp_path))
    config.save(tmp_path / "config.json")
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "latest.json").write_text("{}")
    (tmp_path / "training_log.csv").write_text("epoch,loss\n")
    (tmp_path / "mine.txt").write_text("keep")
    assert not run_folder.check_run_config(
        config.replace(epochs=9), restart=True
    )
    assert sorted(os.listdir(tmp_path)) == ["mine.txt"]


def test_same_options_resume_and_old_configs_get_defaults(tmp_path):
    config = TrainingConfig(output_dir=str(tmp_path))
    saved = config.to_dict()
    del saved["on_error"]  # a config.json from before the field existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert run_folder.check_run_config(config.replace(verbose=0))


def test_unreadable_config_json_is_named(tmp_path):
    (tmp_path / "config.json").write_text('{"epochs": ')
    config = TrainingConfig(output_dir=str(tmp_path))
    with pytest.raises(run_folder.RunFolderError) as info:
        run_folder.check_run_config(config)
    assert "config.json" in str(info.value)
    assert "--restart" in str(info.value)
