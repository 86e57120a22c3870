"""Ctrl-C stops `clinclip train` under JAX too (exit 130), and says that
rerunning the same command resumes (issue 25, item 4)."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

# A training subprocess stopped by a signal: in `make test`, not in
# `make test-fast`.
pytestmark = [pytest.mark.backend_independent, pytest.mark.slow]

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_a_jax_run_with_exit_130(tmp_path):
    output = tmp_path / "run"
    command = [
        sys.executable, "-m", "keras_clinclip", "train",
        "--dataset", "synthetic", "--num-samples", "64",
        "--image-size", "32", "--image-encoder", "tiny",
        "--text-encoder", "tiny", "--embed-dim", "16", "--max-length", "16",
        "--batch-size", "8", "--epochs", "1000", "--save-freq", "2",
        "--loss", "clip", "--no-validate", "--no-tensorboard",
        "--verbose", "0", "--output-dir", str(output),
    ]  # fmt: skip
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        JAX_PLATFORMS="cpu",
    )
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Interrupt once training runs: after the first backup.
        deadline = time.time() + 300
        while not (output / "backup" / "latest.json").exists():
            assert process.poll() is None, process.communicate()
            assert time.time() < deadline, "no backup within 300 s"
            time.sleep(0.5)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err[-3000:]
    assert "rerun the same command to resume" in err
    assert "Traceback" not in err
