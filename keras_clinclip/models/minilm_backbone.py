"""A KerasHub BERT whose feed-forward GELU is exact, as in MiniLM."""

import keras
import keras_hub


def _exact_gelu(x):
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="keras_clinclip")
class MiniLMBackbone(keras_hub.models.BertBackbone):
    """`keras_hub.models.BertBackbone` with the exact (erf) GELU.

    KerasHub's `BertBackbone` uses the tanh approximation of GELU in its
    feed-forward blocks; Hugging Face BERT, MiniLM and the
    sentence-transformers all-MiniLM-L6-v2 use the exact one. With
    pretrained MiniLM weights the approximation moves the sentence
    embeddings by up to ~1e-3; this class removes that gap, so that the
    tower computes what the checkpoint was trained with. Everything else
    (inputs, outputs, weights layout) is `BertBackbone`'s.

    Args:
        exact_gelu: bool. Use the exact GELU (default) or KerasHub's
            approximation.
        **kwargs: the `keras_hub.models.BertBackbone` arguments
            (`vocabulary_size`, `num_layers`, `num_heads`, `hidden_dim`,
            `intermediate_dim`, `dropout`, `max_sequence_length`,
            `num_segments`, `dtype`).

    Example:
    >>> backbone = MiniLMBackbone(vocabulary_size=20, num_layers=1,
    ...                           num_heads=2, hidden_dim=8,
    ...                           intermediate_dim=16)
    >>> layer = backbone.get_layer("transformer_layer_0")
    >>> layer._feedforward_intermediate_dense.activation is _exact_gelu
    True
    """

    def __init__(self, exact_gelu=True, **kwargs):
        super().__init__(**kwargs)
        self.exact_gelu = bool(exact_gelu)
        if self.exact_gelu:
            for layer in self.transformer_layers:
                layer._feedforward_intermediate_dense.activation = _exact_gelu

    def get_config(self):
        config = super().get_config()
        config.update({"exact_gelu": self.exact_gelu})
        return config
