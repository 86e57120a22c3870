"""`clinclip explain` on a saved tiny preset, per backend."""

import numpy as np
import pytest

from keras_clinclip.cli import main
from keras_clinclip.models import tiny_clinclip_backbone
from keras_clinclip.models import tiny_clinclip_preprocessor


@pytest.fixture
def preset(tmp_path):
    path = tmp_path / "preset"
    tiny_clinclip_backbone().save_to_preset(str(path))
    tiny_clinclip_preprocessor().save_to_preset(str(path))
    return path


def test_explain_writes_a_png_at_the_image_size(tmp_path, preset, capsys):
    from PIL import Image

    image = tmp_path / "cxr.png"
    pixels = np.random.default_rng(0).integers(0, 255, (48, 40), "uint8")
    Image.fromarray(pixels).save(image)
    output = tmp_path / "map.png"
    code = main(
        [
            "explain",
            "--preset",
            str(preset),
            "--image",
            str(image),
            "--text",
            "small left pleural effusion",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    assert output.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "cosine similarity on a 8x8 grid" in printed


def test_explain_names_a_missing_image(tmp_path, preset, capsys):
    missing = tmp_path / "nope.png"
    argv = ["explain", "--preset", str(preset), "--text", "edema"]
    assert main([*argv, "--image", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"clinclip explain: error: --image {str(missing)!r} does not exist\n"
    )


def test_explain_refuses_an_empty_text(tmp_path, preset, capsys):
    argv = ["explain", "--preset", str(preset), "--image", str(preset)]
    assert main([*argv, "--text", "  "]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "clinclip explain: error: --text is empty: give a finding or a sentence"
    ]
