"""`clinclip evaluate --help` works from the console entry point."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent


def test_evaluate_help_lists_the_options():
    result = subprocess.run(
        [sys.executable, "-m", "keras_clinclip", "evaluate", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""  # no backend start-up lines
    for option in (
        "--preset",
        "--data",
        "--cxr-align",
        "--uncertain",
        "--probe-fractions",
        "--output-dir",
        "--plots, --no-plots",
        "(default: 1000)",
    ):
        assert option in result.stdout


def test_unknown_findings_are_a_user_error_before_any_loading(tmp_path):
    import argparse

    from keras_clinclip.cli import evaluate
    from keras_clinclip.errors import UserError

    preset = tmp_path / "preset"
    preset.mkdir()
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args(
        ["--preset", str(preset), "--data", "synthetic:4", "--findings"]
        + ["Pleural Effusion,Cardiomegaly"]
    )
    evaluate.check(args)
    args.findings = "Pleural Effusion,Efusion"
    with pytest.raises(UserError, match="--findings: .* Efusion; use"):
        evaluate.check(args)
