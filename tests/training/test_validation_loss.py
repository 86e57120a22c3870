"""The validation loss is the mean of the per-batch losses, on every
backend, on the negation-balanced batches that `clinclip train` uses.

Under TensorFlow it was too low by n/(n+1) (n batches) on data of unknown
length: see `keras_compat.TF_END_OF_DATA_STEP` and its bug test in
`tests/backend/test_keras_compat.py`.
"""

import keras
import numpy as np
import pytest

from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import make_dataset
from keras_clinclip.data import synthetic_pairs
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor


def _balanced_dataset(**changes):
    records = synthetic_pairs(40, image_size=32, graphs=False)
    options = dict(drop_remainder=True, graphs=False)
    options.update(changes)
    return make_dataset(
        records,
        tiny_preprocessor(),
        batch_size=options.pop("batch_size", 8),
        image_size=32,
        negations=NegationOptions(count=1, balance=True),
        options=PipelineOptions(**options),
    )


@pytest.mark.backend_independent
def test_balanced_datasets_report_their_length():
    assert int(_balanced_dataset(batch_size=6).cardinality()) == 6
    # Rows may still be dropped while decoding: the length is unknown.
    skip = _balanced_dataset(on_error="skip")
    assert int(skip.cardinality()) < 0


def test_evaluate_is_the_mean_of_the_batch_losses():
    keras.utils.set_random_seed(0)
    dataset = _balanced_dataset()
    assert int(dataset.cardinality()) == 5
    model = tiny_backbone(num_negations=1)
    model.compile()
    batches = dataset.as_numpy_iterator()
    losses = [float(np.asarray(model.test_on_batch(x, y))) for x, y in batches]
    assert len(losses) == 5
    value = model.evaluate(dataset, verbose=0)
    np.testing.assert_allclose(value, np.mean(losses), rtol=1e-5)
    # A user's dataset whose length TensorFlow cannot tell.
    unknown = dataset.filter(lambda x, y: True)
    value = model.evaluate(unknown, verbose=0)
    np.testing.assert_allclose(value, np.mean(losses), rtol=1e-5)


@pytest.mark.backend_independent
def test_a_validation_split_smaller_than_a_batch_is_said(tmp_path):
    from keras_clinclip.training import builders
    from keras_clinclip.training.config import TrainingConfig

    config = TrainingConfig(
        dataset="synthetic",
        num_samples=40,
        image_size=32,
        max_length=16,
        text_encoder="tiny",
        image_encoder="tiny",
        loss="clip",
        batch_size=8,
        output_dir=str(tmp_path),
    )
    records = builders.load_records(config)
    n_val = sum(split == "validate" for split in records["split"])
    assert 0 < n_val < 8
    data = builders.build_training_data(config, records=records)
    assert data.validation is None
    assert data.notes == [builders.validation_skipped_note(n_val, 8)]
    assert f"has {n_val} stud" in data.notes[0]
    assert "--no-validate" in data.notes[0]
    quiet = builders.build_training_data(
        config.replace(validate=False), records=records
    )
    assert quiet.notes == []
