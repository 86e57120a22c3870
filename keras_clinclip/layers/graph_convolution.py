"""A graph convolution over padded, batched graphs, in `keras.ops`."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_clinclip")
class GraphConvolution(keras.layers.Layer):
    """One graph convolution (GCN) layer on padded node arrays.

    `H' = act(Â H W + b)` with `Â = D^-1/2 (A + I) D^-1/2` (Kipf & Welling),
    computed per graph of the batch on the valid nodes only: padded nodes
    (mask 0) neither send nor receive messages and get zero output. With
    `residual=True` and equal widths, the input is added to the output.

    Args:
        units: int. Output feature size per node.
        activation: activation name or callable (default `"gelu"`).
        use_bias: bool. Whether to add a bias.
        residual: bool. Add the input to the output when widths match.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        nodes: float `(batch, M, F)` node features.
        adjacency: float `(batch, M, M)`; non-zero entries are edges (the
            weights are kept; the matrix is symmetrised).
        node_mask: `(batch, M)` bool/float; `None` means all nodes valid.

    Example:
    >>> import numpy as np
    >>> layer = GraphConvolution(units=4)
    >>> nodes = np.ones((2, 3, 5), "float32")
    >>> adjacency = np.zeros((2, 3, 3), "float32")
    >>> tuple(layer(nodes, adjacency).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        units,
        activation="gelu",
        use_bias=True,
        residual=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.residual = bool(residual)
        self.dense = keras.layers.Dense(
            self.units,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, nodes_shape, adjacency_shape=None, node_mask_shape=None):
        self.dense.build(tuple(nodes_shape))
        self.built = True

    def call(self, nodes, adjacency, node_mask=None):
        dtype = nodes.dtype
        adjacency = ops.cast(adjacency, dtype)
        size = ops.shape(adjacency)[-1]
        if node_mask is None:
            mask = ops.ones(ops.shape(nodes)[:2], dtype=dtype)
        else:
            mask = ops.cast(node_mask, dtype)
        # Symmetrise, add self-loops, drop edges touching padded nodes.
        adjacency = ops.maximum(adjacency, ops.swapaxes(adjacency, 1, 2))
        eye = ops.eye(size, dtype=dtype)[None]
        adjacency = adjacency * (1.0 - eye) + eye
        pair_mask = mask[:, :, None] * mask[:, None, :]
        adjacency = adjacency * pair_mask
        degree = ops.sum(adjacency, axis=-1)
        inv_sqrt = ops.where(
            degree > 0, ops.rsqrt(ops.maximum(degree, 1e-12)), 0.0
        )
        norm = inv_sqrt[:, :, None] * adjacency * inv_sqrt[:, None, :]
        messages = ops.matmul(norm, self.dense(nodes))
        outputs = self.activation(messages)
        if self.residual and nodes.shape[-1] == self.units:
            outputs = outputs + nodes
        return outputs * mask[:, :, None]

    def compute_output_shape(
        self, nodes_shape, adjacency_shape=None, node_mask_shape=None
    ):
        return tuple(nodes_shape)[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "residual": self.residual,
            }
        )
        return config
