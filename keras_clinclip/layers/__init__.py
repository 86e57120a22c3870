"""Reusable Keras layers of keras_clinclip (all `keras.ops`)."""

from keras_clinclip.layers.feature_pooling import FeaturePooling
from keras_clinclip.layers.graph_convolution import GraphConvolution
from keras_clinclip.layers.logit_scale import LogitScale
from keras_clinclip.layers.masked_mean_pooling import MaskedMeanPooling
from keras_clinclip.layers.projection_head import ProjectionHead

__all__ = [
    "FeaturePooling",
    "GraphConvolution",
    "LogitScale",
    "MaskedMeanPooling",
    "ProjectionHead",
]
