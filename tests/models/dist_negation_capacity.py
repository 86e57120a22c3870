"""A fit step of a packed ClinCLIPBackbone (`negation_capacity`) on 2 devices
equals the single-device step of the model encoding every slot, with the
slots the buffer dropped masked. Run as a script: `tf` (MirroredStrategy,
2 logical CPUs: the capacity applies per replica) or `jax` (DataParallel,
2 forced host devices: the model sees the global batch)."""

import os
import sys

MODE = sys.argv[1]
if MODE == "tf":
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
else:
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=2"
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from keras_clinclip.losses import SoftLabelContrastive  # noqa: E402
from keras_clinclip.models import ClinCLIPBackbone  # noqa: E402
from tests.helpers import tiny_backbone  # noqa: E402
from tests.helpers import tiny_batch  # noqa: E402

B, K = 6, 2
MASK = np.array([[1, 0], [1, 1], [0, 1], [1, 0], [0, 1], [0, 1]], "float32")


def assert_same_step(reference, other, label):
    """Same loss (1e-5) and weights (5e-5: sharded float reductions)."""
    (ref_weights, ref_history), (weights, history) = reference, other
    worst = max(np.abs(a - b).max() for a, b in zip(ref_weights, weights))
    print(label, "max weight difference", worst)
    np.testing.assert_allclose(
        history.history["loss"], ref_history.history["loss"], rtol=1e-5
    )
    assert worst < 5e-5, (label, worst)


def _kept(mask, rows):
    flat = mask.reshape(-1).copy()
    flat[np.flatnonzero(flat)[rows:]] = 0.0
    return flat.reshape(mask.shape)


def _image_encoder():
    # No batch normalisation: per-replica batch statistics would differ
    # from the global batch's whatever the negations do.
    images = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(8, 3, strides=4)(images)
    return keras.Model(images, keras.layers.GlobalAveragePooling2D()(features))


def _base():
    keras.utils.set_random_seed(4)
    model = tiny_backbone(num_negations=K, image_encoder=_image_encoder())
    return model.get_config(), model.get_weights()


def one_step(base, capacity, mask, strategy=None):
    x, y = tiny_batch(B, num_negations=K, seed=5)
    x["negation_mask"] = MASK.copy()
    y["negation_mask"] = mask
    scope = strategy.scope() if strategy else _null()
    with scope:
        model = ClinCLIPBackbone.from_config(
            dict(base[0], negation_capacity=capacity)
        )
        model.set_weights(base[1])
        model.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=SoftLabelContrastive(negation_soft_targets=True),
        )
    if MODE == "tf":
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(
            B, drop_remainder=True
        )
        history = model.fit(data, epochs=1, verbose=0)
    else:
        history = model.fit(
            x, y, batch_size=B, epochs=1, shuffle=False, verbose=0
        )
    return [np.asarray(w) for w in model.get_weights()], history


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def main():
    base = _base()
    if MODE == "tf":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        # 0.6 of a replica's 3 x 2 slots = 4 rows: no replica overflows.
        single = one_step(base, None, MASK.copy())
        assert_same_step(single, one_step(base, 0.6, MASK, strategy), "0.6")
        # 2 rows per replica: each replica keeps its first 2 valid slots.
        halves = [_kept(MASK[:3], 2), _kept(MASK[3:], 2)]
        single = one_step(base, None, np.concatenate(halves))
        assert_same_step(single, one_step(base, 2, MASK, strategy), "2 rows")
    else:
        import jax

        assert len(jax.devices()) == 2
        single = [
            one_step(base, None, MASK.copy()),
            one_step(base, None, _kept(MASK, 3)),
        ]
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=jax.devices())
        )
        # The global batch: 0.6 of 12 slots = 8 rows hold all 7; 3 rows
        # keep the first 3 valid slots of the global batch.
        assert_same_step(single[0], one_step(base, 0.6, MASK), "0.6")
        assert_same_step(single[1], one_step(base, 3, MASK), "3 rows")
    print("OK")


if __name__ == "__main__":
    main()
