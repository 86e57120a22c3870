"""KerasHub's own conformance harness on every ClinCLIP model class.

`keras_hub.src.tests.test_case.TestCase` (shipped in the keras-hub wheel)
is what KerasHub runs on its own backbones, preprocessors, tokenizers,
image converters and tasks: config round trips, `.keras` saving, tf.data
and Grain pipelines, `predict`/`fit` on raw inputs, presets. It imports
`grain` (in the `dev` extra).

One input convention differs from KerasHub's text models: the backbone's
harness data are backend tensors, not numpy arrays. Keras 3.15's
`Functional.compute_output_spec` hands numpy inputs to a layer's
`compute_output_spec` without their shapes, which breaks every layer that
defines `compute_output_shape(input_shape)`, such as the `ZeroPadding2D`
at the start of KerasHub's `ResNetBackbone` (and `Conv2D`, so a ViT or a
plain Keras CNN tower fails the same way). Our own layers take numpy there
(tested in `test_compute_output_spec_takes_numpy_token_inputs`).
"""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops
from keras_hub.src.tests import test_case

from keras_clinclip.models import ClinCLIPBackbone
from keras_clinclip.models import ClinCLIPImageConverter
from keras_clinclip.models import ClinCLIPPreprocessor
from keras_clinclip.models import ClinCLIPPretrainer
from keras_clinclip.models import ClinCLIPTokenizer
from keras_clinclip.models import read_model_card
from keras_clinclip.models import tiny_clinclip_image_encoder
from keras_clinclip.models import tiny_clinclip_text_encoder
from keras_clinclip.models.clinclip_tiny import TINY_VOCABULARY

REPORTS = [
    "no pleural effusion .",
    "small left pleural effusion .",
    "heart size normal , lungs clear .",
    "mild edema without pneumothorax .",
]
NEGATIONS = [
    ["pleural effusion ."],
    ["no pleural effusion ."],
    ["cardiomegaly ."],
    ["no edema ."],
]


def raw_batch(batch_size=4, seed=0):
    """Raw studies: uint8 grayscale radiographs, reports, negations."""
    rng = np.random.default_rng(seed)
    x = {
        "images": rng.integers(0, 256, (batch_size, 40, 40)).astype("uint8"),
        "reports": np.array(REPORTS[:batch_size]),
        "negations": np.array(NEGATIONS[:batch_size]),
    }
    labels = rng.choice([0.0, 1.0], (batch_size, 14)).astype("float32")
    y = {
        "labels": labels,
        "negation_mask": np.ones((batch_size, 1), "float32"),
    }
    return x, y


def tokenizer():
    return ClinCLIPTokenizer(vocabulary=list(TINY_VOCABULARY), lowercase=True)


def preprocessor_kwargs():
    return {
        "tokenizer": tokenizer(),
        "image_converter": ClinCLIPImageConverter(image_size=32),
        "sequence_length": 12,
    }


def backbone_kwargs():
    return {
        "image_encoder": tiny_clinclip_image_encoder(32),
        "text_encoder": tiny_clinclip_text_encoder(),
        "embedding_dim": 16,
        "num_negations": 1,
    }


def backbone_inputs(batch_size=2, length=12):
    rng = np.random.default_rng(1)
    ids = rng.integers(5, len(TINY_VOCABULARY), (batch_size, length))
    negation_ids = rng.integers(
        5, len(TINY_VOCABULARY), (batch_size, 1, length)
    )
    return {
        "images": ops.convert_to_tensor(
            rng.normal(size=(batch_size, 32, 32, 3)).astype("float32")
        ),
        "token_ids": ops.convert_to_tensor(ids.astype("int32")),
        "padding_mask": ops.ones((batch_size, length), "int32"),
        "negation_token_ids": ops.convert_to_tensor(
            negation_ids.astype("int32")
        ),
        "negation_padding_mask": ops.ones((batch_size, 1, length), "int32"),
    }


EXPECTED_SHAPES = {
    "image_embeddings": (2, 16),
    "text_embeddings": (2, 16),
    "negation_embeddings": (2, 1, 16),
    "logit_scale": (2, 1),
}


class ClinCLIPBackboneConformanceTest(test_case.TestCase):
    @pytest.mark.slow
    def test_backbone_basics(self):
        # The logit scale is float32 by design (`LogitScale`: exp of a
        # learned log scale, clamped at 100, loses too much in 16 bits),
        # which KerasHub's mixed-precision check forbids; the embeddings'
        # dtypes under mixed precision are checked below instead.
        self.run_backbone_test(
            cls=ClinCLIPBackbone,
            init_kwargs=backbone_kwargs(),
            input_data=backbone_inputs(),
            expected_output_shape=EXPECTED_SHAPES,
            run_mixed_precision_check=False,
        )

    def test_mixed_precision_embeddings(self):
        if keras.config.backend() == "torch":
            self.skipTest("KerasHub tests no mixed precision on torch CPU.")
        kwargs = backbone_kwargs()
        policy = "mixed_bfloat16"
        kwargs["image_encoder"] = tiny_clinclip_image_encoder(32, dtype=policy)
        kwargs["text_encoder"] = tiny_clinclip_text_encoder(dtype=policy)
        model = ClinCLIPBackbone(**kwargs, dtype=policy)
        outputs = model(backbone_inputs())
        spec = model.compute_output_spec(backbone_inputs())
        for key in ("image_embeddings", "text_embeddings"):
            self.assertDTypeEqual(outputs[key], "bfloat16")
            self.assertEqual(spec[key].dtype, "bfloat16")
        self.assertDTypeEqual(outputs["logit_scale"], "float32")

    def test_model_saving(self):
        self.run_model_saving_test(
            cls=ClinCLIPBackbone,
            init_kwargs=backbone_kwargs(),
            input_data=backbone_inputs(),
        )

    def test_compute_output_spec_takes_numpy_token_inputs(self):
        model = ClinCLIPBackbone(**backbone_kwargs())
        inputs = backbone_inputs()
        inputs = {
            key: value if key == "images" else ops.convert_to_numpy(value)
            for key, value in inputs.items()
        }
        spec = model.compute_output_spec(inputs)
        for key, shape in EXPECTED_SHAPES.items():
            self.assertEqual(tuple(spec[key].shape), shape)
        pack = model.get_layer("pack_negations")
        ids, mask = pack.compute_output_spec(
            inputs["token_ids"],
            inputs["padding_mask"],
            inputs["negation_token_ids"],
            inputs["negation_padding_mask"],
        )
        self.assertEqual(tuple(ids.shape), (4, 12))
        self.assertEqual(tuple(mask.shape), (4, 12))


class ClinCLIPPreprocessingConformanceTest(test_case.TestCase):
    @pytest.mark.slow
    def test_preprocessor_basics(self):
        x, y = raw_batch(2)
        # The harness rebuilds the layer from `self.init_kwargs`.
        self.init_kwargs = preprocessor_kwargs()
        output = self.run_preprocessor_test(
            cls=ClinCLIPPreprocessor,
            init_kwargs=self.init_kwargs,
            input_data=(x, y),
        )
        x_out, y_out, _ = keras.utils.unpack_x_y_sample_weight(output)
        self.assertEqual(tuple(x_out["images"].shape), (2, 32, 32, 3))
        self.assertEqual(tuple(x_out["negation_token_ids"].shape), (2, 1, 12))
        self.assertAllClose(y_out["labels"], y["labels"])

    def test_tokenizer_basics(self):
        self.run_preprocessing_layer_test(
            cls=ClinCLIPTokenizer,
            init_kwargs={
                "vocabulary": list(TINY_VOCABULARY),
                "lowercase": True,
            },
            input_data=["no pleural effusion .", "heart size normal"],
        )

    def test_image_converter_basics(self):
        images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 1))
        self.run_preprocessing_layer_test(
            cls=ClinCLIPImageConverter,
            init_kwargs={"image_size": 8},
            input_data=images.astype("uint8"),
        )


class ClinCLIPPretrainerConformanceTest(test_case.TestCase):
    @pytest.mark.slow
    def test_task_basics(self):
        self.run_task_test(
            cls=ClinCLIPPretrainer,
            init_kwargs={
                "backbone": ClinCLIPBackbone(**backbone_kwargs()),
                "preprocessor": ClinCLIPPreprocessor(**preprocessor_kwargs()),
            },
            train_data=raw_batch(4),
            expected_output_shape={
                "image_embeddings": (4, 16),
                "text_embeddings": (4, 16),
                "negation_embeddings": (4, 1, 16),
                "logit_scale": (4, 1),
            },
        )

    def test_task_model_saving(self):
        x, _ = raw_batch(2)
        preprocessor = ClinCLIPPreprocessor(**preprocessor_kwargs())
        self.run_model_saving_test(
            cls=ClinCLIPPretrainer,
            init_kwargs={
                "backbone": ClinCLIPBackbone(**backbone_kwargs()),
                "preprocessor": preprocessor,
            },
            input_data=preprocessor(x),
        )


class ClinCLIPPresetConformanceTest(test_case.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tempfile

        cls.preset = tempfile.mkdtemp(prefix="clinclip_task_preset_")
        keras.utils.set_random_seed(0)
        cls.task = ClinCLIPPretrainer(
            ClinCLIPBackbone(**backbone_kwargs()),
            ClinCLIPPreprocessor(**preprocessor_kwargs()),
        )
        cls.task.save_to_preset(
            cls.preset,
            model_card={
                "training_data": ["SynthCXR (rendered radiographs)"],
                "synthetic_images": True,
                "training_config": {"epochs": 1, "batch_size": 4},
                "metrics": {"loss": 1.5},
            },
        )
        cls.x, _ = raw_batch(2)
        cls.inputs = cls.task.preprocessor(cls.x)
        cls.expected = cls.task.backbone.predict_on_batch(cls.inputs)

    def test_preset_files(self):
        names = set(os.listdir(self.preset))
        for name in (
            "task.json",
            "config.json",
            "preprocessor.json",
            "tokenizer.json",
            "image_converter.json",
            "metadata.json",
            "README.md",
        ):
            self.assertIn(name, names)
        with open(os.path.join(self.preset, "metadata.json")) as file:
            metadata = json.load(file)
        # Both Tasks built on a ClinCLIPBackbone can load the preset.
        self.assertEqual(
            sorted(metadata["tasks"]),
            ["ClinCLIPImageClassifier", "ClinCLIPPretrainer"],
        )
        self.assertTrue(read_model_card(self.preset)["synthetic_images"])

    def test_task_preset(self):
        self.run_preset_test(
            cls=ClinCLIPPretrainer,
            preset=self.preset,
            input_data=self.inputs,
            expected_output=self.expected,
        )

    def test_backbone_preset(self):
        inputs = {k: v for k, v in self.inputs.items()}
        self.run_preset_test(
            cls=keras_hub.models.Backbone,
            preset=self.preset,
            input_data=inputs,
            expected_output=self.expected,
        )

    def test_preprocessor_preset(self):
        self.run_preset_test(
            cls=ClinCLIPPreprocessor,
            preset=self.preset,
            input_data=self.x,
            expected_output=self.inputs,
        )

    def test_tokenizer_preset(self):
        texts = ["no pleural effusion ."]
        self.run_preset_test(
            cls=keras_hub.models.Tokenizer,
            preset=self.preset,
            input_data=texts,
            expected_output=tokenizer()(texts),
        )
        restored = keras_hub.models.Tokenizer.from_preset(self.preset)
        self.assertIsInstance(restored, ClinCLIPTokenizer)

    def test_image_converter_preset(self):
        images = self.x["images"]
        self.run_preset_test(
            cls=keras_hub.layers.ImageConverter,
            preset=self.preset,
            input_data=images,
            expected_output=ClinCLIPImageConverter(image_size=32)(images),
        )
        restored = keras_hub.layers.ImageConverter.from_preset(self.preset)
        self.assertIsInstance(restored, ClinCLIPImageConverter)
