"""The WordPiece tokenizer of ClinCLIP presets."""

import keras
from keras_hub.models import BertTokenizer

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPTokenizer(BertTokenizer):
    """A BERT WordPiece tokenizer tied to `ClinCLIPBackbone` presets.

    It tokenizes exactly as `keras_hub.models.BertTokenizer` (`[CLS]`,
    `[SEP]`, `[PAD]`, `[MASK]` special tokens; the vocabulary saved as an
    asset of the preset). Its `backbone_cls` is `ClinCLIPBackbone`, which is
    what lets KerasHub's generic loader
    `keras_hub.models.Tokenizer.from_preset(dir)` resolve a ClinCLIP
    preset. `ClinCLIPPreprocessor` turns a plain `BertTokenizer` (such as
    `minilm_tokenizer()`) into this class, so every preset it saves carries
    a `ClinCLIPTokenizer`.

    Args:
        vocabulary: a list of strings or a path to a one-token-per-line
            vocabulary file.
        lowercase: bool. Lower-case the input before tokenizing.
        **kwargs: other `keras_hub.tokenizers.WordPieceTokenizer`
            arguments.

    Example:
    >>> from keras_clinclip.models import ClinCLIPTokenizer
    >>> tokenizer = ClinCLIPTokenizer(
    ...     vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                 "no", "effusion"],
    ...     lowercase=True)
    >>> [int(i) for i in tokenizer("No effusion")]
    [5, 6]
    >>> tokenizer.start_token_id, tokenizer.end_token_id
    (2, 3)
    """

    backbone_cls = ClinCLIPBackbone

    @classmethod
    def from_tokenizer(cls, tokenizer):
        """A `ClinCLIPTokenizer` with the vocabulary and options of another.

        Args:
            tokenizer: a `keras_hub.models.BertTokenizer` whose vocabulary
                is set.

        Returns:
            A `ClinCLIPTokenizer` that tokenizes as `tokenizer` does.

        Example:
        >>> import keras_hub
        >>> bert = keras_hub.models.BertTokenizer(
        ...     vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        ...                 "heart"])
        >>> type(ClinCLIPTokenizer.from_tokenizer(bert)).__name__
        'ClinCLIPTokenizer'
        """
        if not isinstance(tokenizer, BertTokenizer):
            raise ValueError(
                "`ClinCLIPTokenizer.from_tokenizer` takes a "
                "`keras_hub.models.BertTokenizer`; got "
                f"{type(tokenizer).__name__}."
            )
        if tokenizer.vocabulary is None:
            raise ValueError(
                "The tokenizer has no vocabulary yet (a tokenizer restored "
                "from a config gets it from the preset's assets)."
            )
        config = tokenizer.get_config()
        config.pop("name", None)
        config["vocabulary"] = tokenizer.get_vocabulary()
        return cls.from_config(config)
