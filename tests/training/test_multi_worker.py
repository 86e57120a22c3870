"""Two worker processes train together and end with identical weights,
equal to the single-process run on the same global batches: TensorFlow
(MultiWorkerMirroredStrategy over TF_CONFIG on 127.0.0.1) in the TF pass,
torch (`torchrun`, gloo on 127.0.0.1, the recipe's DDP set-up) in the torch
pass."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.processes import free_ports

pytestmark = pytest.mark.distributed
only_tf = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="MultiWorkerMirroredStrategy is a TensorFlow engine test",
)
only_torch = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="torchrun + DDP is a torch engine test",
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "training" / "standin.py"


_free_ports = free_ports


def _env(backend="tensorflow", **extra):
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
    )
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _weights(path):
    with np.load(path) as data:
        keys = sorted(
            (k for k in data if k.startswith("arr_")),
            key=lambda k: int(k.split("_")[1]),
        )
        return int(data["steps"]), [data[k] for k in keys]


@only_tf
def test_two_workers_match_single_process(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    common = ["--epochs", "2", "--steps_per_epoch", "3", "--batch_size", "8"]
    workers = []
    for index in range(2):
        tf_config = {
            "cluster": cluster,
            "task": {"type": "worker", "index": index},
        }
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(SCRIPT),
                    "--engine",
                    "tf-multiworker",
                    "--output_dir",
                    str(tmp_path / "multi"),
                    "--dump",
                    str(tmp_path / f"worker{index}.npz"),
                    *common,
                ],
                cwd=ROOT,
                env=_env(TF_CONFIG=json.dumps(tf_config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    _run_single(tmp_path, common, "tensorflow")
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output[-3000:]

    _assert_same_weights(tmp_path, "worker0.npz", "worker1.npz")


@only_torch
def test_torchrun_two_processes_match_single_process(tmp_path):
    (port,) = _free_ports(1)
    common = ["--epochs", "2", "--steps_per_epoch", "3", "--batch_size", "8"]
    torchrun = pathlib.Path(sys.executable).parent / "torchrun"
    ddp = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node=2",
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
            str(SCRIPT),
            "--engine",
            "torch-ddp",
            "--output_dir",
            str(tmp_path / "ddp"),
            "--dump",
            str(tmp_path / "rank{rank}.npz"),
            *common,
        ],
        cwd=ROOT,
        env=_env("torch", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ddp.returncode == 0, (ddp.stdout + ddp.stderr)[-4000:]
    _run_single(tmp_path, common, "torch")
    _assert_same_weights(tmp_path, "rank0.npz", "rank1.npz")


def _run_single(tmp_path, common, backend):
    """The single-process run on the same global batches."""
    single = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--engine",
            "single",
            "--output_dir",
            str(tmp_path / "single"),
            "--dump",
            str(tmp_path / "single.npz"),
            *common,
        ],
        cwd=ROOT,
        env=_env(backend),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 0, single.stdout + single.stderr


def _assert_same_weights(tmp_path, first, second):
    """Both workers: same steps and weights, equal to the single run."""
    steps0, w0 = _weights(tmp_path / first)
    steps1, w1 = _weights(tmp_path / second)
    steps_single, w_single = _weights(tmp_path / "single.npz")
    assert steps0 == steps1 == steps_single == 6
    initial = [keras.ops.convert_to_numpy(w) for w in _initial_weights()]
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(w_single, initial))
    assert moved > 1e-3  # training really changed the weights
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(w0, w_single):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


def _initial_weights():
    sys.path.insert(0, str(ROOT))
    from tests.training import standin

    keras.utils.set_random_seed(0)
    return standin.make_model().trainable_weights
