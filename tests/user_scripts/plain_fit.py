"""A user's own training script: public API only, one engine per mode.

    python plain_fit.py MODE OUT.npz [STEPS]

MODE: `single` (any backend, one device), `mirrored` (TensorFlow,
MirroredStrategy over 2 logical CPUs), `multiworker` (TensorFlow,
MultiWorkerMirroredStrategy, one process per worker from TF_CONFIG),
`data_parallel` (JAX, keras.distribution.DataParallel over 2 CPU devices),
`torch_ddp` (PyTorch under torchrun, `torch_data_parallel`).

The data is one global batch of 8 studies (bool padding masks from
`make_dataset`, one negation each, report graphs), trained for STEPS
steps with the full method's losses; the final weights go to OUT.npz.
"""

import os
import sys

MODE, OUT = sys.argv[1], sys.argv[2]
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
GLOBAL_BATCH = 8

if MODE == "mirrored":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
if MODE == "data_parallel":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import contextlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_clinclip.data import NegationOptions  # noqa: E402
from keras_clinclip.data import make_dataset  # noqa: E402
from keras_clinclip.data import synthetic_pairs  # noqa: E402
from keras_clinclip.losses import GraphAlignment  # noqa: E402
from keras_clinclip.losses import SoftLabelContrastive  # noqa: E402
from keras_clinclip.models import tiny_clinclip_backbone  # noqa: E402
from keras_clinclip.models import tiny_clinclip_preprocessor  # noqa: E402
from keras_clinclip.reports import GRAPH_FEATURE_DIM  # noqa: E402

scope = contextlib.nullcontext()
rank, world = 0, 1
if MODE in ("mirrored", "multiworker"):
    import tensorflow as tf

    strategy = (
        tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        if MODE == "mirrored"
        else tf.distribute.MultiWorkerMirroredStrategy()
    )
    scope = strategy.scope()
    rank = strategy.cluster_resolver.task_id if MODE == "multiworker" else 0
elif MODE == "data_parallel":
    keras.distribution.set_distribution(keras.distribution.DataParallel())
elif MODE == "torch_ddp":
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])

records = synthetic_pairs(GLOBAL_BATCH, seed=3, image_size=32, num_negations=1)
if MODE == "torch_ddp":
    # Each process reads its slice of the global batch.
    size = GLOBAL_BATCH // world
    records = {
        key: value[rank * size : (rank + 1) * size]
        if hasattr(value, "__len__") and len(value) == GLOBAL_BATCH
        else value
        for key, value in records.items()
    }
preprocessor = tiny_clinclip_preprocessor(sequence_length=16)
dataset = make_dataset(
    records,
    preprocessor,
    batch_size=GLOBAL_BATCH // world,
    negations=NegationOptions(count=1),
)
x, _ = next(iter(dataset))
assert x["padding_mask"].dtype == "bool", x["padding_mask"].dtype

keras.utils.set_random_seed(0)
with scope:
    # No BatchNormalization in the image tower: under tf.distribute Keras's
    # BatchNormalization normalises each replica's batch on its own (unless
    # `synchronized=True`), so a BN tower cannot equal one device exactly.
    image_encoder = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        ]
    )
    model = tiny_clinclip_backbone(
        image_encoder=image_encoder,
        num_negations=1,
        graph_feature_dim=GRAPH_FEATURE_DIM,
    )
    clip = os.environ.get("PLAIN_FIT_CLIPNORM")
    model.compile(
        optimizer=keras.optimizers.SGD(
            0.5, global_clipnorm=float(clip) if clip else None
        ),
        loss=[SoftLabelContrastive(), GraphAlignment()],
    )
if MODE == "torch_ddp":
    from keras_clinclip.backend import torch_data_parallel

    torch_data_parallel(model)
history = model.fit(dataset.repeat(), steps_per_epoch=STEPS, verbose=0)
assert np.isfinite(history.history["loss"]).all(), history.history
if MODE == "torch_ddp":
    OUT = OUT.replace("rank.npz", f"rank{rank}.npz")
np.savez(OUT, *[np.asarray(w) for w in model.get_weights()])
print(f"DONE {MODE} rank={rank} loss={history.history['loss'][-1]:.6f}")
