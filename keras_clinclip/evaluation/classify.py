"""`clinclip classify`: what a preset says about each image, finding by
finding (zero-shot, with the positive/negative prompt pairs).

The probability of a finding is `sigmoid(s * (cos(image, positive) -
cos(image, negative)) / T)`: `s` is the model's learned logit scale (100
when it has none) and `T` the temperature of the preset's calibration
when it carries one (`temperature` in the preset's `config.json`, see
`preset_temperature`), else 1. Uncalibrated, the numbers rank images well
(AUROC) but are not frequencies.
"""

import json
import pathlib

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import decode_image
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.model_loading import load_preset_model
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot import zero_shot_scores
from keras_clinclip.models.clinclip_prompts import prompt_pairs


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
    backbone, preprocessor, images, findings=None, temperature=None
):
    """Zero-shot probabilities of each finding for each image.

    Args:
        backbone: a `ClinCLIPBackbone` (or any object with
            `encode_images` and `encode_texts`).
        preprocessor: its `ClinCLIPPreprocessor`.
        images: a list of radiographs (2-D or 3-D arrays, any size).
        findings: finding names (default: the 14 CheXpert observations).
        temperature: the calibration temperature (None: 1).

    Returns:
        `(findings, probabilities)`: the names and a float64 array
        `(len(images), len(findings))`.

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
    scale = float(scale) / float(temperature or 1.0)
    probabilities = zero_shot_scores(
        image_embeddings, positives, negatives, logit_scale=scale
    )
    return names, probabilities


def format_probabilities(paths, findings, probabilities, temperature=None):
    """The text `clinclip classify` prints: one block per image.

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
    if temperature is None:
        lines.append(
            "(uncalibrated zero-shot probabilities: they rank images, they "
            "are not frequencies)"
        )
    else:
        lines.append(
            f"(zero-shot probabilities calibrated with temperature "
            f"{temperature:g})"
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
    temperature = preset_temperature(args.preset)
    names, probabilities = classify_images(
        backbone, preprocessor, images, findings, temperature
    )
    print(format_probabilities(args.image, names, probabilities, temperature))
    return 0
