"""`clinclip benchmark` on the datasets as their owners distribute them.

The fixture folders of `tests/data/datasets/fixtures.py` (rows of the real
label tables that ship with `torchxrayvision`, SynthCXR images in each
dataset's own format: DICOM, `.dicom`, PNG, JPG) are read through the
dataset strings (`rsna:ROOT`, ...), so this runs the loaders, the
resolver, image decoding on the current backend and every protocol.
"""

import json

import numpy as np
import pytest

from keras_clinclip.cli import main
from keras_clinclip.data.sources import load_source
from tests.data.datasets import fixtures
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor

# `clinclip benchmark` end to end on five datasets: in `make test`, not in
# `make test-fast`.
pytestmark = pytest.mark.slow

WRITERS = {
    "rsna": fixtures.write_rsna,
    "siim": fixtures.write_siim,
    "chexpert-5x200": fixtures.write_chexpert_5x200,
    "vindr": fixtures.write_vindr,
    "chestxray14": fixtures.write_chestxray14,
}
FRACTION = 0.5
# Not the localisation grid's 32: maps and regions are resized for plots.
IMAGE_SIZE = 48


def applicable(records):
    """The benchmark's rows for a dataset, from the rules it documents."""
    split = np.asarray(records["split"])
    test = split == "test" if (split == "test").any() else split == split
    labels = np.nan_to_num(np.asarray(records["class_labels"])[test]) == 1
    rows = ["zero-shot binary"]
    if labels.shape[1] > 2 and (labels.sum(axis=1) == 1).all():
        rows += ["zero-shot multi-class (mean)", "zero-shot multi-class (max)"]
    if (split == "validate").any():
        rows.append("temperature scaling")
    reports = [r for r, t in zip(records["report"], test) if t and r.strip()]
    if len(reports) >= 2:
        rows.append("image-to-text retrieval")
    if (split == "train").any():
        rows.append(f"linear probe {FRACTION:.0%}")
    regions = records.get("boxes")
    if regions is None and "mask_rle" in records:
        regions = [
            [r for r in rles if r.strip() != "-1"]
            for rles in records["mask_rle"]
        ]
    if regions is not None and any(len(r) for r, t in zip(regions, test) if t):
        rows.append("localisation")
    return rows


def test_benchmark_on_the_dataset_fixtures(tmp_path):
    preset = tmp_path / "preset"
    tiny_backbone(image_size=IMAGE_SIZE).save_to_preset(preset)
    tiny_preprocessor(image_size=IMAGE_SIZE).save_to_preset(preset)
    specs, expected = [], {}
    for name, write in WRITERS.items():
        spec = f"{name}:{write(tmp_path / name)}"
        specs.append(spec)
        expected[spec] = applicable(load_source(spec, verbose=False))
    out = tmp_path / "out"
    status = main(
        [
            "benchmark",
            "--preset",
            str(preset),
            *specs,
            "--output-dir",
            str(out),
            "--bootstrap",
            "10",
            "--fractions",
            str(FRACTION),
            "--batch-size",
            "8",
        ]
    )
    table = json.loads((out / "benchmark.json").read_text())
    assert status == 0 and not table["errors"], table["errors"]
    got = {}
    for row in table["rows"]:
        got.setdefault(row["dataset"], []).append(row["protocol"])
    assert sorted(got) == sorted(expected)
    for spec, rows in expected.items():
        assert sorted(got[spec]) == sorted(rows), spec
    # The regions of the real tables reach the localisation protocol.
    assert "localisation" in got[specs[0]] + got[specs[1]]
    markdown = (out / "benchmark.md").read_text()
    for spec in specs:
        assert spec in markdown
    plots = [p.name for p in out.glob("*_localization.png")]
    assert len(plots) == sum("localisation" in r for r in got.values())
