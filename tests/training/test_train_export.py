"""`clinclip train` on the real model (tiny towers), then `clinclip export`
to a KerasHub preset that loads back with the same embeddings."""

import keras
import numpy as np
import pytest

from keras_clinclip.cli import main
from keras_clinclip.models import encode_images
from keras_clinclip.training.export import export_preset
from keras_clinclip.training.export import find_checkpoint

TINY = [
    "--dataset",
    "synthetic",
    "--num-samples",
    "40",
    "--image-size",
    "32",
    "--max-length",
    "16",
    "--image-encoder",
    "tiny",
    "--text-encoder",
    "tiny",
    "--embed-dim",
    "16",
    "--batch-size",
    "8",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--no-tensorboard",
    "--verbose",
    "0",
    "--no-validate",
    "--loss",
    "n_dtc",
]


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="CLI plumbing, backend-agnostic: run in the (fastest) torch pass",
)
def test_train_then_export_round_trip(tmp_path):
    import keras_hub

    run_dir = tmp_path / "run"
    assert main(["train", *TINY, "--output-dir", str(run_dir)]) == 0
    assert find_checkpoint(run_dir).name == "final.weights.h5"
    preset = export_preset(run_dir, tmp_path / "exported")
    trained = keras_hub.models.Backbone.from_preset(str(run_dir / "preset"))
    exported = keras_hub.models.Backbone.from_preset(str(preset))
    assert type(exported).__name__ == "ClinCLIPBackbone"
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    a = keras.ops.convert_to_numpy(encode_images(trained, images))
    b = keras.ops.convert_to_numpy(encode_images(exported, images))
    np.testing.assert_allclose(a, b, atol=1e-6)
    # The trained weights differ from a fresh model's.
    from keras_clinclip.training import builders
    from keras_clinclip.training.config import TrainingConfig

    config = TrainingConfig.load(run_dir / "config.json")
    keras.utils.set_random_seed(123)
    fresh = builders.build_backbone(config)
    c = keras.ops.convert_to_numpy(encode_images(fresh, images))
    assert np.abs(a - c).max() > 1e-4


def test_export_names_a_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        export_preset(tmp_path, tmp_path / "out")
