"""The design card's promises in a user's own few lines of code.

Each engine's standard pattern trains a ClinCLIP from `make_dataset`'s
batches (boolean padding masks) with no call of ours, and equals one
device; `model.compile(loss=SoftLabelContrastive())` works with and
without a graph branch; a missing loss is the same error everywhere.
"""

import keras
import numpy as np
import pytest

from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import make_dataset
from keras_clinclip.data import synthetic_pairs
from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.models import ContrastiveModel
from keras_clinclip.models import tiny_clinclip_backbone
from keras_clinclip.models import tiny_clinclip_preprocessor
from keras_clinclip.reports import GRAPH_FEATURE_DIM
from tests.user_scripts import runner

# End to end (subprocesses or whole trainings): in `make test`, not in
# `make test-fast`.
pytestmark = pytest.mark.slow

BACKEND = keras.backend.backend()
only = {
    name: pytest.mark.skipif(
        BACKEND != name, reason=f"an engine test of the {name} pass"
    )
    for name in ("tensorflow", "jax", "torch")
}
TOLERANCE = 1e-4


def _dataset(graphs=True):
    records = synthetic_pairs(8, seed=1, image_size=32, num_negations=1)
    return make_dataset(
        records,
        tiny_clinclip_preprocessor(sequence_length=16),
        batch_size=8,
        negations=NegationOptions(count=1),
        options=PipelineOptions(graphs=graphs),
    )


def _weights(layer):
    return [np.array(w) for w in layer.get_weights()]


def test_single_loss_compile_without_graph_branch_trains(capsys):
    model = tiny_clinclip_backbone(num_negations=1)
    model.compile(optimizer="adam", loss=SoftLabelContrastive())
    before = _weights(model.text_projection)
    history = model.fit(_dataset(graphs=False), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    after = _weights(model.text_projection)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before, after))
    said = capsys.readouterr().out
    assert "sources from the batch: text, clinical" in said


def test_single_loss_on_a_graph_branch_warns_and_graph_alignment_trains():
    model = tiny_clinclip_backbone(
        num_negations=1, graph_feature_dim=GRAPH_FEATURE_DIM
    )
    with pytest.warns(UserWarning, match="no compiled loss trains it"):
        model.compile(optimizer="sgd", loss=SoftLabelContrastive())
    before = _weights(model.graph_encoder)
    model.fit(_dataset(), epochs=1, verbose=0)
    # What the warning says: the graph encoder does not move.
    for a, b in zip(before, _weights(model.graph_encoder)):
        np.testing.assert_array_equal(a, b)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.compile(
            optimizer="sgd", loss=[SoftLabelContrastive(), GraphAlignment()]
        )
    model.fit(_dataset(), epochs=1, verbose=0)
    moved = max(
        np.abs(a - b).max()
        for a, b in zip(before, _weights(model.graph_encoder))
    )
    assert moved > 0


def test_no_loss_is_the_same_clear_error_on_every_backend():
    inputs = keras.Input((3,))
    model = ContrastiveModel(inputs, {"a": keras.layers.Dense(2)(inputs)})
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(
            np.ones((4, 3), "float32"),
            {"labels": np.zeros((4, 1), "float32")},
            verbose=0,
        )


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """The script's final weights on one device, on this pass's backend:
    run once and shared by the engine tests of the pass."""
    path = tmp_path_factory.mktemp("one_device") / "one.npz"
    code, output = runner.run("single", path, BACKEND)
    assert code == 0, output[-3000:]
    return path


def _assert_same_weights(one, *others):
    for other in others:
        assert runner.max_difference(one, other) < TOLERANCE, other.name


@only["tensorflow"]
@pytest.mark.distributed
def test_mirrored_strategy_plain_script_equals_one_device(tmp_path, one_device):
    one = one_device
    code, output = runner.run("mirrored", tmp_path / "two.npz", "tensorflow")
    assert code == 0, output[-3000:]
    _assert_same_weights(one, tmp_path / "two.npz")


@only["tensorflow"]
@pytest.mark.distributed
def test_multi_worker_mirrored_plain_script_equals_one_device(
    tmp_path, one_device
):
    one = one_device
    for code, output in runner.run_multiworker(tmp_path):
        assert code == 0, output[-3000:]
    _assert_same_weights(
        one, tmp_path / "worker0.npz", tmp_path / "worker1.npz"
    )


@only["jax"]
@pytest.mark.distributed
def test_jax_data_parallel_plain_script_equals_one_device(tmp_path, one_device):
    one = one_device
    code, output = runner.run("data_parallel", tmp_path / "two.npz", "jax")
    assert code == 0, output[-3000:]
    _assert_same_weights(one, tmp_path / "two.npz")


@only["torch"]
@pytest.mark.distributed
def test_torch_data_parallel_plain_script_equals_one_device(
    tmp_path, one_device
):
    one = one_device
    code, output = runner.run_torchrun(tmp_path)
    assert code == 0, output[-3000:]
    _assert_same_weights(one, tmp_path / "rank0.npz", tmp_path / "rank1.npz")
