"""The commands of docs/training.md ("Train on MIMIC-CXR", "Train on
CheXpert", "Train on your own table"), run as written on the look-alikes
of `tests/data/lookalikes.py` with tiny towers appended, on each backend.
"""

import pathlib
import re
import shlex

import pytest

from keras_clinclip import cli
from tests.data import lookalikes

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = (
    "--image-size 32 --image-encoder tiny --text-encoder tiny "
    "--embed-dim 16 --max-length 16 --batch-size 4 --epochs 1 "
    "--steps-per-epoch 2 --no-tensorboard --no-validate --verbose 0 "
    "--save-freq 0"
).split()


def doc_commands(section):
    """The `clinclip ...` lines of a section of docs/training.md."""
    text = (ROOT / "docs" / "training.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^(clinclip .+)$", body, flags=re.M)


def run(command, tmp_path, capsys, **variables):
    for name, value in variables.items():
        command = command.replace(f"${name}", str(value))
    command = command.replace("runs/", f"{tmp_path}/runs/")
    argv = shlex.split(command)[1:]
    if argv[0] == "train":
        argv += TINY
    capsys.readouterr()
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    return captured.out + captured.err


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lookalikes")
    return {
        "mimic": lookalikes.write_mimic_cxr(folder / "mimic", 30),
        "chexpert": lookalikes.write_chexpert(folder, 12),
        "csv": lookalikes.write_reports_table(folder / "user", 16),
    }


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CLINCLIP_CACHE", str(tmp_path / "cache"))


def _slots(log):
    found = re.search(r"negations: (\d+) of (\d+) studies", log)
    return int(found.group(1)), int(found.group(2))


def test_users_table_trains_with_the_full_method(trees, tmp_path, capsys):
    train, _, _, evaluate = doc_commands("Train on your own table")
    table = trees["csv"]
    log = run(train.replace("reports.csv", str(table)), tmp_path, capsys)
    assert "0 studies from the table, 16 from the labeler" in log
    valid, total = _slots(log)
    assert 0 < valid <= total == 16
    history = (tmp_path / "runs/mine/training_log.csv").read_text()
    assert "loss" in history and "nan" not in history.lower()
    config = (tmp_path / "runs/mine/config.json").read_text()
    assert '"loss": "full"' in config
    log = run(
        evaluate.replace("reports.csv", str(table))
        + " --split train --train-split '' --bootstrap 0 --no-plots",
        tmp_path,
        capsys,
    )
    assert "0 studies from the table, 16 from the labeler" in log
    rows = re.findall(r"^\| (Edema|Pleural Effusion) \| (\d+) \|", log, re.M)
    assert rows and sum(int(n) for _, n in rows) > 0  # labels, not n/a


def test_mimic_cxr_trains_and_evaluates_the_official_test_split(
    trees, tmp_path, capsys
):
    train, evaluate = doc_commands("Train on MIMIC-CXR")
    root = trees["mimic"]
    log = run(train, tmp_path, capsys, MIMIC=root)
    assert _slots(log)[0] > 0
    assert (tmp_path / "runs/mimic/preset").is_dir()
    log = run(
        evaluate + " --train-split '' --bootstrap 0 --no-plots "
        "--probe-fractions ''",
        tmp_path,
        capsys,
        MIMIC=root,
    )
    # The official test split: the studies the split table puts there.
    import gzip

    with gzip.open(root / "mimic-cxr-2.0.0-split.csv.gz", "rt") as handle:
        rows = [line.strip().split(",") for line in handle][1:]
    test = {study for _, study, _, split in rows if split == "test"}
    queries = re.search(r"^\| image -> report .* \| (\d+) \|$", log, re.M)
    assert int(queries.group(1)) == len(test)


def test_chexpert_trains(trees, tmp_path, capsys):
    (train,) = doc_commands("Train on CheXpert")
    log = run(train, tmp_path, capsys, CHEXPERT=trees["chexpert"])
    assert "studies from the table, 0 from the labeler" in log
    assert _slots(log)[0] > 0
    assert (tmp_path / "runs/chexpert/final.weights.h5").exists()
    history = (tmp_path / "runs/chexpert/training_log.csv").read_text()
    assert "nan" not in history.lower()
