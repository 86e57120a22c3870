"""Figures and the Markdown report are written and readable."""

import json
import re

import numpy as np
import pytest

from keras_clinclip.evaluation import plots
from keras_clinclip.evaluation.cxr_align import cxr_align_scores
from keras_clinclip.evaluation.metrics import clinical_metrics
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.report import write_report
from keras_clinclip.evaluation.retrieval import retrieval_metrics
from keras_clinclip.evaluation.zero_shot import zero_shot_evaluate

pytestmark = pytest.mark.backend_independent

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """Decode a PNG with Pillow and return its (height, width, channels)."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        array = np.asarray(image)
    assert path.read_bytes()[:8] == PNG_MAGIC
    return array


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(0)
    n, d = 40, 6
    labels = rng.choice([1.0, 0.0, np.nan], size=(n, 3))
    labels[:, 2] = 0.0  # no positive: undefined class
    images = (labels == 1.0) @ np.eye(3, d) + rng.normal(size=(n, d))
    texts = images + 0.5 * rng.normal(size=(n, d))
    with pytest.warns(UserWarning):
        zero_shot = zero_shot_evaluate(
            images,
            labels,
            np.eye(3, d),
            -np.eye(3, d),
            ["Edema", "Atelectasis", "Fracture"],
            n_bootstrap=20,
        )
    with pytest.warns(UserWarning):
        probe = linear_probe(
            images[:30],
            labels[:30],
            images[30:],
            labels[30:],
            ["Edema", "Atelectasis", "Fracture"],
            fractions=(0.5, 1.0),
        )
    return {
        "zero_shot": zero_shot,
        "retrieval": retrieval_metrics(images, texts),
        "cxr_align": cxr_align_scores(
            images,
            texts,
            texts - images,
            texts - 0.5 * images,
            n_bootstrap=20,
        ),
        "linear_probe": probe,
        "batch": (images[:8], texts[:8]),
    }


def test_each_plot_writes_a_png(tmp_path, results):
    zs = results["zero_shot"]
    figure = plots.plot_roc_curves(
        zs["labels"],
        zs["scores"],
        list(zs["per_class"]),
        tmp_path / "roc.png",
    )
    # 3 panels + one hidden in a 3-column grid: exactly 3 visible.
    assert sum(ax.get_visible() for ax in figure.axes) == 3
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert "undefined" in titles[2]
    auroc = zs["per_class"]["Edema"]["auroc"]
    assert f"AUROC {auroc:.3f}" in titles[0]
    plots.plot_similarity_heatmap(*results["batch"], tmp_path / "sim.png")
    plots.plot_margin_histogram(
        results["cxr_align"]["margins"], tmp_path / "margins.png"
    )
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("epoch,loss,val_loss\n0,2.0,2.5\n1,1.5,2.0\n")
    figure = plots.plot_training_curves(csv_path, tmp_path / "curves.png")
    lines = figure.axes[0].lines
    assert [line.get_label() for line in lines] == ["loss", "val_loss"]
    np.testing.assert_allclose(lines[0].get_ydata(), [2.0, 1.5])
    for name in ("roc", "sim", "margins", "curves"):
        array = read_png(tmp_path / f"{name}.png")
        assert array.ndim == 3 and array.shape[0] > 100
        assert array.std() > 0  # not a blank canvas


def test_training_curves_accept_a_history_object_and_name_bad_input(tmp_path):
    class History:
        history = {"loss": [3.0, 2.0, 1.0], "lr": [1.0, 0.5, 0.1]}

    figure = plots.plot_training_curves(History())
    assert [ax.get_title() for ax in figure.axes] == ["loss", "lr"]
    with pytest.raises(ValueError, match="'accuracy'"):
        plots.plot_training_curves(History(), metrics=["accuracy"])
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n0,oops\n")
    with pytest.raises(ValueError, match="line 2, column 'loss'"):
        plots.read_history(bad)


def test_write_report_writes_markdown_pngs_and_json(tmp_path, results):
    path = write_report(
        tmp_path / "out",
        zero_shot=results["zero_shot"],
        retrieval=results["retrieval"],
        cxr_align=results["cxr_align"],
        linear_probe=results["linear_probe"],
        history={"loss": [2.0, 1.0], "val_loss": [2.2, 1.4]},
        similarity_batch=results["batch"],
        notes="Model: test.",
    )
    text = path.read_text()
    assert text.startswith("# keras_clinclip evaluation")
    for heading in (
        "Zero-shot",
        "Retrieval",
        "CXR-Align",
        "Linear probe",
        "Training",
    ):
        assert f"## {heading}" in text
    # Every table row has as many cells as its header.
    for block in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
        rows = block.strip().splitlines()
        widths = {row.count("|") for row in rows}
        assert len(widths) == 1, rows
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(images) == sorted(
        [
            "roc_curves.png",
            "similarity.png",
            "cxr_align_margins.png",
            "training_curves.png",
        ]
    )
    for name in images:
        read_png(path.parent / name)
    data = json.loads((path.parent / "results.json").read_text())
    assert data["zero_shot"]["per_class"]["Fracture"]["auroc"] is None
    edema = results["zero_shot"]["per_class"]["Edema"]["auroc"]
    assert data["zero_shot"]["per_class"]["Edema"]["auroc"] == edema
    assert f"{edema:.3f}" in text
    assert set(data) == {"zero_shot", "retrieval", "cxr_align", "linear_probe"}
    assert "scores" not in data["zero_shot"]


def test_missing_matplotlib_is_reported_clearly(monkeypatch):
    import importlib.util

    from keras_clinclip.utils import MissingPackageError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    with pytest.raises(MissingPackageError, match="keras-clinclip\\[plots\\]"):
        plots.plot_margin_histogram([0.1, 0.2])


@pytest.mark.backend_independent
def test_overlay_and_reliability_figures_are_written(tmp_path):
    maps = np.zeros((2, 16, 16))
    maps[0, 3, 4] = maps[1, 10, 12] = 1.0
    figure = plots.plot_localization_maps(
        np.zeros((2, 16, 16, 3)),
        maps,
        maps > 0.5,
        ["a", "b"],
        tmp_path / "maps.png",
    )
    assert (tmp_path / "maps.png").stat().st_size > 0
    assert [ax.get_title() for ax in figure.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="must both be"):
        plots.plot_localization_maps(np.zeros((2, 8, 8)), maps)
    r = clinical_metrics(
        [[1, 0], [0, 1]], [[0.8, 0.3], [0.1, 0.6]], ["x", "y"], n_bootstrap=0
    )
    figure = plots.plot_reliability_diagram(r, tmp_path / "rel.png")
    assert (tmp_path / "rel.png").exists()
    assert figure.axes[0].get_title().startswith("x\nECE ")
