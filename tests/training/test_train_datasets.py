"""The commands of docs/training.md ("Train on MIMIC-CXR", "Train on
CheXpert", "Train on your own table"), run as written on the look-alikes
of `tests/data/lookalikes.py` with tiny towers appended, on each backend.
"""

import gzip
import pathlib
import re
import shlex

import pytest

from keras_clinclip import cli
from tests.data import lookalikes

# End to end (subprocesses or whole trainings): in `make test`, not in
# `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = (
    "--image-size 32 --image-encoder tiny --text-encoder tiny "
    "--embed-dim 16 --max-length 16 --batch-size 4 --epochs 1 "
    "--steps-per-epoch 1 --no-tensorboard --no-validate --verbose 0 "
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


def test_each_dataset_string_trains(trees, tmp_path, capsys):
    # A user's table of image_path,report only, with the default --loss
    # full: labels from the labeler, valid negation slots, graphs.
    train = doc_commands("Train on your own table")[0]
    log = run(train.replace("reports.csv", str(trees["csv"])), tmp_path, capsys)
    assert "0 studies from the table, 16 from the labeler" in log
    valid, total = _slots(log)
    assert 0 < valid <= total == 16
    config = (tmp_path / "runs/mine/config.json").read_text()
    assert '"loss": "full"' in config
    # MIMIC-CXR and CheXpert from their official layouts.
    mimic = doc_commands("Train on MIMIC-CXR")[0]
    log = run(mimic, tmp_path, capsys, MIMIC=trees["mimic"])
    assert _slots(log)[0] > 0
    (chexpert,) = doc_commands("Train on CheXpert")
    log = run(chexpert, tmp_path, capsys, CHEXPERT=trees["chexpert"])
    assert "studies from the table, 0 from the labeler" in log
    for name in ("mine", "mimic", "chexpert"):
        history = (tmp_path / "runs" / name / "training_log.csv").read_text()
        assert "loss" in history and "nan" not in history.lower()
        assert (tmp_path / "runs" / name / "preset").is_dir()


@pytest.mark.backend_independent
def test_prepared_table_trains_and_evaluates(trees, tmp_path, capsys):
    _, prepare, train, evaluate = doc_commands("Train on your own table")
    table = trees["csv"]
    (tmp_path / "runs").mkdir()
    prepared = "runs/prepared.jsonl"  # run() puts runs/ under tmp_path
    run(
        prepare.replace("reports.csv", str(table)).replace(
            "prepared.jsonl", prepared
        ),
        tmp_path,
        capsys,
    )
    # `clinclip prepare` output trains as is, nothing prepared again.
    log = run(train.replace("prepared.jsonl", prepared), tmp_path, capsys)
    assert "report text read from the prepared file" in log
    assert _slots(log)[0] > 0
    preset = "runs/mine-prepared/preset"
    quick = " --train-split '' --bootstrap 0 --no-plots --probe-fractions ''"
    # `clinclip evaluate --data mimic-cxr:ROOT`: the official test split,
    # i.e. the studies the split table puts there.
    evaluate_mimic = doc_commands("Train on MIMIC-CXR")[1]
    root = trees["mimic"]
    log = run(
        evaluate_mimic.replace("runs/mimic/preset", preset) + quick,
        tmp_path,
        capsys,
        MIMIC=root,
    )
    with gzip.open(root / "mimic-cxr-2.0.0-split.csv.gz", "rt") as handle:
        rows = [line.strip().split(",") for line in handle][1:]
    test = {study for _, study, _, split in rows if split == "test"}
    queries = re.search(r"^\| image -> report .* \| (\d+) \|$", log, re.M)
    assert int(queries.group(1)) == len(test)
    # A user's table without labels: AUROCs against the labeler's labels,
    # and the run says so.
    evaluate = evaluate.replace("reports.csv", str(table))
    log = run(
        evaluate.replace("runs/mine/preset", preset) + " --split train" + quick,
        tmp_path,
        capsys,
    )
    assert "0 studies from the table, 16 from the labeler" in log
    rows = re.findall(r"^\| ([A-Z][a-z ]+) \| (\d+) \| (\d+) \|", log, re.M)
    assert sum(int(positives) for _, positives, _ in rows) > 0
