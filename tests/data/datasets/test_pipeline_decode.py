"""The datasets' records through `make_dataset`, on each backend.

One call decodes every image format of the fixtures (DICOM `.dcm`,
MONOCHROME1 `.dicom`, PNG, JPG) in the `tf.data` pipeline, with the
loaders' extra columns and `class_names` present; the boxes mapped by
`resize_boxes` must still frame the drawn finding in the resized images.
"""

import numpy as np
import pytest

from keras_clinclip.data import make_dataset
from keras_clinclip.data import records as rec
from keras_clinclip.data.datasets import LOADERS
from keras_clinclip.data.datasets import boxes_to_mask
from keras_clinclip.data.datasets import resize_boxes
from tests.data.datasets import fixtures
from tests.data.test_pipeline import HashPreprocessor

SIZE = 64


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    parts = [
        LOADERS["vindr"](fixtures.write_vindr(root / "vindr", n=3)),
        LOADERS["siim"](fixtures.write_siim(root / "siim", n=2), rule="image"),
        LOADERS["covidx"](fixtures.write_covidx(root / "covidx", n=3)),
        LOADERS["ms-cxr"](fixtures.write_ms_cxr(root / "ms", n=1)),
    ]
    keys = ("id", "image_path", "report", "labels", "split")
    out = rec.concatenate([{k: p[k] for k in keys} for p in parts])
    out["report"] = ["Findings as labelled."] * len(out["id"])
    out["class_names"] = parts[0]["class_names"]
    return parts[0], out


def test_every_format_decodes_in_the_pipeline(records):
    _, combined = records
    n = rec.validate_records(combined)
    dataset = make_dataset(combined, HashPreprocessor(), n, image_size=SIZE)
    images = next(iter(dataset))[0]["images"].numpy()
    assert images.shape == (n, SIZE, SIZE, 3)
    assert not dataset.error_log.skipped
    spread = images.reshape(n, -1).std(axis=1)
    assert (spread > 0.02).all()  # images in [0, 1]


def test_boxes_stay_on_the_finding_after_resizing(records):
    vindr, _ = records
    vindr = dict(vindr, report=["Findings."] * len(vindr["id"]))
    n = len(vindr["id"])
    dataset = make_dataset(vindr, HashPreprocessor(), n, image_size=SIZE)
    images = next(iter(dataset))[0]["images"].numpy()[..., 0]
    checked = 0
    for i in range(n):
        if not len(vindr["boxes"][i]):
            continue
        boxes = resize_boxes(vindr["boxes"][i], vindr["image_hw"][i], SIZE)
        mask = boxes_to_mask(boxes, SIZE, SIZE)
        inside, outside = images[i][mask].mean(), images[i][~mask].mean()
        assert inside - outside > 0.08, (i, inside, outside)
        checked += 1
    assert checked and np.isfinite(images).all()
