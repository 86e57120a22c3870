"""Backend-specific code, in one place: numerics checks, Keras workarounds
and the torch data-parallel set-up. Everything else uses `keras.ops`."""

from keras_clinclip.backend.numerics import assert_finite

__all__ = ["assert_finite"]
