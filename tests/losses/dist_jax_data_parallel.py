"""One fit step under keras.distribution.DataParallel over 2 forced host
devices equals one step on one device with the same global batch. Run as a
script (it sets XLA_FLAGS before importing JAX)."""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=2"
)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from keras_clinclip.losses import GraphAlignment  # noqa: E402
from keras_clinclip.losses import SoftLabelContrastive  # noqa: E402
from tests.losses.tiny_model import assert_same_step  # noqa: E402
from tests.losses.tiny_model import tiny_data  # noqa: E402
from tests.losses.tiny_model import tiny_model  # noqa: E402


def one_step(chunk_size=None):
    x, y = tiny_data(n=8)
    model = tiny_model(seed=0)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=[
            SoftLabelContrastive(
                negation_soft_targets=True, chunk_size=chunk_size
            ),
            GraphAlignment(sources=("clinical",), chunk_size=chunk_size),
        ],
        loss_weights=[1.0, 0.5],
    )
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()], history


def main():
    devices = jax.devices()
    assert len(devices) == 2, devices
    single, single_history = one_step()
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    # The global batch is really split over the 2 devices.
    layout = distribution.get_data_layout((8, 6))
    sharded = jax.device_put(np.zeros((8, 6), "float32"), layout.backend_layout)
    assert len({s.device for s in sharded.addressable_shards}) == 2
    parallel, parallel_history = one_step()
    initial = [np.asarray(w) for w in tiny_model(seed=0).get_weights()]
    moved = max(np.abs(a - b).max() for a, b in zip(single, initial))
    assert moved > 1e-3, f"the step did not move the weights ({moved})"
    assert_same_step(
        (single, single_history), (parallel, parallel_history), "data parallel"
    )
    # Row blocks of the sharded global batch (8 rows: two blocks of 3 in
    # the scan, then a tail of 2) give the same step.
    chunked = one_step(chunk_size=3)
    assert_same_step((single, single_history), chunked, "chunked")
    print("OK")


if __name__ == "__main__":
    main()
