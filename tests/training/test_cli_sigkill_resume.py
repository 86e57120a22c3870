"""`clinclip train` killed twice with SIGKILL, then rerun, ends with the
weights of an uninterrupted run (issue 19, case 6), augmentation on, and
its `training_log.csv` holds every epoch's row exactly once.

The kills land after the backup of step >= 3 (mid-epoch 1) and of step
>= 8 (the end of epoch 2: the case that used to lose that epoch's row).

Status (open bug, strict expected failure on JAX and PyTorch): the CSV
rows are right, but the weights are not. Measured on JAX: the epoch-1
checkpoint (step 4, after resuming at step 3) is bit-identical, the
epoch-2 one is not (117 of 125 arrays, up to 0.05; 0.16 at the end); two
uninterrupted runs are bit-identical. Likely cause: the shuffle and
`Dataset.random` of `make_dataset` re-draw their per-pass seeds from a
TF seed generator shared by every dataset built with the same seed in a
process; the resumed process's first, one-step `fit` prefetches into
pass 1 and advances it, so the second `fit`'s pass 1 gets other seeds.
(A run whose epochs do not end on a data pass, e.g. 64 rows and 5 steps
per epoch, resumed bit-exactly.) The fix: per-pass seeds derived from
(seed, pass) with `reshuffle_each_iteration=False`. TensorFlow passed at
1e-6 (106 of 125 arrays differ by at most 4e-9).
"""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EPOCHS, STEPS = 3, 4
KILLS = (3, 8)
TIMEOUT = 1500  # seconds per process (a loaded 2-core machine is slow)


def _command(output_dir):
    options = {
        "dataset": "synthetic",
        "num_samples": 48,
        "image_size": 32,
        "image_encoder": "tiny",
        "text_encoder": "tiny",
        "embed_dim": 16,
        "max_length": 16,
        "batch_size": 8,
        "epochs": EPOCHS,
        "steps_per_epoch": STEPS,
        "save_freq": 1,
        "tensorboard": "false",
        "verbose": 0,
        "output_dir": output_dir,
    }
    command = [sys.executable, "-m", "keras_clinclip", "train"]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    return command


def _start(output_dir):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen(
        _command(output_dir),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _backup_step(output_dir):
    state = pathlib.Path(output_dir) / "backup" / "latest.json"
    try:
        return json.loads(state.read_text())["step"]
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def _kill_after(output_dir, step):
    process = _start(output_dir)
    deadline = time.time() + TIMEOUT
    while _backup_step(output_dir) < step:
        if process.poll() is not None:
            pytest.fail(
                f"train ended (rc {process.returncode}) before step "
                f"{step}: {process.stderr.read()[-3000:]}"
            )
        assert time.time() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    return _backup_step(output_dir)


def _finish(process):
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err[-3000:]


def _weights(path):
    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return arrays


@pytest.mark.slow
@pytest.mark.xfail(
    keras.backend.backend() in ("jax", "torch"),
    strict=True,
    reason="open bug (issue 19): per-pass shuffle/augmentation seeds come "
    "from a TF seed generator shared within the process; see the docstring",
)
def test_sigkill_twice_then_rerun_equals_an_uninterrupted_run(tmp_path):
    reference = _start(tmp_path / "ref")  # runs alongside the killed run
    run_dir = tmp_path / "run"
    killed = [_kill_after(run_dir, step) for step in KILLS]
    assert not (run_dir / "final.weights.h5").exists()
    assert killed[0] < killed[1] < EPOCHS * STEPS, killed
    rerun = _start(run_dir)
    _finish(rerun)
    _finish(reference)

    ref = _weights(tmp_path / "ref" / "final.weights.h5")
    got = _weights(run_dir / "final.weights.h5")
    assert sorted(ref) == sorted(got)
    atol = 1e-6 if keras.backend.backend() == "tensorflow" else 0.0
    differing = [
        (name, float(np.max(np.abs(ref[name] - got[name]))))
        for name in ref
        if not np.allclose(ref[name], got[name], rtol=0.0, atol=atol)
    ]
    assert not differing, f"{len(differing)} of {len(ref)}: {differing[:5]}"

    with open(run_dir / "training_log.csv") as file:
        epochs = [int(row["epoch"]) for row in csv.DictReader(file)]
    assert epochs == list(range(EPOCHS))
