"""ClinCLIPImageClassifier: KerasHub's Task harness, presets, frozen text."""

import os
import tempfile

import keras
import keras_hub
import numpy as np
import pytest
from keras_hub.src.tests import test_case

from keras_clinclip.evaluation.fine_tune import fine_tune
from keras_clinclip.evaluation.fine_tune import preset_classifier
from keras_clinclip.models import ClinCLIPImageConverter
from keras_clinclip.models.clinclip_image_classifier import (
    ClinCLIPImageClassifier,
)
from keras_clinclip.models.clinclip_image_classifier_preprocessor import (
    ClinCLIPImageClassifierPreprocessor,
)
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor


def preprocessor():
    return ClinCLIPImageClassifierPreprocessor(
        ClinCLIPImageConverter(image_size=32)
    )


def images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 40, 40)).astype("uint8")


class ClinCLIPImageClassifierTest(test_case.TestCase):
    @pytest.mark.slow
    def test_task_basics(self):
        labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], "f")
        self.run_task_test(
            cls=ClinCLIPImageClassifier,
            init_kwargs={
                "backbone": tiny_backbone(),
                "num_classes": 3,
                "preprocessor": preprocessor(),
            },
            train_data=(images(), labels),
            expected_output_shape=(4, 3),
        )

    def test_preset_round_trip_and_keras_hub_finds_the_class(self):
        preset = tempfile.mkdtemp(prefix="clinclip_classifier_")
        backbone = tiny_backbone()
        backbone.save_to_preset(preset)
        tiny_preprocessor(image_size=32).save_to_preset(preset)
        task = keras_hub.models.ImageClassifier.from_preset(
            preset, num_classes=4, problem="multiclass"
        )
        self.assertIsInstance(task, ClinCLIPImageClassifier)
        self.assertIsInstance(
            task.preprocessor, ClinCLIPImageClassifierPreprocessor
        )
        # The image tower comes with the preset's weights.
        for mine, saved in zip(
            task.backbone.image_encoder.weights,
            backbone.image_encoder.weights,
        ):
            self.assertAllClose(mine, saved)
        text_before = [
            keras.ops.convert_to_numpy(w)
            for w in task.backbone.text_encoder.weights
        ]
        x = images(6)
        task.fit(x, np.array([0, 1, 2, 3, 0, 1]), epochs=2, verbose=0)
        for before, after in zip(
            text_before, task.backbone.text_encoder.weights
        ):
            self.assertAllClose(before, after)  # the text side is frozen
        out = task.predict(x, verbose=0)
        saved = tempfile.mkdtemp(prefix="clinclip_classifier_saved_")
        task.save_to_preset(saved)
        self.assertTrue(os.path.exists(os.path.join(saved, "task.json")))
        loaded = ClinCLIPImageClassifier.from_preset(saved)
        self.assertEqual(loaded.problem, "multiclass")
        self.assertAllClose(loaded.predict(x, verbose=0), out)

    def test_fine_tune_protocol_on_a_preset(self):
        preset = tempfile.mkdtemp(prefix="clinclip_fine_tune_")
        tiny_backbone().save_to_preset(preset)
        tiny_preprocessor(image_size=32).save_to_preset(preset)
        labels = np.array([[1.0], [0.0]] * 4)
        result = fine_tune(
            preset_classifier(preset),
            images(8),
            labels,
            images(8, seed=1),
            labels,
            ["Pneumonia"],
            "binary",
            fractions=(0.5, 1.0),
            epochs=1,
            batch_size=4,
        )
        self.assertEqual([result[f]["num_train"] for f in (0.5, 1.0)], [4, 8])
        auroc = result[1.0]["metrics"]["AUROC"]["value"]
        self.assertTrue(0.0 <= auroc <= 1.0)

    def test_binary_needs_one_output(self):
        with self.assertRaisesRegex(ValueError, "num_classes=1"):
            ClinCLIPImageClassifier(tiny_backbone(), 2, problem="binary")
