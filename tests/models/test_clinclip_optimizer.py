"""Warm-up + cosine schedule and the AdamW set-up."""

import math

import keras
import numpy as np
import pytest

from keras_clinclip.models.clinclip_optimizer import build_optimizer
from keras_clinclip.models.clinclip_optimizer import warmup_cosine_schedule


def test_schedule_against_formula():
    schedule = warmup_cosine_schedule(
        2e-3, total_steps=20, warmup_steps=4, final_learning_rate=1e-4
    )
    for step in range(0, 25):
        if step < 4:
            expected = 2e-3 * step / 4
        else:
            p = min((step - 4) / 16, 1.0)
            expected = 1e-4 + (2e-3 - 1e-4) * 0.5 * (1 + math.cos(math.pi * p))
        value = float(keras.ops.convert_to_numpy(schedule(step)))
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-9), step
    clone = type(schedule).from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine_schedule(1.0, total_steps=5, warmup_steps=6)


def test_adamw_clips_and_skips_decay_on_scale_and_bias():
    optimizer = build_optimizer(
        1e-1, total_steps=10, warmup_ratio=0.0, weight_decay=0.5, clipnorm=1.0
    )
    kernel = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    scale = keras.Variable(np.float32(1.0), name="logit_scale")
    optimizer.build([kernel, scale])
    # Zero gradients: only weight decay moves a variable.
    grads = [keras.ops.zeros((2, 2)), keras.ops.zeros(())]
    optimizer.apply(grads, [kernel, scale])
    assert float(keras.ops.convert_to_numpy(scale)) == 1.0
    assert np.all(keras.ops.convert_to_numpy(kernel) < 1.0)
    assert optimizer.global_clipnorm == 1.0
