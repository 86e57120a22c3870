"""ClinCLIPPreprocessor and ClinCLIPImageConverter, eager and in tf.data."""

import copy

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_clinclip.models import ClinCLIPImageConverter
from keras_clinclip.models import ClinCLIPPreprocessor
from tests.helpers import VOCABULARY
from tests.helpers import tiny_preprocessor


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _expected_ids(text, length):
    words = text.lower().replace(".", " .").split()
    ids = [2] + [VOCABULARY.index(w) for w in words] + [3]
    ids = ids[:length]
    if len(ids) == length:
        ids[-1] = 3
    return ids + [0] * (length - len(ids))


def test_tokenize_shapes_values_and_truncation():
    preprocessor = tiny_preprocessor(sequence_length=6)
    out = preprocessor.tokenize(["No effusion.", "the heart size is normal"])
    ids, mask = _np(out["token_ids"]), _np(out["padding_mask"])
    assert ids.dtype == np.int32 and mask.dtype == np.bool_
    assert ids.tolist() == [
        _expected_ids("No effusion.", 6),
        _expected_ids("the heart size is normal", 6),
    ]
    # Truncated to the length with the end token kept.
    assert ids[1, -1] == 3
    np.testing.assert_array_equal(mask, ids != 0)
    nested = preprocessor.tokenize([["no effusion", "effusion"], ["a", "."]])
    assert tuple(nested["token_ids"].shape) == (2, 2, 6)
    np.testing.assert_array_equal(
        _np(nested["token_ids"])[0, 0], _expected_ids("no effusion", 6)
    )
    single = preprocessor.tokenize(tf.constant("lungs clear"))
    assert tuple(single["token_ids"].shape) == (6,)
    with pytest.raises(ValueError, match="takes strings"):
        preprocessor.tokenize(np.zeros((2,), "float32"))


def test_convert_images_grayscale_uint8_float_and_rgb():
    converter = ClinCLIPImageConverter(image_size=4, mean=0.5, std=0.25)
    white = np.full((2, 8, 8, 1), 255, "uint8")
    out = _np(converter(white))
    assert out.shape == (2, 4, 4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 2.0, atol=1e-5)  # (1 - 0.5) / 0.25
    # A float image in [0, 1] and an unbatched channel-less image.
    grey = _np(converter(np.full((8, 8), 0.25, "float32")))
    assert grey.shape == (4, 4, 3)
    np.testing.assert_allclose(grey, -1.0, atol=1e-5)
    # A batch of channel-less images, and RGB kept per channel.
    assert _np(converter(np.zeros((5, 8, 8), "uint8"))).shape == (5, 4, 4, 3)
    rgb = np.zeros((1, 8, 8, 3), "uint8")
    rgb[..., 0] = 255
    out = _np(converter(rgb))
    np.testing.assert_allclose(out[..., 0], 2.0, atol=1e-5)
    np.testing.assert_allclose(out[..., 1:], -2.0, atol=1e-5)
    # A left-right gradient stays left-right (no flip, no transpose).
    ramp = np.tile(np.linspace(0, 255, 8).astype("uint8"), (8, 1))
    out = _np(converter(ramp))[..., 0]
    assert (np.diff(out, axis=1) > 0).all()
    with pytest.raises(ValueError, match="1 \\(grayscale\\) or 3 channels"):
        converter(np.zeros((1, 8, 8, 2), "uint8"))
    one = ClinCLIPImageConverter(image_size=4, channels=1)
    assert _np(one(rgb)).shape == (1, 4, 4, 1)


def test_call_builds_model_inputs_and_passes_labels():
    preprocessor = tiny_preprocessor(sequence_length=8, image_size=16)
    x = {
        "images": np.zeros((2, 20, 20), "uint8"),
        "reports": ["no effusion", "small effusion"],
        "negations": [["effusion"], ["no effusion"]],
    }
    y = {"labels": np.ones((2, 14), "float32")}
    out_x, out_y = preprocessor(x, y)
    assert tuple(out_x["images"].shape) == (2, 16, 16, 3)
    assert tuple(out_x["token_ids"].shape) == (2, 8)
    assert tuple(out_x["negation_token_ids"].shape) == (2, 1, 8)
    np.testing.assert_array_equal(
        _np(out_x["negation_token_ids"])[1, 0], _np(out_x["token_ids"])[0]
    )
    assert out_y is y
    with pytest.raises(ValueError, match="missing `reports`"):
        preprocessor({"images": x["images"]})


def test_runs_inside_tf_data_and_feeds_the_model():
    from tests.helpers import tiny_backbone

    preprocessor = tiny_preprocessor(sequence_length=8, image_size=32)
    records = {
        "image": np.random.default_rng(0)
        .integers(0, 255, size=(4, 40, 40))
        .astype("uint8"),
        "report": ["no effusion", "small effusion", "lungs clear", "edema"],
        "negations": [["effusion", "a"]] * 4,
    }

    def to_example(record):
        tokens = preprocessor.tokenize(record["report"])
        negations = preprocessor.tokenize(record["negations"])
        x = {
            "images": preprocessor.convert_images(record["image"][..., None]),
            "token_ids": tokens["token_ids"],
            "padding_mask": tokens["padding_mask"],
            "negation_token_ids": negations["token_ids"],
            "negation_padding_mask": negations["padding_mask"],
        }
        return x

    dataset = (
        tf.data.Dataset.from_tensor_slices(records).map(to_example).batch(2)
    )
    batch = next(iter(dataset))
    assert batch["images"].shape == (2, 32, 32, 3)
    assert batch["negation_token_ids"].shape == (2, 2, 8)
    assert batch["padding_mask"].dtype == tf.bool
    eager = preprocessor.tokenize(records["report"][:2])
    np.testing.assert_array_equal(
        batch["token_ids"].numpy(), _np(eager["token_ids"])
    )
    # The whole preprocessor mapped over batched (x, y) pairs.
    pairs = tf.data.Dataset.from_tensor_slices(
        (
            {
                "images": records["image"],
                "reports": records["report"],
                "negations": records["negations"],
            },
            {"labels": np.zeros((4, 14), "float32")},
        )
    ).batch(2)
    mapped = pairs.map(preprocessor)
    x, y = next(iter(mapped))
    assert x["negation_padding_mask"].shape == (2, 2, 8)
    model = tiny_backbone(num_negations=2)
    predictions = model.predict(mapped.map(lambda x, y: x), verbose=0)
    assert predictions["negation_embeddings"].shape == (4, 2, 16)


def test_config_round_trip():
    preprocessor = tiny_preprocessor(sequence_length=10, image_size=24)
    # Like KerasHub tokenizers, the vocabulary travels as a preset asset
    # (see test_clinclip_presets.py), not in the config.
    config = preprocessor.get_config()
    clone = ClinCLIPPreprocessor.from_config(copy.deepcopy(config))
    assert clone.get_config() == config
    assert clone.image_converter.image_size == (24, 24)
    assert (
        keras.saving.get_registered_object(
            "keras_clinclip>ClinCLIPPreprocessor"
        )
        is ClinCLIPPreprocessor
    )


def test_sequence_length_and_channels_are_checked():
    with pytest.raises(ValueError, match="sequence_length"):
        tiny_preprocessor(sequence_length=1)
    with pytest.raises(ValueError, match="channels"):
        ClinCLIPImageConverter(channels=2)
