"""Each Keras workaround is still needed, and works.

Every test here runs the user script of `tests/user_scripts` with one
workaround switched off and checks that the Keras bug still shows. When a
Keras release fixes a bug, its test fails: set the workaround's
`fixed_in` to that release (and it switches itself off there).
"""

import keras
import numpy as np
import pytest

from keras_clinclip.backend import keras_compat
from tests.user_scripts import runner

only_tf = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the workarounds are for Keras's TensorFlow trainer",
)


@pytest.mark.backend_independent
def test_workarounds_are_gated_on_the_keras_version(monkeypatch):
    workaround = keras_compat.Workaround(
        "demo", "bug", first=(3, 2, 0), checked=(3, 4, 0), fixed_in=(3, 9, 0)
    )
    assert not workaround.active((3, 1, 9))
    assert workaround.active((3, 2, 0)) and workaround.active((3, 8, 3))
    assert not workaround.active((3, 9, 0))
    monkeypatch.setenv("KERAS_CLINCLIP_WORKAROUNDS_OFF", "x,demo")
    assert not workaround.active((3, 4, 0))
    # Each active workaround was checked on the installed Keras: a newer
    # Keras fails here until the bug tests below are re-run and `checked`
    # (or `fixed_in`) is updated.
    for item in keras_compat.WORKAROUNDS:
        if item.active():
            assert item.checked >= keras_compat.KERAS_VERSION, item.name


def _still_needed(name, code, output):
    assert code != 0, (
        f"Keras {keras.version()} no longer has the bug of the `{name}` "
        "workaround: set its `fixed_in` in keras_clinclip/backend/"
        "keras_compat.py."
    )
    return output


@only_tf
@pytest.mark.distributed
def test_distributed_build_bug_is_still_there(tmp_path):
    code, output = runner.run(
        "mirrored",
        tmp_path / "w.npz",
        "tensorflow",
        steps=1,
        KERAS_CLINCLIP_WORKAROUNDS_OFF="tf_distributed_build",
    )
    output = _still_needed("tf_distributed_build", code, output)
    assert "bool" in output or "AddN" in output, output[-2000:]


@only_tf
@pytest.mark.distributed
def test_clipping_after_the_cross_replica_sum(tmp_path):
    clip = {"PLAIN_FIT_CLIPNORM": "0.05"}
    code, output = runner.run(
        "single", tmp_path / "one.npz", "tensorflow", **clip
    )
    assert code == 0, output[-3000:]
    code, output = runner.run(
        "mirrored", tmp_path / "fixed.npz", "tensorflow", **clip
    )
    assert code == 0, output[-3000:]
    assert (
        runner.max_difference(tmp_path / "one.npz", tmp_path / "fixed.npz")
        < 1e-4
    )
    code, output = runner.run(
        "mirrored",
        tmp_path / "bug.npz",
        "tensorflow",
        KERAS_CLINCLIP_WORKAROUNDS_OFF="tf_distributed_clipping",
        **clip,
    )
    assert code == 0, output[-3000:]
    difference = runner.max_difference(
        tmp_path / "one.npz", tmp_path / "bug.npz"
    )
    assert difference > 1e-4, (
        f"Keras {keras.version()} clips after the cross-replica sum "
        f"(difference {difference:g}): set `fixed_in` of "
        "tf_distributed_clipping."
    )


@only_tf
@pytest.mark.distributed
def test_multi_worker_scalar_logs_bug_is_still_there(tmp_path):
    outputs = runner.run_multiworker(
        tmp_path,
        steps=1,
        KERAS_CLINCLIP_WORKAROUNDS_OFF="tf_multi_worker_scalar_logs",
    )
    for code, output in outputs:
        output = _still_needed("tf_multi_worker_scalar_logs", code, output)
        assert "Invalid reduction dimension" in output, output[-2000:]


def _end_of_data_evaluate(model_class):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(3.0, 1.0, size=(32, 1)).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(
        8, drop_remainder=True
    )
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        inputs = keras.Input((3,))
        model = model_class(inputs, keras.layers.Dense(1)(inputs))
        model.compile(loss="mse")
    losses = [float(model.test_on_batch(a, b)) for a, b in batches]
    # `filter` hides the dataset's length (4 batches) from Keras.
    unknown = batches.filter(lambda a, b: True)
    return model.evaluate(unknown, verbose=0), float(np.mean(losses))


@only_tf
def test_end_of_data_step_bug_is_still_there():
    value, mean = _end_of_data_evaluate(keras.Model)
    assert value != pytest.approx(mean, rel=1e-5), (
        f"Keras {keras.version()} no longer counts a phantom last batch: "
        "set `fixed_in` of tf_end_of_data_step."
    )
    # The end-of-data step counted a 5th batch of loss 0.
    assert value == pytest.approx(mean * 4 / 5, rel=1e-5)


@only_tf
def test_end_of_data_step_workaround():
    class Patched(keras_compat.KerasCompatMixin, keras.Model):
        pass

    value, mean = _end_of_data_evaluate(Patched)
    assert value == pytest.approx(mean, rel=1e-5)


@only_tf
def test_patch_model_fixes_a_plain_model():
    def patched(inputs, outputs):
        model = keras.Model(inputs, outputs)
        model.compile = lambda **kw: (
            keras.Model.compile(model, **kw),
            keras_compat.patch_model(model),
        )
        return model

    value, mean = _end_of_data_evaluate(patched)
    assert value == pytest.approx(mean, rel=1e-5)


def test_functional_subclass_bases_bug_is_still_there():
    # A plain Keras subclass: Keras rewrites its bases on a functional call.
    class Net(keras.Model):
        pass

    x = keras.Input((2,))
    Net(inputs=x, outputs=keras.layers.Dense(1)(x))
    assert "Functional" in [base.__name__ for base in Net.__bases__]


def test_a_functional_contrastive_model_leaves_its_class_subclassable():
    from keras_clinclip.models import ContrastiveModel

    x = keras.Input((2,))
    functional = ContrastiveModel(inputs=x, outputs=keras.layers.Dense(1)(x))
    assert isinstance(functional, ContrastiveModel)
    assert ContrastiveModel.__bases__[-1] is keras.Model

    class Tiny(ContrastiveModel):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    assert Tiny()(np.ones((3, 2), "float32")).shape == (3, 1)
