"""TensorBoard logs by default when installed, a one-line note otherwise."""

import importlib.util

import pytest

from keras_clinclip.training.callbacks import build_callbacks

# Which callbacks are built does not depend on the backend.
pytestmark = pytest.mark.backend_independent


def _names(callbacks):
    return [type(c).__name__ for c in callbacks]


def test_tensorboard_on_by_default_when_installed(tmp_path, capsys):
    # tensorboard is in the [tensorboard] extra and in dev.
    assert importlib.util.find_spec("tensorboard") is not None
    names = _names(build_callbacks(tmp_path))
    assert "TensorBoard" in names
    assert capsys.readouterr().err == ""


def test_tensorboard_missing_gives_one_line_note(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        if name == "tensorboard":
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    names = _names(build_callbacks(tmp_path))
    assert "TensorBoard" not in names and "CSVLogger" in names
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keras-clinclip[tensorboard]" in err
    build_callbacks(tmp_path, tensorboard=False)
    assert capsys.readouterr().err == ""
