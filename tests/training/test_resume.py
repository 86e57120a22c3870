"""A training process killed with SIGKILL mid-epoch and restarted with the
same command continues from its last backup and ends like an uninterrupted
run: same step count and (deterministic CPU) the same weights."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "training" / "standin.py"
EPOCHS, STEPS = 2, 6


def _command(output_dir, dump, sleep=0.0):
    return [
        sys.executable,
        str(SCRIPT),
        "--output_dir",
        str(output_dir),
        "--dump",
        str(dump),
        "--epochs",
        str(EPOCHS),
        "--steps_per_epoch",
        str(STEPS),
        "--save_freq",
        "2",
        "--sleep",
        str(sleep),
    ]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _load(path):
    with np.load(path) as data:
        keys = sorted(
            (k for k in data if k.startswith("arr_")),
            key=lambda k: int(k.split("_")[1]),
        )
        return int(data["steps"]), int(data["start"]), [data[k] for k in keys]


def _backup_step(output_dir):
    state = pathlib.Path(output_dir) / "backup" / "latest.json"
    try:
        return json.loads(state.read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the resume machinery is backend-agnostic (Keras callbacks and "
    "tf.data); it runs once, in the JAX pass, to keep the suite short",
)
def test_sigkill_mid_epoch_then_resume(tmp_path):
    reference = subprocess.run(
        _command(tmp_path / "ref", tmp_path / "ref.npz"),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reference.returncode == 0, reference.stderr[-3000:]

    # Slow the run down (0.25 s per step) so we can kill it mid-epoch, after
    # the backup of step 2 and before the end of epoch 1 (step 6).
    run_dir = tmp_path / "run"
    command = _command(run_dir, tmp_path / "run.npz", sleep=0.25)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    while _backup_step(run_dir) < 2 and time.time() < deadline:
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.05)
    killed_at = _backup_step(run_dir)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert 2 <= killed_at < STEPS, killed_at  # mid-epoch 1
    assert not (tmp_path / "run.npz").exists()

    resumed = subprocess.run(
        command,
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    ref_steps, ref_start, ref_weights = _load(tmp_path / "ref.npz")
    steps, start, weights = _load(tmp_path / "run.npz")
    assert ref_start == 0
    assert start >= killed_at and start % STEPS != 0  # restarted mid-epoch
    assert steps == ref_steps == EPOCHS * STEPS
    # Same batches, same optimizer state: on CPU the same weights.
    for a, b in zip(weights, ref_weights):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    # The CSV log holds one row per epoch run (the interrupted epoch is
    # logged once, by the resumed run).
    rows = (run_dir / "training_log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + EPOCHS
