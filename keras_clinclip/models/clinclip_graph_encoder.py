"""Encoder of report graphs: node projection, GCN layers, masked pooling."""

import keras

from keras_clinclip.layers.graph_convolution import GraphConvolution
from keras_clinclip.layers.masked_mean_pooling import MaskedMeanPooling


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPGraphEncoder(keras.layers.Layer):
    """Encodes padded report graphs into one vector per graph.

    The graph tower of `ClinCLIPBackbone(graph_encoder=...)`: its
    `feature_dim` F and `max_nodes` M declare the backbone's graph inputs,
    as the image tower's input shape declares `images`. Node features
    `(B, M, F)` are projected to `hidden_dim`, passed through
    `num_layers` residual `GraphConvolution` layers over the symmetric
    normalised adjacency, layer-normalised, and mean-pooled over the valid
    nodes. A graph with no valid node gives a zero vector.

    Args:
        feature_dim: int. Node feature size F of the report graphs
            (`keras_clinclip.reports.GRAPH_FEATURE_DIM` for the package's).
        hidden_dim: int. Node width inside the encoder (and output size).
        num_layers: int. Number of graph convolutions.
        dropout: float. Dropout on node features between layers.
        max_nodes: int or None. Static number of nodes M (None: any).
        **kwargs: standard `keras.layers.Layer` arguments (`name`
            defaults to `"graph_encoder"`).

    Call arguments:
        nodes: float `(B, M, F)`.
        adjacency: float `(B, M, M)`.
        node_mask: `(B, M)` bool/float, or `None` (all valid).

    Example:
    >>> import numpy as np
    >>> encoder = ClinCLIPGraphEncoder(3, hidden_dim=8, num_layers=2)
    >>> nodes = np.random.rand(2, 5, 3).astype("float32")
    >>> adjacency = np.ones((2, 5, 5), "float32")
    >>> tuple(encoder(nodes, adjacency, np.ones((2, 5), bool)).shape)
    (2, 8)
    """

    def __init__(
        self,
        feature_dim,
        hidden_dim=128,
        num_layers=2,
        dropout=0.0,
        max_nodes=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "graph_encoder")
        super().__init__(**kwargs)
        self.feature_dim = int(feature_dim)
        self.max_nodes = None if max_nodes is None else int(max_nodes)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.node_projection = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="node_projection"
        )
        self.convolutions = [
            GraphConvolution(
                self.hidden_dim,
                residual=True,
                dtype=self.dtype_policy,
                name=f"graph_convolution_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="output_norm"
        )
        self.pooling = MaskedMeanPooling(
            dtype=self.dtype_policy, name="pooling"
        )

    def build(self, nodes_shape, adjacency_shape=None, node_mask_shape=None):
        nodes_shape = tuple(nodes_shape)
        self.node_projection.build(nodes_shape)
        hidden_shape = nodes_shape[:-1] + (self.hidden_dim,)
        for convolution in self.convolutions:
            convolution.build(hidden_shape, adjacency_shape)
        self.output_norm.build(hidden_shape)
        self.built = True

    def call(self, nodes, adjacency, node_mask=None, training=None):
        x = self.node_projection(nodes)
        for convolution in self.convolutions:
            x = self.dropout_layer(x, training=training)
            x = convolution(x, adjacency, node_mask)
        x = self.output_norm(x)
        return self.pooling(x, node_mask)

    def compute_output_shape(
        self, nodes_shape, adjacency_shape=None, node_mask_shape=None
    ):
        return (nodes_shape[0], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "feature_dim": self.feature_dim,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "max_nodes": self.max_nodes,
            }
        )
        return config
