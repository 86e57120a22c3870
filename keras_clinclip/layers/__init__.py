"""Reusable Keras layers of keras_clinclip (all `keras.ops`)."""

from keras_clinclip.layers.feature_pooling import FeaturePooling
from keras_clinclip.layers.graph_convolution import GraphConvolution
from keras_clinclip.layers.logit_scale import LogitScale
from keras_clinclip.layers.masked_mean_pooling import MaskedMeanPooling
from keras_clinclip.layers.negation_packing import NegationPacking
from keras_clinclip.layers.negation_packing import NegationUnpacking
from keras_clinclip.layers.negation_packing import buffer_rows
from keras_clinclip.layers.negation_packing import mask_dropped_negations
from keras_clinclip.layers.negation_packing import negation_capacity_for
from keras_clinclip.layers.negation_stacking import NegationStacking
from keras_clinclip.layers.negation_stacking import NegationUnstacking
from keras_clinclip.layers.projection_head import ProjectionHead

__all__ = [
    "FeaturePooling",
    "GraphConvolution",
    "LogitScale",
    "MaskedMeanPooling",
    "NegationPacking",
    "NegationStacking",
    "NegationUnpacking",
    "NegationUnstacking",
    "ProjectionHead",
    "buffer_rows",
    "mask_dropped_negations",
    "negation_capacity_for",
]
