"""Projection of pooled tower features into the shared embedding space."""

import keras


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ProjectionHead(keras.layers.Layer):
    """Projects pooled features to the shared embedding dimension.

    With `hidden_dim=None` this is one linear map (CLIP's projection). With
    a `hidden_dim`, it is a two-layer MLP `Dense -> GELU -> Dropout -> Dense`
    (the head used by many medical CLIP models), optionally followed by a
    layer normalisation. The output is *not* L2-normalised: the losses and
    `ClinCLIPBackbone.encode_*` normalise.

    Args:
        output_dim: int. The shared embedding dimension `d`.
        hidden_dim: int or None. Width of the hidden layer of the MLP head;
            `None` for a single linear projection.
        dropout: float. Dropout rate after the hidden activation.
        use_bias: bool. Whether the dense layers have a bias.
        layer_norm: bool. Whether to layer-normalise the output.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    >>> import numpy as np
    >>> head = ProjectionHead(output_dim=4, hidden_dim=8)
    >>> tuple(head(np.ones((2, 6), "float32")).shape)
    (2, 4)
    """

    def __init__(
        self,
        output_dim,
        hidden_dim=None,
        dropout=0.0,
        use_bias=False,
        layer_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(output_dim) <= 0:
            raise ValueError(
                f"`output_dim` must be a positive int. Got {output_dim}."
            )
        self.output_dim = int(output_dim)
        self.hidden_dim = None if hidden_dim is None else int(hidden_dim)
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.layer_norm = bool(layer_norm)
        self.hidden_dense = None
        self.dropout_layer = None
        if self.hidden_dim is not None:
            self.hidden_dense = keras.layers.Dense(
                self.hidden_dim,
                activation="gelu",
                use_bias=self.use_bias,
                dtype=self.dtype_policy,
                name="hidden_dense",
            )
            self.dropout_layer = keras.layers.Dropout(
                self.dropout, dtype=self.dtype_policy, name="dropout"
            )
        self.output_dense = keras.layers.Dense(
            self.output_dim,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="output_dense",
        )
        self.output_norm = None
        if self.layer_norm:
            self.output_norm = keras.layers.LayerNormalization(
                epsilon=1e-6, dtype=self.dtype_policy, name="output_norm"
            )

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.hidden_dense is not None:
            self.hidden_dense.build(shape)
            shape = shape[:-1] + (self.hidden_dim,)
        self.output_dense.build(shape)
        if self.output_norm is not None:
            self.output_norm.build(shape[:-1] + (self.output_dim,))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        if self.hidden_dense is not None:
            x = self.hidden_dense(x)
            x = self.dropout_layer(x, training=training)
        x = self.output_dense(x)
        if self.output_norm is not None:
            x = self.output_norm(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "layer_norm": self.layer_norm,
            }
        )
        return config
