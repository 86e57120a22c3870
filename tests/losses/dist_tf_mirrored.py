"""One fit step under tf.distribute.MirroredStrategy on 2 logical CPUs equals
one step on one device with the same global batch. Run as a script."""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from keras_clinclip.backend import collectives  # noqa: E402
from keras_clinclip.losses import GraphAlignment  # noqa: E402
from keras_clinclip.losses import SoftLabelContrastive  # noqa: E402
from tests.losses.tiny_model import assert_same_step  # noqa: E402
from tests.losses.tiny_model import tiny_data  # noqa: E402
from tests.losses.tiny_model import tiny_model  # noqa: E402


def losses(chunk_size=None):
    return [
        SoftLabelContrastive(negation_soft_targets=True, chunk_size=chunk_size),
        GraphAlignment(sources=("clinical",), chunk_size=chunk_size),
    ]


def one_step(strategy=None, chunk_size=None):
    x, y = tiny_data(n=8)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(
        8, drop_remainder=True
    )
    scope = strategy.scope() if strategy else _null()
    with scope:
        model = tiny_model(seed=0)
        model.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=losses(chunk_size),
            loss_weights=[1.0, 0.5],
        )
    history = model.fit(dataset, epochs=1, verbose=0)
    return [np.asarray(w) for w in model.get_weights()], history


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def main():
    single, single_history = one_step()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2

    def replicas():
        return tf.constant(collectives.num_replicas())

    seen = strategy.experimental_local_results(strategy.run(replicas))
    assert [int(v) for v in seen] == [2, 2], seen
    mirrored, mirrored_history = one_step(strategy)
    initial = [np.asarray(w) for w in tiny_model(seed=0).get_weights()]
    moved = max(np.abs(a - b).max() for a, b in zip(single, initial))
    assert moved > 1e-3, f"the step did not move the weights ({moved})"
    assert_same_step(
        (single, single_history), (mirrored, mirrored_history), "mirrored"
    )
    # Row blocks inside each replica (4 local rows: one block of 3 in the
    # scan, then a tail of 1) give the same step.
    chunked = one_step(strategy, chunk_size=3)
    assert_same_step((single, single_history), chunked, "chunked")
    print("OK")


if __name__ == "__main__":
    main()
