"""`clinclip benchmark` on small records shaped like the datasets' loaders.

The fixtures follow the records contract of the datasets issue (RSNA,
SIIM, CheXpert 5x200, VinDr-CXR, ChestX-ray14: `class_names`,
`class_labels`, `boxes` + `image_hw`, `masks`, splits) with random 32 px
images, saved as `.npz` files that `data.sources.load_source` reads.
"""

import json

import numpy as np

from keras_clinclip.cli import main
from keras_clinclip.evaluation.region_localization import region_cases
from tests.helpers import tiny_backbone
from tests.helpers import tiny_preprocessor

SPLITS = ["train"] * 8 + ["validate"] * 6 + ["test"] * 6
N = len(SPLITS)
REPORTS = [
    "FINDINGS: no effusion .\nIMPRESSION: normal .",
    "FINDINGS: small left pleural effusion .",
    "FINDINGS: heart size normal , lungs clear .",
    "FINDINGS: mild edema without pneumothorax .",
]


def records(name, class_names, one_hot=False, regions=None, seed=0):
    rng = np.random.default_rng(seed)
    count = len(class_names)
    if one_hot:
        labels = np.eye(count, dtype="float32")[np.arange(N) % count]
    else:
        labels = (np.arange(N)[:, None] + np.arange(count)) % 2
        labels = labels.astype("float32")
    columns = {
        "id": np.array([f"{name}{i}" for i in range(N)]),
        "image": rng.integers(0, 256, (N, 32, 32)).astype("uint8"),
        "report": np.array([REPORTS[i % len(REPORTS)] for i in range(N)]),
        "split": np.array(SPLITS),
        "labels": np.full((N, 14), np.nan, "float32"),
        "class_names": np.array(class_names),
        "class_labels": labels,
        "image_hw": np.full((N, 2), 64, "int32"),
    }
    if regions == "boxes":
        boxes = np.full((N, 2, 4), np.nan, "float32")
        boxes[::2, 0] = [8, 8, 24, 16]  # every other image has one box
        columns["boxes"] = boxes
    elif regions == "masks":
        masks = np.zeros((N, 64, 64), bool)
        masks[1::2, 10:30, 30:50] = True
        columns["masks"] = masks
    return columns


FIXTURES = {
    "rsna": (["Pneumonia"], False, "boxes"),
    "siim": (["Pneumothorax"], False, "masks"),
    "chexpert-5x200": (
        [
            "Atelectasis",
            "Cardiomegaly",
            "Consolidation",
            "Edema",
            "Pleural Effusion",
        ],
        True,
        None,
    ),
    "vindr": (["Aortic enlargement", "Pleural effusion"], False, "boxes"),
    "chestx-ray14": (["Atelectasis", "Effusion", "Mass"], False, "boxes"),
}


def test_benchmark_runs_every_protocol_that_applies(tmp_path):
    preset = tmp_path / "preset"
    tiny_backbone().save_to_preset(preset)
    tiny_preprocessor(image_size=32).save_to_preset(preset)
    specs = []
    for k, (name, (names, one_hot, regions)) in enumerate(FIXTURES.items()):
        path = tmp_path / f"{name}.npz"
        np.savez(path, **records(name, names, one_hot, regions, seed=k))
        specs.append(f"{name}={path}")
    specs.append(f"broken={tmp_path / 'missing.npz'}")
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
            "20",
            "--fractions",
            "0.5",
            "--batch-size",
            "8",
        ]
    )
    assert status == 1  # one dataset failed, the others ran
    # (fine-tuning rows: `--fine-tune-epochs N`; the fine-tuning protocol
    # is tested in tests/models/test_clinclip_image_classifier.py)
    table = json.loads((out / "benchmark.json").read_text())
    assert list(table["errors"]) == ["broken"]
    protocols = {}
    for row in table["rows"]:
        protocols.setdefault(row["dataset"], []).append(row["protocol"])
    common = [
        "zero-shot binary",
        "temperature scaling",
        "image-to-text retrieval",
        "linear probe 50%",
    ]
    for name in ("rsna", "siim", "vindr", "chestx-ray14"):
        assert protocols[name] == common + ["localisation"], name
    assert protocols["chexpert-5x200"] == (
        common[:1]
        + ["zero-shot multi-class (mean)", "zero-shot multi-class (max)"]
        + common[1:]
    )
    rsna = {r["protocol"]: r for r in table["rows"] if r["dataset"] == "rsna"}
    auroc = rsna["zero-shot binary"]["metrics"]["AUROC"]
    assert 0.0 <= auroc["value"] <= 1.0 and len(auroc["ci"]) == 2
    located = rsna["localisation"]["metrics"]
    assert set(located) == {"pointing_game", "IoU", "Dice", "CNR"}
    markdown = (out / "benchmark.md").read_text()
    assert "| chexpert-5x200 | zero-shot multi-class (mean) |" in markdown
    assert "broken" in markdown
    assert (out / "rsna_roc.png").exists()
    assert (out / "siim_localization.png").exists()


def test_region_cases_read_padded_boxes_masks_and_rle():
    boxes = np.full((2, 2, 4), np.nan)
    boxes[1, 1] = [0, 0, 32, 32]
    got = region_cases(
        {"boxes": boxes, "image_hw": [[64, 64], [64, 64]]}, (2, 2), ["a"]
    )
    assert got["index"] == [1]
    assert got["masks"][0].tolist() == [[True, False], [False, False]]
    rle = region_cases(
        {"mask_rle": [["-1"], ["1 2"]], "image_hw": [[4, 4], [4, 4]]},
        (4, 4),
        ["a"],
        mask_fn=lambda rles, h, w: np.eye(h, w, dtype=bool),
    )
    assert rle["index"] == [1] and rle["masks"][0].sum() == 4
