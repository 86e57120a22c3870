"""`clinclip train` and `clinclip evaluate` on a table with one unreadable
image (issue 19, case 8): `--on_error skip` leaves it out and counts it in
the run summary; `--on_error raise` (the default) stops with one line
naming the row and file, and the process exits non-zero in bounded time.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_clinclip.cli import evaluate as evaluate_options
from keras_clinclip.cli import train as train_options
from keras_clinclip.evaluation import evaluate as evaluate_cli
from keras_clinclip.training import train as train_lib

# End to end (subprocesses or whole trainings): in `make test`, not in
# `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]
BAD_ROW = 5


def _table(folder):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,image_path,report,split,Edema"]
    rng = np.random.default_rng(0)
    for row in range(12):
        name = f"img{row}.png"
        if row == BAD_ROW:
            (folder / name).write_bytes(b"not an image")
        else:
            pixels = (rng.random((32, 32)) * 255).astype("uint8")
            Image.fromarray(pixels).save(folder / name)
        report = "Edema." if row % 2 else "No edema."
        lines.append(f"s{row},{name},{report},train,{row % 2}")
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    return folder / "table.csv"


def _train_options(table, output_dir, on_error):
    return [
        "--dataset", str(table), "--image-size", "32",
        "--image-encoder", "tiny", "--text-encoder", "tiny",
        "--embed-dim", "16", "--max-length", "16", "--batch-size", "4",
        "--epochs", "2", "--loss", "clip", "--no-tensorboard",
        "--no-validate", "--verbose", "0",
        "--output-dir", str(output_dir), "--on-error", on_error,
    ]  # fmt: skip


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_skip_trains_without_the_image_and_counts_it(tmp_path, capsys):
    table = _table(tmp_path / "data")
    output = tmp_path / "run"
    # One bad row too (a label outside 1, 0, -1, blank), skipped while the
    # table is read: the summary counts it (issue 25, item 6).
    with_bad_row = table.with_name("bad_row.csv")
    with_bad_row.write_text(table.read_text() + "s99,img0.png,Edema.,train,7\n")
    args = _parse(train_options, _train_options(with_bad_row, output, "skip"))
    assert train_lib.run(args) == 0
    out = capsys.readouterr().out
    assert "1 bad record(s), 1 unreadable image(s)" in out
    assert f"img{BAD_ROW}.png" in out
    assert (output / "final.weights.h5").exists()

    # The preset it wrote, evaluated on the same table.
    argv = [
        "--preset", str(output / "preset"), "--data", str(table),
        "--split", "train", "--train-split", "", "--bootstrap", "5",
        "--probe-fractions", "", "--no-plots",
    ]  # fmt: skip
    with pytest.raises(Exception, match=f"img{BAD_ROW}.png"):
        evaluate_cli.run(_parse(evaluate_options, argv))
    capsys.readouterr()
    assert (
        evaluate_cli.run(
            _parse(evaluate_options, argv + ["--on-error", "skip"])
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Skipped (--on-error skip): 1 unreadable image(s)" in out


def test_raise_exits_non_zero_in_bounded_time_with_one_line(tmp_path):
    table = _table(tmp_path / "data")
    command = [sys.executable, "-m", "keras_clinclip", "train"]
    command += _train_options(table, tmp_path / "run", "raise")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    start = time.time()
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    ours = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("clinclip train: error:")
    ]
    assert len(ours) == 1, result.stderr[-3000:]
    assert f"records row {BAD_ROW + 1}" in ours[0]  # counted from 1
    assert f"img{BAD_ROW}.png" in ours[0]
    assert "--on-error skip" in ours[0]
    assert "Traceback" not in result.stderr
    assert time.time() - start < 600
