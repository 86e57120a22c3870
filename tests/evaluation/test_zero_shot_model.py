"""Zero-shot classifier, model wrappers and `clinclip evaluate`, per backend.

Built on tiny towers (tests/helpers.py) and on a hand-made model whose
embeddings are known, so the right answer is known.
"""

import numpy as np
import pytest
from keras import ops

from keras_clinclip.evaluation import metrics
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.embed import encode_texts
from keras_clinclip.evaluation.zero_shot import zero_shot_scores
from keras_clinclip.models.clinclip_zero_shot_classifier import (
    ClinCLIPZeroShotClassifier,
)
from tests.helpers import VOCABULARY
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor

NEGATION_IDS = [VOCABULARY.index("no"), VOCABULARY.index("not")]


class KnownModel:
    """Image -> [b, 1 - b] with b its mean brightness; a text -> [0, 1]
    when it contains "no"/"not", else [1, 0]."""

    embedding_dim = 2
    logit_scale = 10.0

    def embed_images(self, images, training=False):
        brightness = ops.mean(images, axis=(1, 2, 3))
        return ops.stack([brightness, 1.0 - brightness], axis=1)

    def encode_images(self, images):
        return ops.convert_to_numpy(self.embed_images(images))

    def encode_texts(self, token_ids, padding_mask):
        ids = np.asarray(ops.convert_to_numpy(token_ids))
        negated = np.isin(ids, NEGATION_IDS).any(axis=1).astype("float32")
        return np.stack([1.0 - negated, negated], axis=1)


@pytest.fixture(scope="module")
def tiny_model():
    """One tiny backbone and preprocessor shared by the tests (building
    one takes seconds)."""
    return tiny_backbone(), tiny_preprocessor()


PROMPTS = {
    "Pleural Effusion": {
        "positive": ["there is effusion", "pleural effusion"],
        "negative": ["there is no effusion", "not pleural effusion"],
    },
    "Edema": {"positive": ["edema"], "negative": ["no edema"]},
}


def test_classifier_gives_the_known_answer():
    classifier = ClinCLIPZeroShotClassifier(
        KnownModel(),
        tiny_preprocessor(),
        findings=list(PROMPTS),
        prompts=PROMPTS,
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(classifier.positive_embeddings),
        [[1.0, 0.0], [1.0, 0.0]],
    )
    brightness = np.array([0.9, 0.2, 0.6, 0.1, 0.5], "float32")
    images = np.ones((5, 4, 4, 3), "float32") * brightness[:, None, None, None]
    probabilities = ops.convert_to_numpy(classifier(images))
    # Independent formula: softmax over the pair of scaled cosines.
    v = np.stack([brightness, 1 - brightness], 1)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    a, b = np.exp(10.0 * v[:, 0]), np.exp(10.0 * v[:, 1])
    np.testing.assert_allclose(
        probabilities, np.stack([a / (a + b)] * 2, 1), rtol=1e-5
    )
    labels = (brightness > 0.5).astype(float)
    assert metrics.auroc(labels, probabilities[:, 0]) == 1.0
    predicted = classifier.predict(images, verbose=0)
    np.testing.assert_allclose(predicted, probabilities, rtol=1e-5)


def test_classifier_round_trips_through_keras_saving(tmp_path):
    import keras

    classifier = ClinCLIPZeroShotClassifier(
        tiny_backbone(),
        tiny_preprocessor(),
        findings=["Pleural Effusion", "Cardiomegaly", "Hilar Mass"],
    )
    assert classifier.prompts["Hilar Mass"]["positive"][0] == (
        "There is hilar mass."
    )
    images = np.random.default_rng(0).integers(0, 255, (3, 40, 40), "uint8")
    expected = classifier.classify(images, batch_size=2)
    assert expected.shape == (3, 3)
    assert np.all((expected > 0) & (expected < 1))
    path = tmp_path / "zero_shot.keras"
    classifier.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ClinCLIPZeroShotClassifier)
    assert restored.findings == classifier.findings
    np.testing.assert_allclose(restored.classify(images), expected, atol=1e-5)
    config = classifier.get_config()
    assert (
        config["prompts"]["Cardiomegaly"] == classifier.prompts["Cardiomegaly"]
    )
    with pytest.raises(ValueError, match="duplicates"):
        ClinCLIPZeroShotClassifier(
            KnownModel(),
            None,
            findings=["Edema", "Edema"],
            embed_prompts=False,
        )


def test_embed_helpers_match_the_backbone_and_the_numpy_scores(tiny_model):
    backbone, preprocessor = tiny_model
    images = np.random.default_rng(1).integers(0, 255, (5, 32, 32), "uint8")
    texts = [
        "no pleural effusion",
        "small left effusion",
        "normal heart",
        "edema",
        "clear lungs",
    ]
    image_emb = embed_images(backbone, images, preprocessor, batch_size=2)
    text_emb = embed_texts(backbone, texts, preprocessor, batch_size=2)
    np.testing.assert_allclose(
        np.linalg.norm(image_emb, axis=1), 1.0, rtol=1e-5
    )
    tokens = preprocessor.tokenize(texts)
    direct = encode_texts(backbone, tokens["token_ids"], tokens["padding_mask"])
    np.testing.assert_allclose(text_emb, direct, atol=1e-5)
    classifier = ClinCLIPZeroShotClassifier(
        backbone,
        preprocessor,
        findings=["Edema"],
        prompts={"Edema": {"positive": texts[3:4], "negative": texts[:1]}},
        logit_scale=5.0,
    )
    np.testing.assert_allclose(
        classifier.classify(images),
        zero_shot_scores(image_emb, text_emb[3:4], text_emb[:1], 5.0),
        atol=1e-4,
    )


def test_clinclip_evaluate_end_to_end(tmp_path, capsys, tiny_model):
    from keras_clinclip.cli import main

    backbone, preprocessor = tiny_model
    preset = tmp_path / "preset"
    backbone.save_to_preset(str(preset))
    preprocessor.save_to_preset(str(preset))
    rng = np.random.default_rng(0)
    n = 24
    words = ["effusion", "edema", "nodule", "clear lungs", "cardiomegaly"]
    reports = [f"there is {words[i % 5]} ." for i in range(n)]
    labels = rng.choice([1.0, 0.0, np.nan], size=(n, 14))
    np.savez(
        tmp_path / "records.npz",
        id=[str(i) for i in range(n)],
        report=reports,
        negations=[r.replace("there is", "there is no") for r in reports],
        image=rng.integers(0, 255, (n, 32, 32), "uint8"),
        labels=labels,
        split=["train"] * 12 + ["test"] * 12,
    )
    out = tmp_path / "out"
    code = main(
        [
            "evaluate",
            "--preset",
            str(preset),
            "--data",
            str(tmp_path / "records.npz"),
            "--output-dir",
            str(out),
            "--bootstrap",
            "10",
            "--probe-fractions",
            "0.5,1.0",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for title in ("Zero-shot", "Retrieval", "CXR-Align", "Linear probe"):
        assert title in printed
    report = (out / "report.md").read_text()
    assert "| Pleural Effusion |" in report
    assert "| A | report > negation |" in report
    assert (out / "roc_curves.png").read_bytes()[:4] == b"\x89PNG"
