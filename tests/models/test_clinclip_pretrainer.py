"""ClinCLIPPretrainer, ClinCLIPTokenizer and the preset model card."""

import json
import pathlib

import keras
import keras_hub
import numpy as np
import pytest

from keras_clinclip import training_defaults
from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models import ClinCLIPPreprocessor
from keras_clinclip.models import ClinCLIPPretrainer
from keras_clinclip.models import ClinCLIPTokenizer
from keras_clinclip.models import read_model_card
from keras_clinclip.models.clinclip_model_card import check_model_card
from keras_clinclip.models.clinclip_model_card import render_model_card
from keras_clinclip.training.builders import build_losses
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.export import run_model_card
from tests.helpers import VOCABULARY
from tests.helpers import tiny_backbone
from tests.helpers import tiny_batch
from tests.helpers import tiny_preprocessor

REPORTS = ["no pleural effusion .", "small left effusion .", "clear .", "."]


def raw_batch():
    x = {
        "images": np.random.default_rng(0)
        .integers(0, 256, (4, 40, 40))
        .astype("uint8"),
        "reports": np.array(REPORTS),
    }
    return x, {"labels": np.zeros((4, 14), "float32")}


def test_compile_defaults_have_one_home():
    plain = ClinCLIPPretrainer(tiny_backbone(), tiny_preprocessor())
    (loss,) = plain.contrastive_losses
    assert isinstance(loss, SoftLabelContrastive)
    assert loss.sources == "auto"
    assert isinstance(plain.optimizer, keras.optimizers.AdamW)
    assert plain.optimizer.weight_decay == pytest.approx(
        training_defaults.WEIGHT_DECAY
    )
    assert plain.contrastive_loss_weights == [1.0]
    graph = ClinCLIPPretrainer(
        tiny_backbone(graph_feature_dim=8), tiny_preprocessor()
    )
    assert [type(item) for item in graph.contrastive_losses] == [
        SoftLabelContrastive,
        GraphAlignment,
    ]
    assert graph.contrastive_losses[1].sources == "auto"
    assert graph.contrastive_loss_weights == [
        1.0,
        training_defaults.GRAPH_WEIGHT,
    ]
    # The backbone takes the same defaults.
    backbone = tiny_backbone(graph_feature_dim=8)
    backbone.compile()
    assert [type(item) for item in backbone.contrastive_losses] == [
        SoftLabelContrastive,
        GraphAlignment,
    ]
    assert backbone.contrastive_loss_weights == graph.contrastive_loss_weights


def test_model_compile_gets_the_training_defaults():
    # One source of training defaults: `model.compile()`'s "auto"
    # optimizer and loss are those `clinclip train` compiles for the same
    # config (`--loss=full`), only the learning rate is constant.
    config = TrainingConfig()
    keras.utils.set_random_seed(0)
    model = tiny_backbone(num_negations=1, graph_feature_dim=8)
    model.compile()
    optimizer = model.optimizer
    rate = keras.ops.convert_to_numpy(optimizer.learning_rate)
    assert float(rate) == pytest.approx(config.learning_rate)
    assert optimizer.weight_decay == pytest.approx(config.weight_decay)
    assert optimizer.global_clipnorm == config.clipnorm
    losses, weights = build_losses(config)
    assert model.contrastive_loss_weights == weights
    x, y = tiny_batch(4, num_negations=1, graph_nodes=5, seed=0)
    auto = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    model.compile(loss=losses, loss_weights=weights)
    train = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(auto["loss"], train["loss"], rtol=1e-6)
    # The test can tell: graph alignment with hard targets at weight 1
    # (the "auto" loss before it came from the training defaults) differs.
    model.compile(loss=[losses[0], GraphAlignment()])
    old = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert abs(old["loss"] - auto["loss"]) > 1e-3


def test_backbone_compile_with_one_explicit_loss_still_trains():
    model = tiny_backbone()
    model.compile(optimizer="sgd", loss=SoftLabelContrastive(sources="auto"))
    x, y = tiny_batch(4)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_fit_on_raw_studies_moves_the_weights():
    task = ClinCLIPPretrainer(tiny_backbone(), tiny_preprocessor())
    task.compile(optimizer=keras.optimizers.SGD(0.1))
    before = [np.array(w) for w in task.backbone.text_projection.weights]
    x, y = raw_batch()
    history = task.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = task.backbone.text_projection.weights
    assert any(
        not np.allclose(b, keras.ops.convert_to_numpy(a))
        for b, a in zip(before, after)
    )


def test_bert_tokenizer_becomes_a_clinclip_tokenizer_with_same_ids():
    bert = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    preprocessor = ClinCLIPPreprocessor(tokenizer=bert, sequence_length=8)
    assert isinstance(preprocessor.tokenizer, ClinCLIPTokenizer)
    text = "No pleural effusion."
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(preprocessor.tokenizer(text)),
        keras.ops.convert_to_numpy(bert(text)),
    )
    with pytest.raises(ValueError, match="BertTokenizer"):
        ClinCLIPTokenizer.from_tokenizer("not a tokenizer")


def test_old_preset_with_a_bert_tokenizer_still_loads(tmp_path):
    tiny_backbone().save_to_preset(tmp_path)
    tiny_preprocessor().save_to_preset(tmp_path)
    # Presets saved before ClinCLIPTokenizer name KerasHub's BertTokenizer.
    old = {
        "module": "keras_hub.src.models.bert.bert_tokenizer",
        "class_name": "BertTokenizer",
        "registered_name": "keras_hub>BertTokenizer",
    }
    for name in ("tokenizer.json", "preprocessor.json"):
        config = json.loads((tmp_path / name).read_text())
        tokenizer = config if name == "tokenizer.json" else None
        if tokenizer is None:
            tokenizer = config["config"]["tokenizer"]
        tokenizer.update(old)
        (tmp_path / name).write_text(json.dumps(config))
    preprocessor = ClinCLIPPreprocessor.from_preset(str(tmp_path))
    assert type(preprocessor.tokenizer) is keras_hub.models.BertTokenizer
    assert preprocessor.tokenizer.vocabulary_size() == len(VOCABULARY)
    tokenizer = keras_hub.models.Tokenizer.from_preset(str(tmp_path))
    assert tokenizer.vocabulary_size() == len(VOCABULARY)


def test_sequence_length_can_be_changed_after_use():
    preprocessor = tiny_preprocessor(sequence_length=8)
    assert preprocessor.tokenize(["no effusion"])["token_ids"].shape[-1] == 8
    preprocessor.sequence_length = 11
    assert preprocessor.tokenize(["no effusion"])["token_ids"].shape[-1] == 11
    with pytest.raises(ValueError, match="sequence_length"):
        preprocessor.sequence_length = 1


def test_task_preset_carries_a_model_card(tmp_path):
    card = {
        "training_data": ["SynthCXR"],
        "synthetic_images": True,
        "training_config": {"epochs": 2},
        "metrics": {"loss": 1.25},
        "intended_use": "Smoke tests.",
    }
    task = ClinCLIPPretrainer(tiny_backbone(), compile=False)
    task.save_to_preset(tmp_path, model_card=card)
    text = (tmp_path / "README.md").read_text()
    assert "only synthetic images" in text.split("## Model")[0]
    assert "| `loss` | 1.25 |" in text and "Smoke tests." in text
    assert read_model_card(tmp_path) == check_model_card(card)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    # Both Tasks built on a ClinCLIPBackbone can load the preset.
    assert sorted(metadata["tasks"]) == [
        "ClinCLIPImageClassifier",
        "ClinCLIPPretrainer",
    ]


@pytest.mark.backend_independent
def test_model_card_without_information_says_so():
    text = render_model_card(tiny_backbone(), None)
    assert "Not recorded" in text and "None recorded." in text
    assert "synthetic" not in text
    real = render_model_card(tiny_backbone(), {"synthetic_images": False})
    assert "Warning" not in real and "real radiographs" in real


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "card, match",
    [
        ({"trainingdata": "x"}, "Unknown `model_card` keys"),
        ({"metrics": [1.0]}, "metrics"),
        ("SynthCXR", "must be a dict"),
    ],
)
def test_bad_model_cards_are_refused(card, match):
    with pytest.raises(ValueError, match=match):
        check_model_card(card)


@pytest.mark.backend_independent
def test_run_model_card_reads_the_log_and_flags_synthetic_data(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss,val_loss\n0,2.5,2.7\n1,2.0,2.25\n")
    card = run_model_card(TrainingConfig(dataset="iu_xray"), log)
    assert card["synthetic_images"] is True
    assert card["metrics"] == {"epoch": 1.0, "loss": 2.0, "val_loss": 2.25}
    card = run_model_card(TrainingConfig(dataset="data/mimic.csv"))
    # A user's table: provenance unknown, never guessed; absolute path.
    assert card["synthetic_images"] is None and card["metrics"] == {}
    absolute = str(pathlib.Path("data/mimic.csv").resolve())
    assert card["training_data"] == f"records from {absolute}"
    text = render_model_card(tiny_backbone(), card)
    assert "real radiographs." not in text
    assert "Images: unknown" in text
    assert absolute in text
    assert run_model_card(TrainingConfig(dataset="iu"))["synthetic_images"]


def test_task_loads_from_a_backbone_only_preset(tmp_path):
    backbone = tiny_backbone()
    backbone.save_to_preset(tmp_path)
    tiny_preprocessor().save_to_preset(tmp_path)
    assert not (tmp_path / "task.json").exists()
    assert not (tmp_path / "README.md").exists()  # the card is the task's
    task = ClinCLIPPretrainer.from_preset(str(tmp_path))
    assert isinstance(task.preprocessor, ClinCLIPPreprocessor)
    for mine, theirs in zip(backbone.weights, task.backbone.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs)
        )


def test_a_packed_preset_predicts_and_fits_on_raw_studies(tmp_path):
    # What `clinclip train` writes by default: a backbone that packs the
    # negations (`negation_capacity`) and so takes `negation_mask` too.
    backbone = tiny_backbone(num_negations=2, negation_capacity=0.5)
    backbone.save_to_preset(tmp_path)
    tiny_preprocessor().save_to_preset(tmp_path)
    task = ClinCLIPPretrainer.from_preset(str(tmp_path))
    assert "negation_mask" in task.backbone.input
    x, y = raw_batch()
    plain = task.predict(x, batch_size=4, verbose=0)
    assert plain["image_embeddings"].shape == (4, 16)
    negations = [["no left effusion .", ""], ["", ""], ["", ""], ["", ""]]
    with_negations = dict(x, negations=np.array(negations))
    task.compile(optimizer=keras.optimizers.SGD(0.1))
    history = task.fit(with_negations, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The mask follows the written negations, or `y`'s when given.
    mask = task.preprocessor(with_negations)["negation_mask"]
    assert keras.ops.convert_to_numpy(mask).tolist() == [
        [1.0, 0.0],
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 0.0],
    ]
    given = {"labels": y["labels"], "negation_mask": np.zeros((4, 2), "f")}
    x_out, y_out = task.preprocessor(with_negations, given)
    assert not keras.ops.convert_to_numpy(x_out["negation_mask"]).any()
    assert y_out["negation_mask"] is given["negation_mask"]
