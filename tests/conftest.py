"""Shared pytest setup.

The suite runs once per Keras backend (`KERAS_BACKEND` set by
`scripts/run_tests.py`); tests marked `backend_independent` run once.
"""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Keep TensorFlow quiet and deterministic-ish on CPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def backend():
    """The name of the Keras backend under test."""
    import keras

    return keras.backend.backend()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private `$KERAS_CLINCLIP_CACHE` for the test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("KERAS_CLINCLIP_CACHE", str(path))
    return path
