"""`on_error="raise"`: a bad image is one `ImageDecodeError` naming the
file and the records row, when iterating and in `fit`, on every backend."""

import keras
import numpy as np
import pytest

from keras_clinclip.data import make_dataset
from keras_clinclip.data.images import ImageDecodeError
from keras_clinclip.models import ContrastiveModel
from keras_clinclip.training.fit_loop import stream_from
from tests.data.test_images import write_dicom
from tests.data.test_pipeline import HashPreprocessor
from tests.data.test_pipeline import _file_records


def _corrupt_jpeg(tmp_path, records):
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 20)
    return 2, "b.jpg"


def _unwindowable_dicom(tmp_path, records):
    write_dicom(tmp_path / "c.dcm", np.ones((8, 8)), window=(40, 0))
    return 3, "c.dcm"


def _deleted_file(tmp_path, records):
    return 4, "d.png"


BREAKS = [_corrupt_jpeg, _unwindowable_dicom, _deleted_file]


def _broken(tmp_path, breaker):
    records = _file_records(tmp_path)
    row, name = breaker(tmp_path, records)
    dataset = make_dataset(records, HashPreprocessor(), 2, image_size=16)
    if breaker is _deleted_file:  # gone after the rows were checked
        (tmp_path / name).unlink()
    return dataset, rf"^records row {row}: .*{name}"


@pytest.mark.parametrize("breaker", BREAKS, ids=lambda f: f.__name__[1:])
def test_iterating_raises_the_decode_error(tmp_path, capfd, breaker):
    dataset, message = _broken(tmp_path, breaker)
    for _ in range(2):  # a second pass raises it again
        with pytest.raises(ImageDecodeError, match=message) as caught:
            list(dataset)
        assert "function_node" not in str(caught.value)
    assert "Traceback" not in capfd.readouterr().err


class TinyModel(ContrastiveModel):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        pooled = self.dense(keras.ops.mean(x["images"], axis=(1, 2)))
        return {"a": pooled, "b": pooled * 0.5}


class GapLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return keras.ops.mean((y_pred["a"] - y_pred["b"]) ** 2, axis=-1)


def test_fit_raises_the_decode_error(tmp_path, capfd):
    dataset, message = _broken(tmp_path, _corrupt_jpeg)
    model = TinyModel()
    model.compile(optimizer="sgd", loss=GapLoss())
    with pytest.raises(ImageDecodeError, match=message):
        model.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ImageDecodeError, match=message):
        model.evaluate(dataset, verbose=0)
    stream = stream_from(dataset, 0)  # what `clinclip train` fits on
    with pytest.raises(ImageDecodeError, match=message):
        model.fit(stream, epochs=1, steps_per_epoch=2, verbose=0)
    assert "Traceback" not in capfd.readouterr().err
