"""Loading the preset of `clinclip evaluate` / `clinclip explain`."""

import pytest

from keras_clinclip.evaluation.model_loading import load_preset_model

# Both cases fail on the files, before any backend computation.
pytestmark = pytest.mark.backend_independent


def test_missing_preset_is_named():
    with pytest.raises(FileNotFoundError, match="'/nonexistent' does not"):
        load_preset_model("/nonexistent")


def test_corrupt_preset_names_the_file_and_the_way_out(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not valid JSON") as e:
        load_preset_model(tmp_path)
    assert "Export it again" in str(e.value)
