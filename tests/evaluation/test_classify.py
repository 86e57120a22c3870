"""`clinclip classify` on the real DICOM radiograph of `pydicom-data` and
a PNG, with a tiny preset (issue 25, item 14)."""

import json

import keras
import numpy as np
import pytest

from keras_clinclip import cli
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.models.clinclip_zero_shot_classifier import (
    save_zero_shot_temperature,
)
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor

pytestmark = pytest.mark.backend_independent


def _probabilities(out):
    values = {}
    for line in out.splitlines():
        parts = line.strip().rsplit(" ", 1)
        if line.startswith("  ") and len(parts) == 2:
            values[parts[0].strip()] = float(parts[1])
    return values


def test_classify_prints_each_findings_probability(tmp_path, capsys):
    from PIL import Image
    from pydicom.data import get_testdata_file

    keras.utils.set_random_seed(0)
    preset = tmp_path / "preset"
    tiny_backbone().save_to_preset(preset)
    tiny_preprocessor().save_to_preset(preset)
    dicom = get_testdata_file("RG1_UNCR.dcm")
    png = tmp_path / "x.png"
    Image.fromarray(np.full((40, 30), 120, np.uint8)).save(png)
    argv = ["classify", "--preset", str(preset), "--image", dicom]
    assert cli.main(argv + ["--image", str(png)]) == 0
    out = capsys.readouterr().out
    blocks = out.split(str(png))
    assert blocks[0].startswith(dicom)
    first = _probabilities(blocks[0])
    assert list(first) == list(CHEXPERT_OBSERVATIONS)
    assert all(0.0 <= p <= 1.0 for p in first.values())
    assert len(_probabilities(blocks[1])) == 14
    assert "uncalibrated" in out

    # A calibrated preset: the logits are divided by its temperature.
    config = preset / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()),
                                      temperature=2.0)))  # fmt: skip
    assert cli.main(argv + ["--findings", "Edema,Cardiomegaly"]) == 0
    out = capsys.readouterr().out
    calibrated = _probabilities(out)
    assert list(calibrated) == ["Edema", "Cardiomegaly"]
    assert "temperature 2" in out

    def logit(p):
        return np.log(p) - np.log1p(-p)

    compared = 0
    for name, p in calibrated.items():
        if 0.02 < first[name] < 0.98:  # three decimals give the logit
            assert logit(p) == pytest.approx(logit(first[name]) / 2, abs=0.05)
            compared += 1
    assert compared

    # The demo's default: a temperature and a bias per finding, in the
    # preset's zero_shot_calibration.json (which wins over config.json).
    save_zero_shot_temperature(
        preset, {"Edema": 0.5}, bias={"Edema": -1.0}, mode="per_finding_bias"
    )
    assert cli.main(argv + ["--findings", "Edema"]) == 0
    out = capsys.readouterr().out
    assert "a temperature and a bias per finding" in out
    p = _probabilities(out)["Edema"]
    assert 0.02 < first["Edema"] < 0.98 and 0.02 < p < 0.98
    assert logit(p) == pytest.approx(logit(first["Edema"]) / 0.5 - 1.0, abs=0.1)

    assert cli.main(argv + ["--findings", "Efusion"]) == 2
    assert "--findings: unknown finding(s) Efusion" in capsys.readouterr().err
