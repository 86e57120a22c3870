"""keras_clinclip.layers against numpy references."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_clinclip.layers import FeaturePooling
from keras_clinclip.layers import GraphConvolution
from keras_clinclip.layers import LogitScale
from keras_clinclip.layers import MaskedMeanPooling
from keras_clinclip.layers import ProjectionHead
from keras_clinclip.models import ClinCLIPGraphEncoder


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _round_trip(layer):
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    return clone


def test_projection_head_linear_and_mlp():
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    linear = ProjectionHead(4)
    out = _np(linear(x))
    kernel = _np(linear.output_dense.kernel)
    np.testing.assert_allclose(out, x @ kernel, atol=1e-5)
    mlp = ProjectionHead(4, hidden_dim=6, use_bias=True, layer_norm=True)
    out = _np(mlp(x))
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out.mean(-1), 0.0, atol=1e-4)
    _round_trip(mlp)
    with pytest.raises(ValueError, match="output_dim"):
        ProjectionHead(0)


def test_logit_scale_value_clamp_and_gradient():
    layer = LogitScale()
    out = _np(layer(np.zeros((4, 7), "float32")))
    assert out.shape == (4, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1 / 0.07, rtol=1e-6)
    layer.log_scale.assign(math.log(1e4))
    np.testing.assert_allclose(_np(layer.scale()), 100.0)
    clone = _round_trip(LogitScale(initial_value=10.0, max_scale=50.0))
    clone.build(None)
    np.testing.assert_allclose(_np(clone.scale()), 10.0, rtol=1e-6)
    with pytest.raises(ValueError, match="initial_value"):
        LogitScale(initial_value=0.0)
    # Mixed precision keeps the scale in float32.
    mixed = LogitScale(dtype="mixed_bfloat16")
    out = mixed(np.zeros((2, 3), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_masked_mean_pooling_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    out = _np(MaskedMeanPooling()(x, mask))
    np.testing.assert_allclose(out[0], x[0, :2].mean(0), atol=1e-6)
    np.testing.assert_allclose(out[1], x[1].mean(0), atol=1e-6)
    np.testing.assert_allclose(out[2], 0.0)  # all padding: zeros, no NaN
    np.testing.assert_allclose(
        _np(MaskedMeanPooling()(x)), x.mean(1), atol=1e-6
    )


def test_feature_pooling_modes():
    x4 = np.random.default_rng(2).normal(size=(2, 3, 3, 4)).astype("float32")
    x3 = x4.reshape(2, 9, 4)
    np.testing.assert_allclose(
        _np(FeaturePooling()(x4)), x4.mean((1, 2)), atol=1e-6
    )
    np.testing.assert_allclose(
        _np(FeaturePooling("max")(x4)), x4.max((1, 2)), atol=1e-6
    )
    np.testing.assert_allclose(_np(FeaturePooling()(x3)), x3[:, 0])
    np.testing.assert_allclose(
        _np(FeaturePooling("avg")(x3)), x3.mean(1), atol=1e-6
    )
    np.testing.assert_allclose(_np(FeaturePooling()(x3[:, 0])), x3[:, 0])
    with pytest.raises(ValueError, match="mode"):
        FeaturePooling("sum")
    with pytest.raises(ValueError, match="cls"):
        FeaturePooling("cls")(x4)
    _round_trip(FeaturePooling("max"))


def _numpy_gcn(nodes, adjacency, mask, kernel, bias):
    out = np.zeros(nodes.shape[:2] + (kernel.shape[1],))
    for b in range(nodes.shape[0]):
        valid = np.flatnonzero(mask[b])
        a = np.maximum(adjacency[b], adjacency[b].T)[np.ix_(valid, valid)]
        np.fill_diagonal(a, 1.0)
        d = 1.0 / np.sqrt(a.sum(1))
        norm = d[:, None] * a * d[None, :]
        h = norm @ (nodes[b, valid] @ kernel + bias)
        out[b, valid] = np.maximum(h, 0.0)
    return out


def test_graph_convolution_matches_numpy_on_valid_nodes():
    rng = np.random.default_rng(3)
    nodes = rng.normal(size=(2, 4, 3)).astype("float32")
    adjacency = (rng.random((2, 4, 4)) < 0.5).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], "float32")
    layer = GraphConvolution(5, activation="relu")
    out = _np(layer(nodes, adjacency, mask))
    expected = _numpy_gcn(
        nodes, adjacency, mask, _np(layer.dense.kernel), _np(layer.dense.bias)
    )
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert (out[0, 3] == 0).all()  # padded node: zero output
    clone = _round_trip(layer)
    assert clone.units == 5


def test_graph_encoder_ignores_padded_nodes_and_reacts_to_edges():
    rng = np.random.default_rng(4)
    encoder = ClinCLIPGraphEncoder(4, hidden_dim=6, num_layers=2)
    nodes = rng.normal(size=(1, 3, 4)).astype("float32")
    adjacency = np.array([[[0, 1, 0], [1, 0, 0], [0, 0, 0]]], "float32")
    mask = np.ones((1, 3), "float32")
    out = _np(encoder(nodes, adjacency, mask))
    padded_nodes = np.concatenate([nodes, np.full((1, 2, 4), 7.0)], axis=1)
    padded_adj = np.ones((1, 5, 5), "float32")
    padded_adj[:, :3, :3] = adjacency
    padded_mask = np.array([[1, 1, 1, 0, 0]], "float32")
    padded = _np(
        encoder(padded_nodes.astype("float32"), padded_adj, padded_mask)
    )
    np.testing.assert_allclose(out, padded, atol=1e-5)
    rewired = adjacency.copy()
    rewired[0, 1, 2] = rewired[0, 2, 1] = 1.0
    assert np.abs(_np(encoder(nodes, rewired, mask)) - out).max() > 1e-4
    _round_trip(encoder)
