"""Run `plain_fit.py` as a user would, in fresh processes on 127.0.0.1."""

import json
import os
import pathlib
import signal
import sys

import numpy as np

from tests.processes import free_ports
from tests.processes import start

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "user_scripts" / "plain_fit.py"


def env(backend, **extra):
    values = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        PYTHONPATH=str(ROOT),
    )
    for key in ("TF_CONFIG", "XLA_FLAGS", "KERAS_CLINCLIP_WORKAROUNDS_OFF"):
        values.pop(key, None)
    values.update(extra)
    return values


def _finish(processes, timeout):
    """Wait for all; kill every process group on a time-out or failure."""
    outputs = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=timeout)
            outputs.append((process.returncode, output))
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return outputs


def run(mode, out, backend, steps=2, timeout=240, **extra):
    """One process of `plain_fit.py`; returns (returncode, output)."""
    command = [sys.executable, str(SCRIPT), mode, str(out), str(steps)]
    return _finish([start(command, env(backend, **extra))], timeout)[0]


def run_multiworker(tmp_path, steps=2, timeout=240, **extra):
    """Two TF workers over TF_CONFIG on 127.0.0.1."""
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        config = {
            "cluster": cluster,
            "task": {"type": "worker", "index": index},
        }
        command = [
            sys.executable,
            str(SCRIPT),
            "multiworker",
            str(tmp_path / f"worker{index}.npz"),
            str(steps),
        ]
        processes.append(
            start(
                command,
                env("tensorflow", TF_CONFIG=json.dumps(config), **extra),
            )
        )
    return _finish(processes, timeout)


def run_torchrun(tmp_path, steps=2, timeout=240):
    (port,) = free_ports(1)
    torchrun = pathlib.Path(sys.executable).parent / "torchrun"
    command = [
        str(torchrun),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        str(SCRIPT),
        "torch_ddp",
        str(tmp_path / "rank.npz"),
        str(steps),
    ]
    return _finish([start(command, env("torch"))], timeout)[0]


def weights(path):
    with np.load(path) as data:
        keys = sorted(data, key=lambda k: int(k.split("_")[1]))
        return [data[k] for k in keys]


def max_difference(a, b):
    first, second = weights(a), weights(b)
    assert len(first) == len(second)
    return max(float(np.abs(x - y).max()) for x, y in zip(first, second))
