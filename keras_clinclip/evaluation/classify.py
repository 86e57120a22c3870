"""`clinclip classify`: what a preset says about each image, finding by
finding (zero-shot, with the positive/negative prompt pairs).

The probability of a finding is `sigmoid(s * (cos(image, positive) -
cos(image, negative)) / T + b)`: `s` is the model's learned logit scale
(100 when it has none), `T` and `b` the finding's temperature and bias
from the preset's `zero_shot_calibration.json` (a demo preset carries
them, fitted on the validation split, see
`evaluation.calibration.save_calibration_to_preset`); without that file,
a shared `temperature` in the preset's `config.json`
(`preset_temperature`) and b = 0; else T = 1, b = 0. Uncalibrated, the
numbers rank images well (AUROC) but are not frequencies; calibration
changes no ranking.
"""

import json
import pathlib

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import decode_image
from keras_clinclip.evaluation.calibration import apply_temperature
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.model_loading import load_preset_model
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot import zero_shot_logits
from keras_clinclip.models.clinclip_prompts import prompt_pairs
from keras_clinclip.models.clinclip_zero_shot_classifier import (
    read_zero_shot_calibration,
)


def preset_temperature(preset):
    """The calibration temperature a preset carries, or None.

    Read from the preset's `config.json`: a `temperature` entry at its top
    level or in its `config` (written by a calibrated export).

    Args:
        preset: a preset directory.

    Returns:
        A positive float, or None.

    Example:
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text(
    ...     json.dumps({"config": {"temperature": 1.5}}))
    >>> preset_temperature(folder), preset_temperature("/nonexistent")
    (1.5, None)
    """
    path = pathlib.Path(str(preset)) / "config.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    value = data.get("temperature")
    if value is None and isinstance(data.get("config"), dict):
        value = data["config"].get("temperature")
    if value is None:
        return None
    value = float(value)
    if not value > 0:
        raise ValueError(
            f"{path}: temperature must be positive, got {value}; export the "
            "preset again."
        )
    return value


def classify_images(
    backbone, preprocessor, images, findings=None, temperature=None, bias=None
):
    """Zero-shot probabilities of each finding for each image.

    Args:
        backbone: a `ClinCLIPBackbone` (or any object with
            `encode_images` and `encode_texts`).
        preprocessor: its `ClinCLIPPreprocessor`.
        images: a list of radiographs (2-D or 3-D arrays, any size).
        findings: finding names (default: the 14 CheXpert observations).
        temperature: None (1), a float or `{finding: T}` (others keep 1).
        bias: None (0), a float or `{finding: b}` (others keep 0).

    Returns:
        `(findings, probabilities)`: the names and a float64 array
        `(len(images), len(findings))` of `sigmoid(z / T + b)`.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> names, p = classify_images(
    ...     tiny_clinclip_backbone(), tiny_clinclip_preprocessor(),
    ...     [np.zeros((40, 30), "uint8")], findings=["Edema"])
    >>> names, p.shape, bool(0.0 <= p[0, 0] <= 1.0)
    (['Edema'], (1, 1), True)
    """
    findings = list(CHEXPERT_OBSERVATIONS if findings is None else findings)
    # Each image converted on its own (sizes differ), then one batch.
    converted = np.stack(
        [np.asarray(preprocessor.convert_images(image)) for image in images]
    )
    image_embeddings = embed_images(backbone, converted, batch_size=8)
    names, positives, negatives = embed_prompt_pairs(
        backbone, preprocessor, prompt_pairs(findings)
    )
    scale = getattr(backbone, "logit_scale", 100.0)
    if not isinstance(scale, (int, float)):
        scale = 100.0
    logits = zero_shot_logits(
        image_embeddings, positives, negatives, logit_scale=float(scale)
    )
    return names, apply_temperature(
        logits, _by_name(temperature, names, 1.0), _by_name(bias, names, 0.0)
    )


def _by_name(value, names, default):
    if isinstance(value, dict):
        return np.array([value.get(name, default) for name in names], float)
    return default if value is None else float(value)


def preset_calibration(preset):
    """`(temperature, bias, note)` that `clinclip classify` applies.

    The preset's `zero_shot_calibration.json` (per finding) first, else a
    shared `temperature` in its `config.json`, else `(None, None, None)`.

    Example:
    >>> preset_calibration("/nonexistent")
    (None, None, None)
    """
    calibration = read_zero_shot_calibration(preset)
    if calibration is not None:
        return (
            calibration["temperature"],
            calibration["bias"],
            "a temperature and a bias per finding"
            if calibration["bias"]
            else "a temperature per finding",
        )
    temperature = preset_temperature(preset)
    if temperature is None:
        return None, None, None
    return temperature, None, f"temperature {temperature:g}"


def format_probabilities(paths, findings, probabilities, calibrated=None):
    """The text `clinclip classify` prints: one block per image.

    Args:
        paths: the image paths.
        findings: the finding names.
        probabilities: `(len(paths), len(findings))`.
        calibrated: None (uncalibrated) or how the probabilities were
            calibrated (the note of `preset_calibration`).

    Returns:
        the text.

    Example:
    >>> print(format_probabilities(["a.png"], ["Edema"], np.array([[0.25]])))
    a.png
      Edema  0.250
    (uncalibrated zero-shot probabilities: they rank images, they are not
    frequencies)
    """
    width = max(len(name) for name in findings)
    lines = []
    for path, row in zip(paths, probabilities):
        lines.append(str(path))
        for name, value in zip(findings, row):
            lines.append(f"  {name:<{width}}  {value:.3f}")
    if calibrated is None:
        lines.append(
            "(uncalibrated zero-shot probabilities: they rank images, they "
            "are not frequencies)"
        )
    else:
        lines.append(
            f"(zero-shot probabilities calibrated with {calibrated}; "
            "the ranking is unchanged)"
        )
    return "\n".join(lines)


def run(args):
    """Run `clinclip classify` with parsed arguments; returns 0.

    Example:
    >>> import argparse
    >>> from keras_clinclip.cli import classify
    >>> parser = argparse.ArgumentParser()
    >>> classify.add_arguments(parser)
    >>> args = parser.parse_args(["--preset", "/nonexistent", "--image",
    ...                           "x.png"])
    >>> try:
    ...     run(args)
    ... except FileNotFoundError as error:
    ...     print(error)
    --preset '/nonexistent' does not exist
    """
    findings = None
    if args.findings:
        findings = [f.strip() for f in args.findings.split(",") if f.strip()]
    backbone, preprocessor = load_preset_model(args.preset)
    images = [decode_image(path) for path in args.image]
    temperature, bias, note = preset_calibration(args.preset)
    names, probabilities = classify_images(
        backbone, preprocessor, images, findings, temperature, bias
    )
    print(format_probabilities(args.image, names, probabilities, note))
    return 0
