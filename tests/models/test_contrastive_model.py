"""ContrastiveModel: whole-dict losses, weights, errors, `.keras` reload."""

import keras
import numpy as np
import pytest

from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models import ContrastiveModel
from tests.losses.tiny_model import BiasOutput
from tests.losses.tiny_model import ScaleOutput
from tests.losses.tiny_model import tiny_data
from tests.losses.tiny_model import tiny_model


def test_list_of_losses_with_weights_is_the_weighted_sum():
    model = tiny_model()
    x, y = tiny_data()
    first = SoftLabelContrastive(sources=("text", "clinical"))
    second = GraphAlignment()
    model.compile(
        optimizer="sgd", loss=[first, second], loss_weights=[1.0, 0.25]
    )
    y_pred = model(x)
    expected = float(first(y, y_pred)) + 0.25 * float(second(y, y_pred))
    got = float(keras.ops.convert_to_numpy(model.compute_loss(x, y, y_pred)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_mismatched_loss_weights_and_dict_losses_are_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match="loss_weights"):
        model.compile(loss=[SoftLabelContrastive()], loss_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="not a dict"):
        model.compile(loss={"image_embeddings": SoftLabelContrastive()})


def test_keras_file_reloads_with_its_losses(tmp_path):
    model = tiny_model()
    x, y = tiny_data()
    model.compile(
        optimizer="adam",
        loss=[SoftLabelContrastive(sources=("text",)), GraphAlignment()],
    )
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(
        path,
        custom_objects={"ScaleOutput": ScaleOutput, "BiasOutput": BiasOutput},
    )
    assert isinstance(restored, ContrastiveModel)
    names = [type(loss).__name__ for loss in restored.contrastive_losses]
    assert names == ["SoftLabelContrastive", "GraphAlignment"]
    assert list(restored.contrastive_losses[0].sources) == ["text"]
    y_pred = restored(x)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored.compute_loss(x, y, y_pred)),
        keras.ops.convert_to_numpy(model.compute_loss(x, y, model(x))),
        rtol=1e-5,
    )


def test_fit_on_a_dataset_warns_nothing_about_shuffle():
    import warnings

    import tensorflow as tf

    class Gap(keras.losses.Loss):
        def call(self, y_true, y_pred):
            d = y_pred["a"] - y_pred["b"]
            return keras.ops.mean(d * d, axis=-1)

    x = keras.Input((3,))
    model = ContrastiveModel(
        x, {"a": keras.layers.Dense(2)(x), "b": keras.layers.Dense(2)(x)}
    )
    model.compile(optimizer="sgd", loss=Gap())
    data = tf.data.Dataset.from_tensor_slices(
        (np.ones((8, 3), "float32"), {"labels": np.zeros((8, 1), "float32")})
    ).batch(4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)]
    # Arrays are still shuffled by default (Keras's own behaviour).
    assert model.fit(np.ones((8, 3), "f"), {"labels": np.zeros((8, 1), "f")},
                     epochs=1, verbose=0).history["loss"]  # fmt: skip
