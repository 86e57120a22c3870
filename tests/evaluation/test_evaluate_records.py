"""`evaluate_records` on records with a model whose answers are known."""

import dataclasses

import numpy as np
import pytest

from keras_clinclip.evaluation import EvaluationOptions
from keras_clinclip.evaluation import ReportOptions
from keras_clinclip.evaluation.evaluate import cxr_align_from_records
from keras_clinclip.evaluation.evaluate import evaluate_records
from keras_clinclip.evaluation.evaluate import select_split

pytestmark = pytest.mark.backend_independent


class Known:
    """An image embeds as [b, 1 - b] (b: mean brightness in [0, 1]); a
    text as [0, 1] when it says "no", else [1, 0]."""

    embedding_dim = 2
    logit_scale = 10.0

    def convert_images(self, images):
        images = np.asarray(images, dtype="float32") / 255.0
        b = images.mean(axis=(-1, -2))
        return np.stack([b, 1.0 - b], axis=-1)

    def encode_images(self, images):
        return np.asarray(images)

    def tokenize(self, texts):
        neg = np.array([" no " in f" {t.lower()} " for t in texts], "f")
        ids = np.stack([1.0 - neg, neg], axis=1)
        return {"token_ids": ids, "padding_mask": ids >= 0}

    def encode_texts(self, token_ids, padding_mask):
        return np.asarray(token_ids)


def make_records():
    brightness = [230, 30, 200, 20, 240, 10, 210, 40]
    effusion = [1.0 if b > 128 else 0.0 for b in brightness]
    return {
        "id": [f"s{i}" for i in range(8)],
        "image": np.stack([np.full((6, 6), b, np.uint8) for b in brightness]),
        "report": ["Effusion." if e else "No effusion." for e in effusion],
        "labels": np.array([[e] for e in effusion]),
        "split": [
            "train",
            "train",
            "train",
            "train",
            "test",
            "test",
            "test",
            "test",
        ],
        "negations": [["No effusion."] if e else [] for e in effusion],
        "omissions": [["Clear."] if e else [] for e in effusion],
        "negated_findings": [
            ["Pleural Effusion"] if e else [] for e in effusion
        ],
    }


PROMPTS = {
    "Pleural Effusion": {
        "positive": ["Effusion."],
        "negative": ["No effusion."],
    }
}


def test_known_model_scores_perfectly(tmp_path):
    records = make_records()
    model = Known()
    result = evaluate_records(
        model,
        model,
        records,
        EvaluationOptions(
            findings=["Pleural Effusion"],
            prompts=PROMPTS,
            n_bootstrap=20,
            probe_fractions=(1.0,),
        ),
        report=ReportOptions(tmp_path, figures=False),
    )
    assert result["zero_shot"]["macro"]["auroc"] == 1.0
    # Test split: 2 "Effusion." and 2 "No effusion." reports; identical
    # reports are interchangeable, so every query is a hit at rank 1.
    assert result["retrieval"]["image_to_text"]["R@1"] == 1.0
    assert result["retrieval"]["text_to_image"]["R@1"] == 1.0
    assert result["cxr_align"]["ids"] == ["s4", "s6"]
    assert result["cxr_align"]["tasks"]["A"]["score"] == 1.0
    assert result["linear_probe"][1.0]["macro"]["auroc"] == 1.0
    assert (tmp_path / "report.md").exists()


def test_image_files_give_the_same_result_as_arrays(tmp_path):
    from PIL import Image

    records = make_records()
    paths = []
    for i, image in enumerate(records["image"]):
        path = tmp_path / f"{i}.png"
        # Different sizes on disk: decoded and converted one by one.
        Image.fromarray(np.tile(image, (1 + i % 2, 1))).save(path)
        paths.append(str(path))
    from_files = dict(records, image_path=paths)
    del from_files["image"]
    model = Known()
    options = EvaluationOptions(
        findings=["Pleural Effusion"],
        prompts=PROMPTS,
        n_bootstrap=0,
        probe_fractions=(1.0,),
    )
    a = evaluate_records(model, model, records, options)
    b = evaluate_records(model, model, from_files, options)
    np.testing.assert_allclose(
        a["zero_shot"]["scores"], b["zero_shot"]["scores"]
    )
    assert a["retrieval"]["image_to_text"] == b["retrieval"]["image_to_text"]


def test_cxr_align_from_records_and_split_errors():
    records = make_records()
    data = cxr_align_from_records(select_split(records, "test"))
    assert data == {
        "records": {
            "s4": {
                "report": "Effusion.",
                "negation": "No effusion.",
                "omitted": "Clear.",
                "chosen": "Pleural Effusion",
            },
            "s6": {
                "report": "Effusion.",
                "negation": "No effusion.",
                "omitted": "Clear.",
                "chosen": "Pleural Effusion",
            },
        }
    }
    model = Known()
    with pytest.raises(ValueError, match="no records in split 'valid'"):
        evaluate_records(
            model,
            model,
            records,
            EvaluationOptions(split="valid", findings=["Pleural Effusion"]),
        )
    with pytest.raises(ValueError, match="per named finding \\(2\\)"):
        evaluate_records(
            model,
            model,
            records,
            EvaluationOptions(findings=["Pleural Effusion", "Edema"]),
        )
    with pytest.raises(KeyError, match="no 'split' column"):
        select_split({"id": ["a"]}, "test")


def test_a_subset_of_findings_takes_its_columns_of_the_14_labels():
    # `clinclip evaluate --findings "Pleural Effusion,Cardiomegaly"` on
    # records with the 14 CheXpert columns (issue 25, item 2).
    from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS

    records = make_records()
    labels = np.full((8, 14), np.nan)
    effusion = CHEXPERT_OBSERVATIONS.index("Pleural Effusion")
    labels[:, effusion] = records["labels"][:, 0]
    labels[:, CHEXPERT_OBSERVATIONS.index("Cardiomegaly")] = [0, 1] * 4
    model = Known()
    options = EvaluationOptions(
        prompts=PROMPTS, n_bootstrap=0, probe_fractions=()
    )
    one = evaluate_records(
        model,
        model,
        records,
        dataclasses.replace(options, findings=["Pleural Effusion"]),
    )
    records["labels"] = labels
    both = evaluate_records(
        model,
        model,
        records,
        dataclasses.replace(
            options, findings=["Pleural Effusion", "Cardiomegaly"]
        ),
    )
    assert both["zero_shot"]["scores"].shape == (4, 2)
    np.testing.assert_allclose(
        both["zero_shot"]["scores"][:, 0], one["zero_shot"]["scores"][:, 0]
    )
    with pytest.raises(ValueError, match="unknown finding.*'Effusion'"):
        evaluate_records(
            model, model, records, EvaluationOptions(findings=["Effusion"])
        )


def test_undefined_metrics_are_warned_once_and_noted(tmp_path):
    records = make_records()
    records["labels"] = np.concatenate(
        [records["labels"], np.zeros((8, 1))], axis=1
    )
    model = Known()
    with pytest.warns(UserWarning, match="'Edema'") as caught:
        result = evaluate_records(
            model,
            model,
            records,
            EvaluationOptions(
                findings=["Pleural Effusion", "Edema"],
                prompts=PROMPTS,
                n_bootstrap=50,
                probe_fractions=(1.0,),
            ),
            report=ReportOptions(tmp_path, figures=False),
        )
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(set(messages))  # not once per resample
    assert any("AUROC for 'Edema'" in m for m in result["warnings"])
    assert any("linear probe" in m for m in result["warnings"])
    assert "## Notes" in (tmp_path / "report.md").read_text()


def test_embedding_pads_the_last_batch_to_one_shape():
    from keras_clinclip.evaluation.embed import embed_images
    from keras_clinclip.evaluation.embed import embed_texts

    class Recording(Known):
        def __init__(self):
            self.shapes = []

        def encode_images(self, images):
            self.shapes.append(np.shape(images))
            return super().encode_images(images)

        def encode_texts(self, token_ids, padding_mask):
            self.shapes.append(np.shape(token_ids))
            return super().encode_texts(token_ids, padding_mask)

    model = Recording()
    images = np.arange(7 * 4, dtype=np.uint8).reshape(7, 2, 2) * 9
    embeddings = embed_images(model, images, model, batch_size=3)
    assert model.shapes == [(3, 2)] * 3
    expected = model.convert_images(images)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(embeddings, expected, rtol=1e-6)
    model.shapes = []
    texts = ["a", "no b", "c", "no d", "e"]
    embeddings = embed_texts(model, texts, model, batch_size=4)
    assert model.shapes == [(4, 2), (4, 2)]
    np.testing.assert_array_equal(embeddings[:, 1], [0, 1, 0, 1, 0])
