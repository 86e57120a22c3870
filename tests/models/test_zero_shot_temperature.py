"""The zero-shot classifier applies the preset's temperature and bias."""

import numpy as np
import pytest
from keras import ops

from keras_clinclip.models.clinclip_zero_shot_classifier import (
    ClinCLIPZeroShotClassifier,
)
from keras_clinclip.models.clinclip_zero_shot_classifier import (
    save_zero_shot_temperature,
)
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor


def test_preset_temperature_scales_each_finding_and_keeps_the_ranking(
    tmp_path,
):
    backbone, preprocessor = tiny_backbone(), tiny_preprocessor(image_size=32)
    backbone.save_to_preset(tmp_path)
    preprocessor.save_to_preset(tmp_path)
    findings = ["Edema", "Cardiomegaly"]
    plain = ClinCLIPZeroShotClassifier.from_preset(tmp_path, findings)
    assert plain.temperature == [1.0, 1.0]
    save_zero_shot_temperature(tmp_path, {"Edema": 4.0}, "test fixture")
    scaled = ClinCLIPZeroShotClassifier.from_preset(tmp_path, findings)
    assert scaled.temperature == [4.0, 1.0]
    images = np.random.default_rng(0).integers(0, 255, (6, 40, 40), "uint8")
    p, q = plain.classify(images), scaled.classify(images)
    logit = np.log(p) - np.log1p(-p)
    expected = 1.0 / (1.0 + np.exp(-logit / np.array([4.0, 1.0])))
    np.testing.assert_allclose(q, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.argsort(p, 0), np.argsort(q, 0))
    assert scaled.get_config()["temperature"] == [4.0, 1.0]
    # The default calibration a preset carries: a temperature and a bias.
    save_zero_shot_temperature(
        tmp_path, {"Edema": 4.0}, bias={"Edema": -2.0, "Cardiomegaly": 1.5}
    )
    platt = ClinCLIPZeroShotClassifier.from_preset(tmp_path, findings)
    assert platt.bias == [-2.0, 1.5]
    r = platt.classify(images)
    expected = 1.0 / (
        1.0 + np.exp(-(logit / np.array([4.0, 1.0]) + np.array([-2.0, 1.5])))
    )
    np.testing.assert_allclose(r, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.argsort(p, 0), np.argsort(r, 0))
    assert platt.get_config()["bias"] == [-2.0, 1.5]
    with pytest.raises(ValueError, match="'Edema' is 0.0"):
        save_zero_shot_temperature(tmp_path, {"Edema": 0.0})
    positive = ops.convert_to_numpy(scaled.positive_embeddings)
    assert np.isfinite(positive).all()
