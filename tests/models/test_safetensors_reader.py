"""Checkpoints are read with the `safetensors` library (issue 17)."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_clinclip.models import clinclip_towers
from keras_clinclip.models.clinclip_towers import (
    _read_safetensors as read_safetensors,
)


@pytest.mark.backend_independent
def test_read_safetensors_round_trips_every_dtype(tmp_path):
    tensors = {
        "f32": np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3),
        "f16": np.array([0.5, -2.0], dtype="float16"),
        "i64": np.array([[1, -7]], dtype="int64"),
        "u8": np.array([0, 255], dtype="uint8"),
        "b": np.array([True, False]),
    }
    path = tmp_path / "w.safetensors"
    save_file(tensors, str(path))
    out = read_safetensors(path)
    assert sorted(out) == sorted(tensors)
    for name, value in tensors.items():
        assert out[name].dtype == value.dtype, name
        np.testing.assert_array_equal(out[name], value)


@pytest.mark.backend_independent
def test_read_safetensors_names_the_bad_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x05\x00")
    with pytest.raises(ValueError, match="bad.safetensors"):
        read_safetensors(bad)
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        read_safetensors(tmp_path / "missing.safetensors")


def test_both_minilm_loaders_give_the_same_weights():
    ours = clinclip_towers.minilm_text_encoder(use_keras_hub_loader=False)
    hub = clinclip_towers.minilm_text_encoder(use_keras_hub_loader=True)
    for a, b in zip(ours.get_weights(), hub.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Not all zeros: the weights really came from the file.
    assert np.abs(ours.get_weights()[0]).max() > 0.01
