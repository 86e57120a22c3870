"""Presets: save under TensorFlow, load on this backend; towers by path."""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import keras_hub
import numpy as np
import pytest

from keras_clinclip.models import ClinCLIPBackbone
from keras_clinclip.models import ClinCLIPImageConverter
from keras_clinclip.models import ClinCLIPPreprocessor
from keras_clinclip.models import clinclip_from_towers
from tests.helpers import VOCABULARY
from tests.helpers import tiny_batch
from tests.helpers import tiny_image_encoder
from tests.helpers import tiny_preprocessor
from tests.helpers import tiny_text_encoder
from tests.helpers import tiny_tokenizer

# Presets written and read back in fresh processes: in `make test`, not
# in `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Run in a TensorFlow subprocess: builds a model, moves its logit scale off
# the initial value, saves a preset (with the preprocessor) and the
# embeddings of a fixed batch.
SAVE_SCRIPT = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    from tests.helpers import tiny_backbone, tiny_batch, tiny_preprocessor

    preset, expected = sys.argv[1], sys.argv[2]
    assert keras.backend.backend() == "tensorflow"
    keras.utils.set_random_seed(3)
    model = tiny_backbone(num_negations=1, graph_feature_dim=8)
    model.logit_scale_layer.log_scale.assign(2.5)
    x, _ = tiny_batch(3, num_negations=1, graph_nodes=4, seed=9)
    outputs = model.predict_on_batch(x)
    model.save_to_preset(preset)
    tiny_preprocessor(sequence_length=12).save_to_preset(preset)
    np.savez(expected, **{k: np.asarray(v) for k, v in outputs.items()})
    """
)


@pytest.fixture(scope="module")
def tf_preset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_preset")
    preset, expected = root / "preset", root / "expected.npz"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", SAVE_SCRIPT, str(preset), str(expected)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return preset, dict(np.load(expected))


def test_tensorflow_preset_loads_on_this_backend_with_equal_outputs(
    tf_preset,
):
    preset, expected = tf_preset
    assert (preset / "config.json").exists()
    assert (preset / "model.weights.h5").exists()
    x, _ = tiny_batch(3, num_negations=1, graph_nodes=4, seed=9)
    # The generic KerasHub entry point finds our class.
    model = keras_hub.models.Backbone.from_preset(str(preset))
    assert isinstance(model, ClinCLIPBackbone)
    assert model.num_negations == 1 and model.graph_feature_dim == 8
    assert model.logit_scale == pytest.approx(np.exp(2.5), rel=1e-5)
    outputs = model.predict_on_batch(x)
    assert sorted(outputs) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(
            np.asarray(outputs[key]), value, atol=1e-5, err_msg=key
        )
    again = ClinCLIPBackbone.from_preset(str(preset))
    for mine, theirs in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_preset_restores_tokenizer_and_image_converter(tf_preset):
    preset, _ = tf_preset
    restored = ClinCLIPPreprocessor.from_preset(str(preset))
    assert restored.sequence_length == 12
    assert isinstance(restored.image_converter, ClinCLIPImageConverter)
    assert restored.tokenizer.vocabulary_size() == len(VOCABULARY)
    texts = ["no pleural effusion .", "heart size normal"]
    fresh = tiny_preprocessor(sequence_length=12)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored.tokenize(texts)["token_ids"]),
        keras.ops.convert_to_numpy(fresh.tokenize(texts)["token_ids"]),
    )


def test_preset_of_another_class_is_refused(tmp_path):
    tiny_text_encoder().save_to_preset(str(tmp_path))
    with pytest.raises(ValueError, match="BertBackbone"):
        ClinCLIPBackbone.from_preset(str(tmp_path))


def test_from_towers_takes_instances_and_preset_paths(tmp_path):
    text_dir = tmp_path / "text"
    image_dir = tmp_path / "image"
    text_encoder = tiny_text_encoder()
    text_encoder.save_to_preset(str(text_dir))
    tiny_tokenizer().save_to_preset(str(text_dir))
    tiny_image_encoder().save_to_preset(str(image_dir))

    model = clinclip_from_towers(
        image_encoder=str(image_dir),
        text_encoder=str(text_dir),
        embedding_dim=8,
    )
    assert isinstance(model.text_encoder, keras_hub.models.BertBackbone)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(
            model.text_encoder.token_embedding.embeddings
        ),
        keras.ops.convert_to_numpy(text_encoder.token_embedding.embeddings),
    )
    preprocessor = ClinCLIPPreprocessor.from_towers(
        text_encoder=str(text_dir), image_size=32, sequence_length=8
    )
    assert preprocessor.tokenizer.vocabulary_size() == len(VOCABULARY)
    image_encoder = tiny_image_encoder()
    model = clinclip_from_towers(
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        embedding_dim=8,
    )
    assert model.image_encoder is image_encoder
