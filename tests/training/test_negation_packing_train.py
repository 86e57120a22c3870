"""`train` packs the negations by default, with the same result as
encoding every slot, and `export` rebuilds the packed model."""

import json

import keras
import numpy as np
import pytest

from keras_clinclip.training import builders
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.export import export_preset
from keras_clinclip.training.train import train
from keras_clinclip.training.training_data import TrainingData

# End to end (subprocesses or whole trainings): in `make test`, not in
# `make test-fast`.
pytestmark = pytest.mark.slow


def _config(tmp_path, name, **changes):
    # Tiny towers without dropout, so that both runs draw no random
    # numbers in the text tower and can be compared value for value.
    values = dict(
        dataset="synthetic",
        num_samples=48,
        image_size=32,
        max_length=16,
        image_encoder="tiny",
        text_encoder="tiny",
        embed_dim=16,
        batch_size=8,
        epochs=1,
        steps_per_epoch=3,
        tensorboard=False,
        verbose=0,
        validate=False,
        learning_rate=1e-3,
        output_dir=str(tmp_path / name),
    )
    values.update(changes)
    return TrainingConfig(**values)


def _negations_removed(records, keep_every=3):
    # Synthetic studies almost all have a negation: keep one in three so
    # that the buffer is smaller than B * K.
    records = dict(records)
    records["negations"] = [
        list(v) if i % keep_every == 0 else []
        for i, v in enumerate(records["negations"])
    ]
    return records


def test_packed_training_equals_encoding_every_slot(tmp_path):
    config = _config(tmp_path, "packed")
    records = _negations_removed(builders.load_records(config))
    packed = train(
        config, data=builders.build_training_data(config, records=records)
    )
    # The default: balanced batches, a buffer sized from the data.
    assert 0.0 < packed.model.negation_capacity < 1.0
    info = json.loads((tmp_path / "packed" / "model.json").read_text())
    assert info["negation_capacity"] == packed.model.negation_capacity

    every = _config(tmp_path, "every", negation_capacity="none")
    full = train(
        every, data=builders.build_training_data(every, records=records)
    )
    assert full.model.negation_capacity is None
    for a, b in zip(packed.model.weights, full.model.weights):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a),
            keras.ops.convert_to_numpy(b),
            atol=2e-5,
            err_msg=a.path,
        )

    exported = export_preset(tmp_path / "packed", tmp_path / "preset")
    import keras_hub

    model = keras_hub.models.Backbone.from_preset(str(exported))
    assert model.negation_capacity == packed.model.negation_capacity


def test_auto_capacity_fits_every_batch_the_model_sees(tmp_path):
    config = _config(tmp_path, "auto", batch_size=16)
    records = _negations_removed(builders.load_records(config), keep_every=4)
    data = builders.build_training_data(config, records=records)
    assert data.negation_mask is not None
    capacity = builders.negation_capacity(config, data)
    # TF and torch replicas see half of a global batch each.
    per_replica = builders.negation_capacity(config, data, replicas=2)
    stream = data.train(0)
    slots = [float(y["negation_mask"].numpy().sum()) for _, y in stream.take(6)]
    assert max(slots) <= round(capacity * 16)
    assert round(per_replica * 8) <= round(capacity * 16)
    unbalanced = config.replace(balance_negations=False)
    assert builders.negation_capacity(unbalanced, data) >= capacity
    assert (
        builders.negation_capacity(config.replace(negation_capacity="3"), data)
        == 3
    )
    assert builders.negation_capacity(config.replace(loss="dtc"), data) is None


def test_auto_capacity_needs_the_mask():
    with pytest.raises(ValueError, match="negation mask"):
        builders.negation_capacity(TrainingConfig(), TrainingData(None, 1))
