"""The JAX multi-host path (`jax.distributed.initialize`, every TPU pod's)
on loopback: two processes of `recipes/train_jax_tpu.py` on 127.0.0.1, one
CPU device each, gloo collectives. Each process feeds its slice of every
global batch through the project's data path; together they must end with
identical weights, equal to one process on the same global batches, and a
job that loses a process to SIGKILL mid-epoch must resume to the weights of
the uninterrupted job.

Run as a script, this file is the child process: it runs the recipe with
test hooks read from the environment (see `_child`).
"""

import json
import os
import pathlib
import signal
import sys
import time

import keras
import numpy as np
import pytest

from tests.processes import free_ports  # noqa: F401 (used by test_multi_worker_resume)
from tests.processes import start

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "train_jax_tpu.py"
EPOCHS, STEPS = 2, 4
FLAGS = [
    "--dataset=synthetic",
    "--num-samples=64",
    "--image-encoder=tiny",
    "--text-encoder=tiny",
    "--image-size=32",
    "--max-length=16",
    "--batch-size=8",
    f"--epochs={EPOCHS}",
    f"--steps-per-epoch={STEPS}",
    "--loss=n_dtc",
    # A small step: at 0.01 the float32 differences of the two summation
    # orders grew chaotically to 1.5e-3 in 8 steps on some batch orders; at
    # 5e-4 they stay at 1e-7, while the local-negatives mutation (each
    # process its own batch) still ends 2.5e-3 away.
    "--learning-rate=0.0005",
    "--save-freq=1",
    "--no-tensorboard",
    "--no-validate",
    "--verbose=0",
]
TIMEOUT = 240  # seconds for one run of the job

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "jax",
        reason="jax.distributed multi-host is a JAX engine test",
    ),
]


# --- process handling (shared with test_multi_worker_resume.py) -----------
def descendants(pid):
    """The pids of the processes below `pid` (torchrun's workers start
    sessions of their own, out of its process group)."""
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as file:
                parents[int(entry)] = int(
                    file.read().rsplit(")", 1)[1].split()[1]
                )
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def kill(processes):
    """SIGKILL `processes` that still run, their groups and descendants."""
    for process in processes:
        if process.poll() is None:
            for pid in descendants(process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.communicate()


def finish(processes, timeout=TIMEOUT):
    """Wait for all `processes`; their outputs. Kills them all on failure."""
    deadline = time.time() + timeout
    outputs = []
    try:
        for process in processes:
            left = max(deadline - time.time(), 1)
            output, _ = process.communicate(timeout=left)
            outputs.append(output)
            assert process.returncode == 0, output[-4000:]
    finally:
        kill(processes)
    return outputs


def backup_step(output_dir):
    """The step of the latest backup in `output_dir` (0 when none)."""
    state = pathlib.Path(output_dir) / "backup" / "latest.json"
    try:
        return int(json.loads(state.read_text())["step"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_for_backup(processes, output_dir, step, timeout=TIMEOUT):
    """Wait until a backup of at least `step` exists; the step reached."""
    deadline = time.time() + timeout
    while backup_step(output_dir) < step:
        for process in processes:
            if process.poll() is not None:
                output = process.communicate()[0]
                raise AssertionError(f"exited early: {output[-4000:]}")
        assert time.time() < deadline, "no backup in time"
        time.sleep(0.05)
    return backup_step(output_dir)


def load_dump(path):
    """`(steps, start, weights)` of a child's `--dump`/`CLINCLIP_TEST_DUMP`."""
    with np.load(path) as data:
        keys = sorted(
            (k for k in data if k.startswith("arr_")),
            key=lambda k: int(k.split("_")[1]),
        )
        return (
            int(data["steps"]),
            int(data["start"]),
            [data[k] for k in keys],
        )


def max_difference(first, second):
    assert len(first) == len(second)
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second))


# --- the JAX job -----------------------------------------------------------
def _env(**extra):
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(ROOT),
    )
    for key in ("XLA_FLAGS", "TF_CONFIG", "CLINCLIP_TEST_MUTATION"):
        env.pop(key, None)
    env.update(extra)
    return env


def start_job(output_dir, dump, processes=2, sleep=0.0, **env):
    """The recipe as `processes` processes (1: no multi-host flags)."""
    (port,) = free_ports(1)
    children = []
    for index in range(processes):
        flags = list(FLAGS) + [f"--output-dir={output_dir}"]
        if processes > 1:
            flags += [
                f"--coordinator-address=127.0.0.1:{port}",
                f"--num-processes={processes}",
                f"--process-id={index}",
            ]
        children.append(
            start(
                [sys.executable, __file__, *flags],
                _env(
                    CLINCLIP_TEST_DUMP=str(dump),
                    CLINCLIP_TEST_SLEEP=str(sleep),
                    **env,
                ),
            )
        )
    return children


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Dumps of the two-process job and of the single-process run."""
    folder = tmp_path_factory.mktemp("jax_multi_host")
    jobs = start_job(folder / "multi", folder / "multi{rank}.npz")
    jobs += start_job(folder / "single", folder / "single.npz", processes=1)
    outputs = finish(jobs)
    for output in outputs:
        assert "FINISHED steps=8" in output, output[-2000:]
    assert "replicas=2" in outputs[0] and "replicas=1" in outputs[2]
    return folder


def test_two_processes_match_single_process(uninterrupted):
    steps0, _, w0 = load_dump(uninterrupted / "multi0.npz")
    steps1, _, w1 = load_dump(uninterrupted / "multi1.npz")
    steps, _, single = load_dump(uninterrupted / "single.npz")
    assert steps0 == steps1 == steps == EPOCHS * STEPS
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    # One step on 2 processes is one step on the global batch (1e-4: the
    # float32 sums run in another order).
    assert max_difference(w0, single) < 1e-4
    # Only the chief wrote the run's files.
    assert (uninterrupted / "multi" / "final.weights.h5").exists()


def test_sigkill_one_process_mid_epoch_then_resume(uninterrupted, tmp_path):
    run_dir, dump = tmp_path / "run", tmp_path / "run{rank}.npz"
    jobs = start_job(run_dir, dump, sleep=0.5)
    try:
        killed_at = wait_for_backup(jobs, run_dir, 2)
        os.killpg(jobs[1].pid, signal.SIGKILL)  # lose one worker
        jobs[1].communicate(timeout=30)
        assert jobs[1].returncode == -signal.SIGKILL
    finally:
        kill(jobs)  # the scheduler stops the rest of the job
    assert 2 <= killed_at < STEPS, killed_at  # mid-epoch 1
    assert not (tmp_path / "run0.npz").exists()

    finish(start_job(run_dir, dump))  # the same job, restarted

    _, _, reference = load_dump(uninterrupted / "multi0.npz")
    for rank in range(2):
        steps, start_step, weights = load_dump(tmp_path / f"run{rank}.npz")
        assert steps == EPOCHS * STEPS
        assert killed_at <= start_step < STEPS  # resumed mid-epoch 1
        # Same batches, same optimizer state: the uninterrupted weights
        # (on CPU the runs are deterministic; 1e-5 leaves float32 room).
        assert max_difference(weights, reference) < 1e-5


# --- the child process -----------------------------------------------------
def _child(argv):
    """Run the recipe with the test hooks of the environment.

    - `CLINCLIP_TEST_DUMP`: write the final weights, steps and start step
      of process `{rank}` to this `.npz` path;
    - `CLINCLIP_TEST_SLEEP`: sleep this long after each step (to be killed
      mid-epoch);
    - `CLINCLIP_TEST_MUTATION=local_negatives`: each process's rows are
      their own batch in the losses (no cross-process negatives); the
      first test must then fail (checked by hand, see docs/training.md).
    """
    import runpy

    from keras_clinclip.training import train as train_lib

    original = train_lib.train
    sleep = float(os.environ.get("CLINCLIP_TEST_SLEEP") or 0)

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(sleep)

    def train(config, setup=None, callbacks=(), **kwargs):
        callbacks = list(callbacks) + ([Slow()] if sleep else [])
        result = original(config, setup=setup, callbacks=callbacks, **kwargs)
        path = os.environ.get("CLINCLIP_TEST_DUMP")
        if path:
            weights = [
                keras.ops.convert_to_numpy(w)
                for w in result.model.trainable_weights
            ]
            np.savez(
                path.format(rank=setup.process_index),
                steps=result.steps,
                start=result.start_step,
                **{f"arr_{i}": w for i, w in enumerate(weights)},
            )
        return result

    train_lib.train = train
    if os.environ.get("CLINCLIP_TEST_MUTATION") == "local_negatives":
        _local_negatives(parts=2)
    sys.argv = [str(RECIPE), *argv]
    runpy.run_path(str(RECIPE), run_name="__main__")


def _local_negatives(parts):
    """Mutation: the losses see each process's rows as a separate batch."""
    from keras_clinclip.losses.pairwise_loss import PairwiseSoftTargetLoss

    original = PairwiseSoftTargetLoss.__call__

    def call(self, y_true, y_pred, sample_weight=None):
        n = y_pred["image_embeddings"].shape[0]
        size = n // parts

        def cut(values, i):
            return {
                key: value[i * size : (i + 1) * size]
                if len(value.shape) and value.shape[0] == n
                else value
                for key, value in values.items()
            }

        losses = [
            original(self, cut(y_true, i), cut(y_pred, i), sample_weight)
            for i in range(parts)
        ]
        return sum(losses) / parts

    PairwiseSoftTargetLoss.__call__ = call


if __name__ == "__main__":
    _child(sys.argv[1:])
