"""Issue 25, items 11 and 12: no start-up noise, and users' own models.

- `quiet_import` drops the TensorFlow start-up lines a user cannot act on
  and keeps every other line (all of them when the import fails);
- Keras's own `compile` given one of our whole-dict losses, and a
  functional model whose dict inputs miss keys of the batch, fail at once
  with a message that names `ContrastiveModel` / the keys.

The README example's run (tests/test_docs_examples.py) checks that its
output has no warning or error line, on every backend.
"""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_clinclip import quiet_import
from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models import ContrastiveModel

ABSL = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR"
)
ONEDNN = (
    "I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results"
)
CUDART = (
    "I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used."
)
REAL = "E0000 00:00:1.0 1 loader.cc:9] libfoo.so: cannot open shared object"


def _fake_module(tmp_path, monkeypatch, name, fails=False):
    written = "".join(f"{line}\n" for line in (ABSL, ONEDNN, CUDART, REAL))
    body = f"import os\nos.write(2, {written.encode()!r})\n"
    if fails:
        body += "raise ImportError('libfoo.so missing')\n"
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.mark.backend_independent
def test_import_drops_the_start_up_noise_and_keeps_real_lines(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.delenv("KERAS_CLINCLIP_NATIVE_LOGS", raising=False)
    monkeypatch.setattr(quiet_import, "accelerator_expected", lambda: False)
    _fake_module(tmp_path, monkeypatch, "noisy_native_lib")
    assert quiet_import.import_quietly("noisy_native_lib")
    err = capfd.readouterr().err
    assert err.splitlines() == [REAL]
    # Already imported: nothing is done.
    assert not quiet_import.import_quietly("noisy_native_lib")


@pytest.mark.backend_independent
def test_cuda_lines_are_kept_where_a_gpu_is_expected(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setattr(quiet_import, "accelerator_expected", lambda: True)
    _fake_module(tmp_path, monkeypatch, "noisy_gpu_lib")
    quiet_import.import_quietly("noisy_gpu_lib")
    assert capfd.readouterr().err.splitlines() == [CUDART, REAL]


@pytest.mark.backend_independent
def test_a_failed_import_replays_everything_it_wrote(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setattr(quiet_import, "accelerator_expected", lambda: False)
    _fake_module(tmp_path, monkeypatch, "broken_native_lib", fails=True)
    with pytest.raises(ImportError, match="libfoo.so missing"):
        quiet_import.import_quietly("broken_native_lib")
    assert capfd.readouterr().err.splitlines() == [ABSL, ONEDNN, CUDART, REAL]


@pytest.mark.backend_independent
def test_native_logs_switch_shows_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CLINCLIP_NATIVE_LOGS", "1")
    _fake_module(tmp_path, monkeypatch, "shown_native_lib")
    assert not quiet_import.import_quietly("shown_native_lib")


@pytest.mark.backend_independent
def test_jax_is_sent_to_the_cpu_only_without_a_driver(monkeypatch):
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.setattr(quiet_import, "_cuda_plugin_installed", lambda: True)
    monkeypatch.setattr(quiet_import, "accelerator_expected", lambda: True)
    assert not quiet_import.set_jax_platform()
    monkeypatch.setattr(quiet_import, "accelerator_expected", lambda: False)
    assert quiet_import.set_jax_platform()
    assert quiet_import.os.environ["JAX_PLATFORMS"] == "cpu"
    # A user's choice is kept.
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    assert not quiet_import.set_jax_platform()


def _towers():
    images = keras.Input((6,), name="images")
    token_ids = keras.Input((5,), name="token_ids")
    image_embeddings = keras.layers.Dense(4)(images)
    outputs = {
        "image_embeddings": image_embeddings,
        "text_embeddings": keras.layers.Dense(4)(token_ids),
        "logit_scale": keras.layers.Lambda(
            lambda x: keras.ops.ones_like(x[:, :1]) * 10.0
        )(image_embeddings),
    }
    return {"images": images, "token_ids": token_ids}, outputs


@pytest.mark.parametrize(
    "loss",
    [SoftLabelContrastive(sources=()), [SoftLabelContrastive(), "mse"]],
    ids=["one", "list"],
)
def test_keras_compile_with_a_whole_dict_loss_names_contrastive_model(loss):
    model = keras.Model(*_towers())
    with pytest.raises(ValueError) as caught:
        model.compile(optimizer="sgd", loss=loss)
    message = str(caught.value)
    assert "\n" not in message
    assert "ContrastiveModel(inputs, outputs)" in message
    assert "image_embeddings, text_embeddings, logit_scale" in message
    assert "ContrastiveLossMixin" in message
    # Other losses compile as before.
    model.compile(optimizer="sgd", loss="mse")


def _batch(keys):
    rng = np.random.default_rng(0)
    shapes = {"images": (8, 6), "token_ids": (8, 5), "padding_mask": (8, 5)}
    x = {key: rng.random(shapes[key], "float32") for key in keys}
    return x, {"labels": np.zeros((8, 14), "float32")}


def test_undeclared_batch_keys_are_named_before_keras_fails():
    model = ContrastiveModel(*_towers())
    model.compile(optimizer="sgd", loss=SoftLabelContrastive(sources=()))
    x, y = _batch(["images", "padding_mask", "token_ids"])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    for call in (
        lambda: model.fit(dataset, epochs=1, verbose=0),
        lambda: model.evaluate(x, y, verbose=0),
        lambda: model.predict(dataset, verbose=0),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        message = str(caught.value)
        assert "['padding_mask']" in message
        assert "declares the inputs ['images', 'token_ids']" in message
    x, y = _batch(["images"])
    with pytest.raises(ValueError, match=r"the batches lack \['token_ids'\]"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    # (A model whose inputs match its batches trains: docs/losses.md.)


def test_the_guard_leaves_contrastive_models_alone():
    model = ContrastiveModel(*_towers())
    loss = [SoftLabelContrastive(sources=()), GraphAlignment()]
    model.compile(optimizer="sgd", loss=loss)
    assert model.contrastive_losses == loss
