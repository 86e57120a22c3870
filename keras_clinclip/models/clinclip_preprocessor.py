"""Reports, prompts, negated reports and radiographs to model inputs."""

import keras
import keras_hub
from keras_hub.layers import StartEndPacker
from keras_hub.models import Preprocessor

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_image_converter import (
    ClinCLIPImageConverter,
)
from keras_clinclip.models.clinclip_tokenizer import ClinCLIPTokenizer
from keras_clinclip.models.clinclip_towers import DEFAULT_TEXT_TOWER
from keras_clinclip.models.clinclip_towers import minilm_tokenizer
from keras_clinclip.models.tf_preprocessing import run_tf_preprocessing


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPPreprocessor(Preprocessor):
    """Preprocessing for `ClinCLIPBackbone`: tokenizer and image converter.

    - `tokenize(texts)`: strings of any shape `(...)` (a python list, nested
      lists, a numpy array or a `tf.string` tensor: `(B,)` reports or
      prompts, `(B, K)` negated reports) -> `{"token_ids": int32 (..., L),
      "padding_mask": bool (..., L)}`, with `[CLS] ... [SEP]` and padding
      to `sequence_length` (longer texts are truncated).
    - `convert_images(images)`: uint8/float, grayscale or RGB, batched or
      not -> float32 `(..., S, S, 3)` (see `ClinCLIPImageConverter`).
    - `preprocessor(x)` / `preprocessor(x, y, sample_weight)` with `x` a
      dict of `images`, `reports` and optionally `negations` returns the
      backbone's input dict (`images`, `token_ids`, `padding_mask`,
      `negation_token_ids`, `negation_padding_mask`), `y` and
      `sample_weight` passed through. For a backbone with negation slots
      (`match_backbone`, which `ClinCLIPPretrainer` calls), a study
      without `negations` gets `num_negations` empty ones, and a backbone
      that packs negations (`negation_capacity`) also gets `negation_mask`:
      `y["negation_mask"]` when given, else 1 for each non-empty negation.
      There, a `y` dict without `negation_mask` gets that mask too (the
      losses read it); otherwise `y` passes through as given.

    Everything is TensorFlow code, so it runs inside `tf.data.Dataset.map`
    on every backend; called eagerly it returns backend tensors. Saved and
    restored with presets: `save_to_preset(dir)` writes the tokenizer
    (with its vocabulary) and the image converter.

    Args:
        tokenizer: a KerasHub tokenizer with `[CLS]`/`[SEP]`/`[PAD]`-style
            special tokens (`start_token_id`, `end_token_id`,
            `pad_token_id`), e.g. a `ClinCLIPTokenizer`. A plain
            `keras_hub.models.BertTokenizer` with a vocabulary is turned
            into a `ClinCLIPTokenizer` (same tokens), so that saved presets
            load with `keras_hub.models.Tokenizer.from_preset`.
        image_converter: a `ClinCLIPImageConverter` (default: 224x224).
        sequence_length: int. Token length L after packing.
        num_negations: int. The backbone's negation slots K: studies
            without `negations` get K empty ones (0: none added).
        negation_mask_input: bool. Also return `negation_mask` (B, K),
            the input of a backbone with a `negation_capacity`.
        **kwargs: standard layer arguments.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> preprocessor = tiny_clinclip_preprocessor(
    ...     sequence_length=8, image_size=32)
    >>> tokens = preprocessor.tokenize(["no effusion", "effusion"])
    >>> mask_dtype = keras.backend.standardize_dtype(
    ...     tokens["padding_mask"].dtype)
    >>> tuple(tokens["token_ids"].shape), mask_dtype
    ((2, 8), 'bool')
    >>> images = preprocessor.convert_images(np.zeros((2, 64, 64), "uint8"))
    >>> tuple(images.shape)
    (2, 32, 32, 3)
    """

    backbone_cls = ClinCLIPBackbone
    tokenizer_cls = ClinCLIPTokenizer
    image_converter_cls = ClinCLIPImageConverter

    def __init__(
        self,
        tokenizer,
        image_converter=None,
        sequence_length=128,
        num_negations=0,
        negation_mask_input=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_negations = int(num_negations)
        self.negation_mask_input = bool(negation_mask_input)
        if image_converter is None:
            image_converter = ClinCLIPImageConverter(image_size=224)
        if (
            type(tokenizer) is keras_hub.models.BertTokenizer
            and tokenizer.vocabulary is not None
        ):
            tokenizer = ClinCLIPTokenizer.from_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        self.image_converter = image_converter
        self.packer = None
        self.sequence_length = sequence_length

    def build(self, input_shape=None):
        # Defer packer creation to `build()` so that the tokenizer assets
        # (vocabulary) are loaded first when restoring from a preset.
        self.packer = StartEndPacker(
            start_value=self.tokenizer.start_token_id,
            end_value=self.tokenizer.end_token_id,
            pad_value=self.tokenizer.pad_token_id,
            sequence_length=self.sequence_length,
            return_padding_mask=True,
        )
        self.built = True

    @property
    def sequence_length(self):
        """Token length L after packing; settable, as in KerasHub."""
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        value = int(value)
        if value < 2:
            raise ValueError(
                "`sequence_length` must be at least 2 (start and end "
                f"tokens). Got {value}."
            )
        self._sequence_length = value
        if self.packer is not None:
            self.packer.sequence_length = value
        # The traced tokenization has the old length baked in.
        self.__dict__.pop("_clinclip_tf_functions", None)

    def match_backbone(self, backbone):
        """Produce the negation inputs that `backbone` takes.

        Sets `num_negations` and `negation_mask_input` from the backbone
        (`negation_capacity` adds the `negation_mask` input), so that raw
        studies with or without `negations` feed it.

        Args:
            backbone: a `ClinCLIPBackbone`.

        Returns:
            This preprocessor.

        Example:
        >>> import numpy as np
        >>> from keras_clinclip.models import tiny_clinclip_backbone
        >>> from keras_clinclip.models import tiny_clinclip_preprocessor
        >>> backbone = tiny_clinclip_backbone(
        ...     num_negations=2, negation_capacity=0.5)
        >>> preprocessor = tiny_clinclip_preprocessor().match_backbone(
        ...     backbone)
        >>> x = preprocessor({"images": np.zeros((2, 32, 32), "uint8"),
        ...                   "reports": ["effusion", "edema"]})
        >>> sorted(k for k in x if k.startswith("negation"))
        ['negation_mask', 'negation_padding_mask', 'negation_token_ids']
        >>> keras.ops.convert_to_numpy(x["negation_mask"]).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
        """
        self.num_negations = int(getattr(backbone, "num_negations", 0) or 0)
        self.negation_mask_input = (
            getattr(backbone, "negation_capacity", None) is not None
        )
        # The traced preprocessing has the old outputs baked in.
        self.__dict__.pop("_clinclip_tf_functions", None)
        return self

    # --- Text ---

    def _tokenize_tf(self, texts):
        import tensorflow as tf

        if not self.built:
            self.build(None)
        texts = tf.convert_to_tensor(texts)
        if texts.dtype != tf.string:
            raise ValueError(
                f"`tokenize` takes strings; got dtype {texts.dtype.name}."
            )
        shape = tf.shape(texts)
        flat = tf.reshape(texts, [-1])
        token_ids, padding_mask = self.packer(self.tokenizer(flat))
        out_shape = tf.concat([shape, [self.sequence_length]], axis=0)
        token_ids = tf.reshape(tf.cast(token_ids, "int32"), out_shape)
        padding_mask = tf.reshape(tf.cast(padding_mask, "bool"), out_shape)
        static = texts.shape.concatenate([self.sequence_length])
        token_ids = tf.ensure_shape(token_ids, static)
        padding_mask = tf.ensure_shape(padding_mask, static)
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    def tokenize(self, texts):
        """Tokenises and packs strings of any shape.

        Args:
            texts: a string, a (nested) list of strings, a numpy array or a
                `tf.string` tensor of shape `(...)`.

        Returns:
            `{"token_ids": int32 (..., L), "padding_mask": bool (..., L)}`.
        """
        return run_tf_preprocessing(self, "_tokenize_tf", texts)

    # --- Images ---

    def convert_images(self, images):
        """Converts radiographs with the image converter.

        Args:
            images: `(B, H, W[, C])` or `(H, W[, C])`, uint8 or float.

        Returns:
            float32 `(B, S, S, 3)` (or `(S, S, 3)` for one image).
        """
        return self.image_converter(images)

    # --- Both ---

    def _call_tf(self, x):
        import tensorflow as tf

        if not isinstance(x, dict):
            raise ValueError(
                "ClinCLIPPreprocessor takes a dict with `images`, `reports` "
                f"and optionally `negations`; got {type(x).__name__}."
            )
        for key in ("images", "reports"):
            if key not in x:
                raise ValueError(
                    f"ClinCLIPPreprocessor input is missing `{key}`; keys "
                    f"present: {sorted(x)}."
                )
        outputs = {"images": self.image_converter._convert_tf(x["images"])}
        outputs.update(self._tokenize_tf(x["reports"]))
        texts = x.get("negations")
        if texts is None and self.num_negations:
            batch = tf.shape(outputs["token_ids"])[0]
            texts = tf.fill([batch, self.num_negations], "")
        if texts is not None:
            negations = self._tokenize_tf(texts)
            outputs["negation_token_ids"] = negations["token_ids"]
            outputs["negation_padding_mask"] = negations["padding_mask"]
            if "negation_mask" not in x:
                # Popped again by `call` where the backbone takes none.
                written = tf.strings.length(tf.strings.strip(texts)) > 0
                outputs["negation_mask"] = tf.cast(written, "float32")
        for key, value in x.items():
            if key not in ("images", "reports", "negations"):
                outputs[key] = value
        return outputs

    def call(self, x, y=None, sample_weight=None):
        if (
            self.negation_mask_input
            and isinstance(x, dict)
            and isinstance(y, dict)
            and "negation_mask" in y
            and "negation_mask" not in x
        ):
            # The loss's mask, so that packing keeps the same slots.
            x = dict(x, negation_mask=y["negation_mask"])
        outputs = run_tf_preprocessing(self, "_call_tf", x)
        if isinstance(x, dict) and "negation_mask" not in x:
            mask = outputs.pop("negation_mask", None)
            if mask is not None and self.negation_mask_input:
                outputs["negation_mask"] = mask
            if (
                mask is not None
                and self.num_negations
                and isinstance(y, dict)
                and "negation_mask" not in y
            ):
                # The losses read the valid negation slots from `y`.
                y = dict(y, negation_mask=mask)
        return keras.utils.pack_x_y_sample_weight(outputs, y, sample_weight)

    # --- Construction ---

    @classmethod
    def from_towers(
        cls,
        text_encoder=DEFAULT_TEXT_TOWER,
        image_size=224,
        sequence_length=128,
        **kwargs,
    ):
        """The preprocessor that matches `clinclip_from_towers`.

        Args:
            text_encoder: `"all-minilm-l6-v2"` (the packaged MiniLM
                tokenizer) or a KerasHub preset name/path whose tokenizer is
                loaded with `keras_hub.models.Tokenizer.from_preset`.
            image_size: int. The image tower's input size.
            sequence_length: int. Token length L.
            **kwargs: `ClinCLIPImageConverter` arguments (`mean`, `std`).

        Example:
        >>> preprocessor = ClinCLIPPreprocessor.from_towers(
        ...     image_size=64, sequence_length=16)
        >>> preprocessor.tokenizer.vocabulary_size()
        30522
        """
        if text_encoder == DEFAULT_TEXT_TOWER:
            tokenizer = minilm_tokenizer()
        else:
            tokenizer = keras_hub.models.Tokenizer.from_preset(text_encoder)
        return cls(
            tokenizer=tokenizer,
            image_converter=ClinCLIPImageConverter(
                image_size=image_size, **kwargs
            ),
            sequence_length=sequence_length,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "num_negations": self.num_negations,
                "negation_mask_input": self.negation_mask_input,
            }
        )
        return config
