"""Resume under several workers: one worker of a two-worker job is killed
with SIGKILL mid-epoch, the job is restarted with the same command, and it
ends after the steps of an uninterrupted two-worker job with its weights.
TensorFlow (`MultiWorkerMirroredStrategy`, TF_CONFIG on 127.0.0.1) in the
TF pass, torch (`torchrun`, gloo on 127.0.0.1) in the torch pass; the JAX
multi-host job is in `test_multi_host.py`."""

import json
import os
import pathlib
import signal
import sys

import keras
import pytest

from tests.training.test_multi_host import descendants
from tests.training.test_multi_host import finish
from tests.training.test_multi_host import free_ports
from tests.training.test_multi_host import kill
from tests.training.test_multi_host import load_dump
from tests.training.test_multi_host import max_difference
from tests.training.test_multi_host import start
from tests.training.test_multi_host import wait_for_backup
from tests.training.test_multi_worker import _env

pytestmark = [pytest.mark.distributed, pytest.mark.slow]
ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "training" / "standin.py"
EPOCHS, STEPS = 2, 4
COMMON = [
    "--epochs",
    str(EPOCHS),
    "--steps_per_epoch",
    str(STEPS),
    "--batch_size",
    "8",
    "--save_freq",
    "1",
]


def _tf_job(output_dir, dump, sleep=0.0):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        config = {
            "cluster": cluster,
            "task": {"type": "worker", "index": index},
        }
        command = [
            sys.executable,
            str(SCRIPT),
            "--engine",
            "tf-multiworker",
            "--output_dir",
            str(output_dir),
            "--dump",
            str(dump).format(rank=index),
            "--sleep",
            str(sleep),
            *COMMON,
        ]
        workers.append(start(command, _env(TF_CONFIG=json.dumps(config))))
    return workers


def _torch_job(output_dir, dump, sleep=0.0):
    (port,) = free_ports(1)
    torchrun = pathlib.Path(sys.executable).parent / "torchrun"
    command = [
        str(torchrun),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        str(SCRIPT),
        "--engine",
        "torch-ddp",
        "--output_dir",
        str(output_dir),
        "--dump",
        str(dump),
        "--sleep",
        str(sleep),
        *COMMON,
    ]
    return [start(command, _env("torch", PYTHONPATH=str(ROOT)))]


def _rank_process(launcher, rank):
    """The pid of `rank` among the workers `launcher` (torchrun) started."""
    for pid in descendants(launcher.pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as file:
                environ = file.read().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return pid
    raise AssertionError(f"no process of rank {rank} under {launcher.pid}")


def _kill_one_then_resume(tmp_path, job, kill_one):
    """Run the reference job, a job killed mid-epoch, then its restart."""
    reference = job(tmp_path / "ref", tmp_path / "ref{rank}.npz")
    run_dir, dump = tmp_path / "run", tmp_path / "run{rank}.npz"
    killed = job(run_dir, dump, sleep=0.5)
    try:
        killed_at = wait_for_backup(killed, run_dir, 2)
        kill_one(killed)
    finally:
        kill(killed)  # the scheduler stops the rest of the job
    assert 2 <= killed_at < STEPS, killed_at  # mid-epoch 1
    assert not (tmp_path / "run0.npz").exists()
    finish(reference)
    finish(job(run_dir, dump))  # the same job, restarted

    _, _, expected = load_dump(tmp_path / "ref0.npz")
    for rank in range(2):
        steps, start_step, weights = load_dump(tmp_path / f"run{rank}.npz")
        assert steps == EPOCHS * STEPS
        assert killed_at <= start_step < STEPS  # resumed mid-epoch 1
        # The same batches and optimizer state: the uninterrupted weights.
        assert max_difference(weights, expected) < 1e-5


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="MultiWorkerMirroredStrategy is a TensorFlow engine test",
)
def test_tf_multi_worker_sigkill_one_worker_then_resume(tmp_path):
    def kill_worker_1(workers):
        os.killpg(workers[1].pid, signal.SIGKILL)
        workers[1].communicate(timeout=30)
        assert workers[1].returncode == -signal.SIGKILL

    _kill_one_then_resume(tmp_path, _tf_job, kill_worker_1)


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="torchrun + DDP is a torch engine test",
)
def test_torchrun_sigkill_one_rank_then_resume(tmp_path):
    def kill_rank_1(launchers):
        os.kill(_rank_process(launchers[0], 1), signal.SIGKILL)
        # torchrun sees the lost rank and ends the job.
        launchers[0].communicate(timeout=60)
        assert launchers[0].returncode != 0

    _kill_one_then_resume(tmp_path, _torch_job, kill_rank_1)
