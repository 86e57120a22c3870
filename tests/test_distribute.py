"""Distribution: exact equivalence with one device on the global batch.

Each check runs in a subprocess (device set-up must happen before the
backend starts) and only under the backend it is about, so it runs once.
"""

import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_clinclip.backend import collectives
from keras_clinclip.losses import SoftLabelContrastive
from tests.losses import reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "tests", "losses")


def _run(script, *args, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, os.path.join(SCRIPTS, script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_single_device_helpers_are_identities():
    x = np.arange(6, dtype="float32").reshape(3, 2)
    assert collectives.num_replicas() == 1
    assert int(collectives.replica_id()) == 0
    assert int(collectives.replica_offset(3)) == 0
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(collectives.all_gather(x)), x
    )


@pytest.mark.distributed
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="runs once, under TF"
)
def test_tf_mirrored_step_equals_single_device_step():
    result = _run("dist_tf_mirrored.py")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK" in result.stdout


@pytest.mark.distributed
@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="runs once, under JAX"
)
def test_jax_data_parallel_step_equals_single_device_step():
    result = _run("dist_jax_data_parallel.py")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK" in result.stdout


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.distributed
@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="runs once, under torch"
)
def test_torch_gloo_gather_gives_the_global_loss_and_gradient(tmp_path):
    world, port = 2, _free_port()
    env = dict(os.environ, PYTHONPATH=ROOT)
    outs = [tmp_path / f"rank{r}.npz" for r in range(world)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                os.path.join(SCRIPTS, "dist_torch_gloo.py"),
                str(rank),
                str(world),
                str(port),
                str(outs[rank]),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(world)
    ]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-3000:]
    ranks = [np.load(out) for out in outs]
    assert [int(r["offset"]) for r in ranks] == [0, 4]

    # The single-process loss and gradient on the global batch.
    import torch

    y_true, y_pred = reference.random_batch(n=8, seed=0)
    keys = ("image_embeddings", "text_embeddings", "negation_embeddings")
    leaves = {k: torch.tensor(y_pred[k], requires_grad=True) for k in keys}
    loss = SoftLabelContrastive(negation_soft_targets=True)
    value = loss(y_true, dict(y_pred, **leaves))
    value.backward()
    # Per-process losses are means of local rows: their mean is the global
    # loss; DDP averages gradients, so each rank's gradient / world is the
    # global gradient of its rows.
    np.testing.assert_allclose(
        np.mean([float(r["loss"]) for r in ranks]), float(value), rtol=1e-5
    )
    for key in keys:
        gathered = np.concatenate([r[key] for r in ranks]) / world
        np.testing.assert_allclose(
            gathered, leaves[key].grad.numpy(), rtol=1e-4, atol=1e-6
        )
