"""model.compile(loss=...) + fit with the losses on a ContrastiveModel."""

import keras
import numpy as np

from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.losses import SoftLabelSigmoid
from tests.losses import reference
from tests.losses.tiny_model import tiny_data
from tests.losses.tiny_model import tiny_model


def test_fit_reduces_the_summed_losses():
    model = tiny_model()
    x, y = tiny_data()
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=[
            SoftLabelContrastive(negation_soft_targets=True),
            GraphAlignment(),
        ],
        loss_weights=[1.0, 0.5],
    )
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    # The reported loss is the weighted sum of both losses on the batch.
    pred = model.predict(x, batch_size=8, verbose=0)
    total = float(
        SoftLabelContrastive(negation_soft_targets=True)(y, pred)
    ) + 0.5 * float(GraphAlignment()(y, pred))
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(evaluated, total, rtol=1e-5)


def test_sigmoid_loss_fits():
    model = tiny_model(seed=1, bias=True)
    x, y = tiny_data(seed=1)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=SoftLabelSigmoid(sources=("text", "clinical")),
    )
    losses = model.fit(x, y, batch_size=8, epochs=3, verbose=0).history
    assert np.all(np.isfinite(losses["loss"]))
    assert losses["loss"][-1] < losses["loss"][0]


def test_soft_weight_schedule_follows_the_optimizer_step():
    """With lr = 0, three steps on one batch see soft weights 0, 0.5, 1."""
    model = tiny_model(seed=2)
    x, y = tiny_data(seed=2)
    schedule = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=0.0, decay_steps=2, end_learning_rate=1.0
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.0),
        loss=SoftLabelContrastive(soft_weight=schedule),
    )
    x3 = {k: np.concatenate([v] * 3) for k, v in x.items()}
    y3 = {k: np.concatenate([v] * 3) for k, v in y.items()}
    history = model.fit(
        x3, y3, batch_size=8, epochs=1, shuffle=False, verbose=0
    )
    pred = {
        k: keras.ops.convert_to_numpy(v)
        for k, v in model.predict(x, verbose=0).items()
    }
    expected = np.mean(
        [
            reference.soft_label_contrastive(y, pred, soft_weight=w)
            for w in (0.0, 0.5, 1.0)
        ]
    )
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-4)
