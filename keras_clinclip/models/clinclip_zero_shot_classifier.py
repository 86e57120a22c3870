"""Zero-shot chest X-ray classification with prompt pairs.

The classifier is a Keras model (saved, loaded and called like one); the
numpy evaluation of zero-shot scores with confidence intervals is
`keras_clinclip.evaluation.zero_shot`. Both ensemble a prompt's phrasings
with `clinclip_prompts.ensemble_prompt_embeddings`.
"""

import json
import pathlib

import keras
import numpy as np
from keras import ops

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_batch_encoder import numpy_encoder
from keras_clinclip.models.clinclip_preprocessor import ClinCLIPPreprocessor
from keras_clinclip.models.clinclip_prompts import ensemble_prompt_embeddings
from keras_clinclip.models.clinclip_prompts import prompt_pairs
from keras_clinclip.models.clinclip_prompts import prompt_texts

# The preset file that carries the fitted zero-shot calibration, its keys.
CALIBRATION_FILE = "zero_shot_calibration.json"
TEMPERATURE_KEY = "temperature"
BIAS_KEY = "bias"


def save_zero_shot_temperature(
    preset_dir, temperature, fitted_on=None, bias=None, mode=None
):
    """Store a fitted calibration in a preset (`zero_shot_calibration.json`).

    The file holds `{"temperature": {finding: T}, "bias": {finding: b},
    "mode": ..., "fitted_on": ...}`; `ClinCLIPZeroShotClassifier.from_preset`
    (and `clinclip classify`) turn the zero-shot logit z of each finding
    into `sigmoid(z / T + b)`, which ranks images exactly as z does.

    Args:
        preset_dir: the preset directory.
        temperature: `{finding: T}` (e.g. the `"temperature"` of
            `evaluation.calibration.temperature_scaling(...)[mode]`).
        fitted_on: optional note (data set and split).
        bias: optional `{finding: b}` (None: no bias, temperature only).
        mode: optional name of the calibration mode (a note).

    Returns:
        the `pathlib.Path` written.

    Example:
    >>> import tempfile
    >>> path = save_zero_shot_temperature(tempfile.mkdtemp(), {"Edema": 2.0},
    ...                                   bias={"Edema": -3.0})
    >>> read_zero_shot_temperature(path.parent)
    {'Edema': 2.0}
    >>> read_zero_shot_calibration(path.parent)["bias"]
    {'Edema': -3.0}
    """
    values = {str(k): float(v) for k, v in dict(temperature).items()}
    bad = [k for k, v in values.items() if not v > 0]
    if bad:
        raise ValueError(
            f"temperature of {bad[0]!r} is {values[bad[0]]}; temperatures "
            "must be > 0"
        )
    biases = {str(k): float(v) for k, v in dict(bias or {}).items()}
    bad = [k for k, v in biases.items() if not np.isfinite(v)]
    if bad:
        raise ValueError(
            f"bias of {bad[0]!r} is {biases[bad[0]]}; biases must be finite"
        )
    path = pathlib.Path(preset_dir) / CALIBRATION_FILE
    payload = {
        TEMPERATURE_KEY: values,
        BIAS_KEY: biases,
        "mode": mode,
        "fitted_on": fitted_on,
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def read_zero_shot_calibration(preset_dir):
    """`{"temperature": {finding: T}, "bias": {finding: b}}` or None.

    Args:
        preset_dir: the preset directory.

    Returns:
        dict (a file written before biases existed gives `"bias": {}`),
        or None without the file.

    Example:
    >>> import tempfile
    >>> read_zero_shot_calibration(tempfile.mkdtemp()) is None
    True
    """
    path = pathlib.Path(preset_dir) / CALIBRATION_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in (TEMPERATURE_KEY, BIAS_KEY):
        if not isinstance(data.get(key, {}), dict) or (
            key == TEMPERATURE_KEY and key not in data
        ):
            raise ValueError(
                f"{path}: expected a {key!r} mapping of finding -> {key} "
                "(write it with save_zero_shot_temperature)"
            )
    return {
        key: {str(k): float(v) for k, v in data.get(key, {}).items()}
        for key in (TEMPERATURE_KEY, BIAS_KEY)
    }


def read_zero_shot_temperature(preset_dir):
    """The `{finding: T}` a preset carries, or None without the file.

    Args:
        preset_dir: the preset directory.

    Returns:
        dict or None.

    Example:
    >>> import tempfile
    >>> read_zero_shot_temperature(tempfile.mkdtemp()) is None
    True
    """
    calibration = read_zero_shot_calibration(preset_dir)
    return None if calibration is None else calibration[TEMPERATURE_KEY]


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ClinCLIPZeroShotClassifier(keras.Model):
    """Zero-shot classifier: images -> probability of each finding.

    At construction it embeds every positive and negative prompt of each
    finding once with the backbone's text tower, ensembles the phrasings
    (mean of the normalised embeddings, renormalised) and keeps the two
    `(C, d)` matrices as non-trainable weights. Calling it on images
    (the preprocessor's output) returns, per finding,

        p = sigmoid(s (cos(v, u+) - cos(v, u-)) / T + b)

    (the softmax over the pair when T = 1 and b = 0) with `s` the logit
    scale, `T` the finding's temperature and `b` its bias (1 and 0 unless
    given or carried by the preset: a demo preset carries both, fitted on
    the validation split, `evaluation.calibration`).
    `classify(raw_images)` applies the preprocessor's image converter
    first. After fine-tuning the backbone,
    call `refresh_prompt_embeddings()`.

    Saved like any Keras model (`.keras`, `get_config`/`from_config`): the
    config holds the backbone, the preprocessor, the findings and their
    resolved prompts; the weights hold the prompt embeddings.

    Args:
        backbone: a `ClinCLIPBackbone` (or any model with `encode_texts`
            and an image branch, see `embed_images`).
        preprocessor: a `ClinCLIPPreprocessor` (for `tokenize` and
            `convert_images`); needed to embed the prompts and by
            `classify`.
        findings: the finding names (default: the 14 CheXpert
            observations, `keras_clinclip.reports.CHEXPERT_OBSERVATIONS`).
        prompts: optional per-finding overrides
            `{finding: {"positive": [...], "negative": [...]}}` (or a
            phrase) over `keras_clinclip/models/data/prompts.yaml`.
        logit_scale: the multiplier `s` (default: the backbone's learned
            `logit_scale`, else 100). It does not change AUROC.
        temperature: None (1), one float for every finding, or
            `{finding: T}` (findings not named keep 1): temperature
            scaling of the logits (`evaluation.calibration`), which
            changes no ranking. `from_preset` reads it from the preset's
            `zero_shot_calibration.json` (key `"temperature"`).
        bias: None (0), one float, a list or `{finding: b}` (findings
            not named keep 0): the offset added after the temperature
            (Platt scaling with a positive slope; no ranking changes).
            `from_preset` reads it from the same file (key `"bias"`).
        embed_prompts: embed the prompts now (default). `from_config`
            passes False: when a saved model is loaded, the prompt
            embeddings come back with the weights (and the tokenizer's
            vocabulary is only restored after construction). Call
            `refresh_prompt_embeddings()` to embed them later.
        **kwargs: standard `keras.Model` arguments (`name`, ...).

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> classifier = ClinCLIPZeroShotClassifier(
    ...     tiny_clinclip_backbone(), tiny_clinclip_preprocessor(),
    ...     findings=["Pleural Effusion", "Cardiomegaly"])
    >>> probabilities = classifier.classify(np.zeros((2, 64, 64), "uint8"))
    >>> probabilities.shape
    (2, 2)
    """

    def __init__(
        self,
        backbone,
        preprocessor=None,
        findings=None,
        prompts=None,
        logit_scale=None,
        temperature=None,
        bias=None,
        embed_prompts=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        findings = list(CHEXPERT_OBSERVATIONS if findings is None else findings)
        if not findings:
            raise ValueError("`findings` must name at least one finding.")
        if len(set(findings)) != len(findings):
            raise ValueError(f"`findings` has duplicates: {findings}")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        # === Config ===
        self.findings = findings
        self.prompts = prompt_pairs(findings, overrides=prompts)
        if logit_scale is None:
            logit_scale = getattr(backbone, "logit_scale", None)
            if not isinstance(logit_scale, (int, float)):
                logit_scale = 100.0
        self.logit_scale = float(logit_scale)
        self.temperature = _temperatures(temperature, findings)
        self.bias = _per_finding(bias, findings, 0.0, "bias")
        self.embed_prompts = bool(embed_prompts)
        dim = getattr(backbone, "embedding_dim", None)
        if dim is None:
            raise ValueError(
                "The backbone must have an `embedding_dim` attribute (the "
                "size d of its projected embeddings)."
            )
        # === Weights ===
        shape = (len(findings), int(dim))
        self.positive_embeddings = self.add_weight(
            shape=shape,
            initializer="zeros",
            trainable=False,
            name="positive_prompt_embeddings",
            dtype="float32",
        )
        self.negative_embeddings = self.add_weight(
            shape=shape,
            initializer="zeros",
            trainable=False,
            name="negative_prompt_embeddings",
            dtype="float32",
        )
        if embed_prompts:
            self.refresh_prompt_embeddings()

    def refresh_prompt_embeddings(self, batch_size=64):
        """Re-embed the prompts with the backbone's current weights.

        Args:
            batch_size: texts per forward pass.
        """
        if self.preprocessor is None:
            raise ValueError(
                "refresh_prompt_embeddings needs a preprocessor to tokenize "
                "the prompts; this classifier was built without one."
            )
        texts, spans = prompt_texts(self.prompts)
        chunks = []
        for start in range(0, len(texts), batch_size):
            tokens = self.preprocessor.tokenize(
                texts[start : start + batch_size]
            )
            chunks.append(
                np.asarray(
                    ops.convert_to_numpy(
                        numpy_encoder(self.backbone, "texts")(
                            tokens["token_ids"], tokens["padding_mask"]
                        )
                    ),
                    "float64",
                )
            )
        embeddings = np.concatenate(chunks)
        for key, weights in (
            ("positive", self.positive_embeddings),
            ("negative", self.negative_embeddings),
        ):
            ensembled = [
                ensemble_prompt_embeddings(embeddings[start:stop])
                for start, stop in spans[key]
            ]
            weights.assign(np.stack(ensembled).astype("float32"))

    def embed_images(self, images, training=False):
        """L2-normalised image embeddings (symbolic, inside `call`)."""
        embeddings = self.backbone.embed_images(images, training=training)
        embeddings = ops.cast(embeddings, "float32")
        norm = ops.sqrt(ops.sum(ops.square(embeddings), axis=-1, keepdims=True))
        return embeddings / ops.maximum(norm, 1e-12)

    def call(self, images, training=False):
        embeddings = self.embed_images(images, training=training)
        positive = ops.matmul(
            embeddings, ops.transpose(self.positive_embeddings)
        )
        negative = ops.matmul(
            embeddings, ops.transpose(self.negative_embeddings)
        )
        scale = ops.convert_to_tensor(
            [self.logit_scale / t for t in self.temperature], "float32"
        )
        bias = ops.convert_to_tensor(self.bias, "float32")
        return ops.sigmoid(scale * (positive - negative) + bias)

    @classmethod
    def from_preset(cls, preset, findings=None, prompts=None, **kwargs):
        """A classifier from a ClinCLIP preset, with its calibration.

        Args:
            preset: a preset directory (backbone and preprocessor).
            findings: see the class.
            prompts: see the class.
            **kwargs: other constructor arguments; `temperature` or
                `bias` given here win over the preset's.

        Returns:
            a `ClinCLIPZeroShotClassifier`.
        """
        preset = str(preset)
        calibration = read_zero_shot_calibration(preset) or {}
        for key in (TEMPERATURE_KEY, BIAS_KEY):
            if key not in kwargs:
                kwargs[key] = calibration.get(key)
        return cls(
            ClinCLIPBackbone.from_preset(preset),
            ClinCLIPPreprocessor.from_preset(preset),
            findings=findings,
            prompts=prompts,
            **kwargs,
        )

    def classify(self, images, batch_size=32):
        """Probabilities `(N, C)` for raw radiographs (numpy).

        Args:
            images: `(N, H, W[, C])` uint8 or float radiographs.
            batch_size: images per forward pass.

        Returns:
            float32 numpy array; column j is `self.findings[j]`.
        """
        if self.preprocessor is None:
            raise ValueError(
                "classify needs a preprocessor to convert raw images; call "
                "the classifier on converted images instead."
            )
        outputs = []
        for start in range(0, len(images), batch_size):
            batch = self.preprocessor.convert_images(
                images[start : start + batch_size]
            )
            outputs.append(ops.convert_to_numpy(self(batch)))
        if not outputs:
            raise ValueError("classify got no images")
        return np.concatenate(outputs).astype("float32")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            "preprocessor": (
                None
                if self.preprocessor is None
                else keras.layers.serialize(self.preprocessor)
            ),
            "findings": list(self.findings),
            "prompts": {
                name: {
                    key: list(entry[key]) for key in ("positive", "negative")
                }
                for name, entry in self.prompts.items()
            },
            "logit_scale": self.logit_scale,
            "temperature": list(self.temperature),
            "bias": list(self.bias),
            "embed_prompts": self.embed_prompts,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        if isinstance(config.get("preprocessor"), dict):
            config["preprocessor"] = keras.layers.deserialize(
                config["preprocessor"]
            )
        # The prompt embeddings are weights: they are restored by loading.
        config["embed_prompts"] = False
        return cls(**config)


def _per_finding(value, findings, default, what):
    """One float per finding from None, a float, a list or a dict."""
    if value is None:
        return [default] * len(findings)
    if isinstance(value, dict):
        return [float(value.get(name, default)) for name in findings]
    if isinstance(value, (list, tuple)):
        if len(value) != len(findings):
            raise ValueError(
                f"{len(value)} {what} values for {len(findings)} findings"
            )
        return [float(v) for v in value]
    return [float(value)] * len(findings)


def _temperatures(temperature, findings):
    """Per-finding temperatures from None, a float, a list or a dict."""
    values = _per_finding(temperature, findings, 1.0, "temperature")
    for name, value in zip(findings, values):
        if not value > 0:
            raise ValueError(
                f"temperature of {name!r} is {value}; temperatures must be > 0"
            )
    return values
