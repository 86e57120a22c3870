"""Keras's CosineDecay replaces the hand-written warm-up cosine (issue 17)."""

import math

import keras
import numpy as np
import pytest

from keras_clinclip.models.clinclip_optimizer import build_optimizer
from keras_clinclip.models.clinclip_optimizer import warmup_cosine_schedule


def _old_schedule(step, peak, total, warmup, final):
    """The removed hand-written schedule's arithmetic, step by step."""
    if step < warmup:
        return peak * step / max(warmup, 1.0)
    span = max(float(total) - warmup, 1.0)
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


CASES = [
    (2e-3, 20, 4, 1e-4),
    (1e-4, 1000, 100, 0.0),
    (0.5, 10, 0, 0.0),  # no warm-up
    (0.5, 10, 10, 0.05),  # warm-up over the whole run
    (3e-4, 7, 3, 3e-4),  # constant after warm-up
]


@pytest.mark.parametrize("peak,total,warmup,final", CASES)
def test_keras_schedule_has_the_old_values(peak, total, warmup, final):
    new = warmup_cosine_schedule(
        peak, total_steps=total, warmup_steps=warmup, final_learning_rate=final
    )
    assert isinstance(new, keras.optimizers.schedules.CosineDecay)
    steps = sorted({0, 1, warmup, total - 1, total, total + 5} | {total // 2})
    for step in steps:
        expected = _old_schedule(step, peak, total, warmup, final)
        value = float(keras.ops.convert_to_numpy(new(step)))
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-9), step


def test_schedules_serialize_and_validate():
    new = warmup_cosine_schedule(1.0, total_steps=10, warmup_steps=2)
    config = keras.optimizers.schedules.serialize(new)
    clone = keras.optimizers.schedules.deserialize(config)
    assert type(clone) is keras.optimizers.schedules.CosineDecay
    assert float(keras.ops.convert_to_numpy(clone(6))) == pytest.approx(0.5)
    final = warmup_cosine_schedule(2.0, total_steps=10, final_learning_rate=0.2)
    clone = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(final)
    )
    assert float(keras.ops.convert_to_numpy(clone(10))) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine_schedule(1.0, total_steps=5, warmup_steps=6)
    with pytest.raises(ValueError, match="total_steps"):
        warmup_cosine_schedule(1.0, total_steps=0)
    with pytest.raises(ValueError, match="final_learning_rate"):
        warmup_cosine_schedule(0.0, total_steps=5, final_learning_rate=0.1)


def test_build_optimizer_uses_keras_schedule():
    optimizer = build_optimizer(1e-2, total_steps=100, warmup_ratio=0.1)
    schedule = optimizer._learning_rate
    assert type(schedule) is keras.optimizers.schedules.CosineDecay
    values = [float(keras.ops.convert_to_numpy(schedule(s))) for s in (5, 10)]
    np.testing.assert_allclose(values, [5e-3, 1e-2], rtol=1e-5)
