"""`ClinCLIPBackbone(negation_capacity=...)`: only valid negations encoded.

The packed model must give the values and the training step of the model
that encodes every slot, with and without overflow (dropped slots masked
in the loss exactly as empty ones).
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models import ClinCLIPBackbone
from tests.helpers import tiny_backbone
from tests.helpers import tiny_batch

# Whole training steps compared slot by slot: in `make test`, not in
# `make test-fast`.
pytestmark = pytest.mark.slow

B, K = 6, 2
# 7 valid slots of 12, in row-major slot order 0, 2, 3, 5, 6, 9, 11.
MASK = np.array([[1, 0], [1, 1], [0, 1], [1, 0], [0, 1], [0, 1]], "float32")


@pytest.fixture(scope="module")
def base():
    keras.utils.set_random_seed(4)
    model = tiny_backbone(num_negations=K)
    return model.get_config(), model.get_weights()


@pytest.fixture(scope="module")
def batch():
    x, y = tiny_batch(B, num_negations=K, seed=5)
    y["negation_mask"] = MASK.copy()
    x["negation_mask"] = MASK.copy()
    return x, y


def _model(base, capacity):
    config, weights = base
    model = ClinCLIPBackbone.from_config(
        dict(config, negation_capacity=capacity)
    )
    model.set_weights(weights)
    return model


def _numpy(outputs):
    return {k: ops.convert_to_numpy(v) for k, v in outputs.items()}


def _kept(mask, rows):
    """The loss mask after keeping the first `rows` valid slots."""
    flat = mask.reshape(-1).copy()
    valid = np.flatnonzero(flat)
    flat[valid[rows:]] = 0.0
    return flat.reshape(mask.shape)


def _fit_step(model, x, y):
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=SoftLabelContrastive(negation_soft_targets=True),
    )
    history = model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    weights = [np.asarray(w) for w in model.get_weights()]
    return weights, history.history["loss"][0]


def _assert_same_step(reference, other):
    (ref_weights, ref_loss), (weights, loss) = reference, other
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    worst = max(np.abs(a - b).max() for a, b in zip(ref_weights, weights))
    assert worst < 1e-5, worst


@pytest.mark.parametrize("capacity,rows", [(1.0, 7), (7, 7), (0.25, 3)])
def test_forward_equals_encoding_every_slot(base, batch, capacity, rows):
    x, _ = batch
    every = _numpy(_model(base, None)(x))
    packed = _numpy(_model(base, capacity)(x))
    np.testing.assert_allclose(
        packed["text_embeddings"], every["text_embeddings"], atol=1e-5
    )
    np.testing.assert_allclose(
        packed["image_embeddings"], every["image_embeddings"], atol=1e-6
    )
    encoded = _kept(MASK, rows)
    np.testing.assert_array_equal(packed["negation_encoded"], encoded)
    np.testing.assert_allclose(
        packed["negation_embeddings"],
        every["negation_embeddings"] * encoded[..., None],
        atol=1e-5,
    )
    # Slots not encoded are exact zeros; the dropped count is on every row.
    assert np.all(packed["negation_embeddings"][encoded == 0] == 0.0)
    np.testing.assert_array_equal(
        packed["negation_overflow"], np.full((B, 1), 7.0 - rows)
    )


def test_fit_step_equals_encoding_every_slot_without_overflow(base, batch):
    x, y = batch
    reference = _fit_step(_model(base, None), x, y)
    _assert_same_step(reference, _fit_step(_model(base, 0.6), x, y))


def test_overflow_masks_the_dropped_slots_in_the_loss(base, batch):
    # 3 rows for 7 valid slots: the step equals encoding every slot with
    # the 4 dropped ones masked in y_true, and differs from not masking.
    x, y = batch
    masked = dict(y, negation_mask=_kept(MASK, 3))
    reference = _fit_step(_model(base, None), x, masked)
    packed = _fit_step(_model(base, 3), x, y)
    _assert_same_step(reference, packed)
    # Without the masking, the zero embeddings of the dropped slots would
    # count as negatives: a different loss.
    outputs = _model(base, 3)(x)
    outputs = dict(outputs, logit_scale=ops.mean(outputs["logit_scale"]))
    loss = SoftLabelContrastive(negation_soft_targets=True)
    unmasked = float(ops.convert_to_numpy(loss(y, outputs)))
    masked_value = float(ops.convert_to_numpy(loss(masked, outputs)))
    assert abs(unmasked - masked_value) > 1e-4


def test_the_task_masks_the_dropped_slots_too(base, batch):
    # One compute_loss for backbone and Task (ClinCLIPCompileMixin): the
    # Task's step on preprocessed batches equals the masked reference.
    from keras_clinclip.models import ClinCLIPPretrainer

    x, y = batch
    masked = dict(y, negation_mask=_kept(MASK, 3))
    reference = _fit_step(_model(base, None), x, masked)
    task = ClinCLIPPretrainer(_model(base, 3), preprocessor=None)
    _assert_same_step(reference, _fit_step(task, x, y))


def test_default_is_unchanged_and_capacity_round_trips(base, batch):
    every = _model(base, None)
    assert every.negation_capacity is None
    assert "negation_mask" not in every.model_input_names
    x, _ = batch
    assert "negation_encoded" not in every(x)
    packed = _model(base, 0.5)
    assert "negation_mask" in packed.model_input_names
    config = packed.get_config()
    assert config["negation_capacity"] == 0.5
    restored = ClinCLIPBackbone.from_config(config)
    assert restored.negation_capacity == 0.5


def test_capacity_needs_the_negation_mask_input(base, batch):
    x, _ = batch
    x = {k: v for k, v in x.items() if k != "negation_mask"}
    with pytest.raises(ValueError, match="negation_mask"):
        _model(base, 0.5)(x)


@pytest.mark.parametrize("capacity", [0.0, 1.5, 0, -2, "half", True])
def test_bad_capacity_is_rejected(base, capacity):
    with pytest.raises(ValueError, match="negation_capacity"):
        _model(base, capacity)


def _run_dist(mode):
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    script = os.path.join(root, "tests", "models", "dist_negation_capacity.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=root)
    return subprocess.run(
        [sys.executable, script, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.distributed
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="runs once, under TF"
)
def test_mirrored_packed_step_equals_single_device():
    result = _run_dist("tf")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK" in result.stdout


@pytest.mark.distributed
@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="runs once, under JAX"
)
def test_data_parallel_packed_step_equals_single_device():
    result = _run_dist("jax")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK" in result.stdout
