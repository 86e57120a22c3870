"""Each recipe trains a few steps of the real ClinCLIP (tiny towers, the
full loss) on its engine: TensorFlow over 2 logical CPU devices
(MirroredStrategy), JAX over 2 forced host devices (DataParallel), torch in
one process. Each runs in a fresh subprocess, under its own backend's pass
of the suite."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = [
    "--dataset=synthetic",
    "--num-samples=48",
    "--image-size=32",
    "--max-length=16",
    "--image-encoder=tiny",
    "--text-encoder=tiny",
    "--embed-dim=16",
    "--batch-size=8",
    "--epochs=1",
    "--steps-per-epoch=2",
    "--no-tensorboard",
    "--verbose=2",
    "--loss=full",
]
RECIPES = {
    "tensorflow": (
        "train_tf_gpu.py",
        ["--num-cpu-devices=2"],
        2,
        "MirroredStrategy",
    ),
    "jax": ("train_jax_tpu.py", ["--num-cpu-devices=2"], 2, "DataParallel"),
    "torch": ("train_torch.py", [], 1, "one cpu device"),
}


@pytest.mark.distributed
def test_recipe_trains_on_its_engine(tmp_path):
    backend = keras.backend.backend()
    script, extra, replicas, engine = RECIPES[backend]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "recipes" / script),
            *TINY,
            *extra,
            f"--output-dir={tmp_path}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"FINISHED steps=2 start=0 replicas={replicas}" in output, output
    assert engine in output
    # The run wrote its log, backup, weights and a loadable preset.
    log = (tmp_path / "training_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch") and len(log) == 2
    assert (tmp_path / "backup" / "latest.json").exists()
    assert (tmp_path / "final.weights.h5").stat().st_size > 0
    assert (tmp_path / "preset" / "config.json").exists()
