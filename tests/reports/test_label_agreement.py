"""Agreement with reference labels; official MIMIC-CXR label tables.

Every table here is generated in the test.
"""

import argparse
import csv
import gzip
import math

import numpy as np
import pytest

from keras_clinclip.cli import prepare as prepare_options
from keras_clinclip.data import mimic_cxr
from keras_clinclip.reports import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports import label_agreement
from keras_clinclip.reports import prepare
from keras_clinclip.reports import read_reference_labels
from keras_clinclip.reports.label_agreement import agreement_with_reference
from keras_clinclip.reports.label_agreement import format_agreement
from tests.data import trees

pytestmark = pytest.mark.backend_independent

NAN = math.nan


def _write(path, header, rows, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_counts_by_reference_state():
    ours = [
        {"Edema": 1.0},
        {"Edema": -1.0},
        {"Edema": 0.0},
        {"Edema": NAN},
        {"Edema": -1.0},
        {"Edema": 0.0},
        {},
    ]
    theirs = [
        {"Edema": 1.0},
        {"Edema": 1.0},
        {"Edema": 1.0},
        {"Edema": 1.0},
        {"Edema": -1.0},
        {"Edema": 0.0},
        {"Edema": NAN},
    ]
    result = label_agreement(ours, theirs, classes=["Edema"])
    edema = result["Edema"]
    assert edema["present"]["n"] == 4
    assert edema["present"]["present"] == 1
    assert edema["present"]["uncertain"] == 1
    assert edema["present"]["absent"] == 1
    assert edema["present"]["not_mentioned"] == 1
    assert edema["mention_recall"] == 0.5
    assert edema["present_exact"] == 0.25
    assert edema["uncertain_accuracy"] == 1.0
    assert edema["absent_accuracy"] == 1.0
    assert edema["not_mentioned_accuracy"] == 1.0
    assert result["all"]["present"]["n"] == 4
    text = format_agreement(result)
    assert text.splitlines()[1].split()[:3] == ["Edema", "4", "0.500"]


def test_arrays_and_missing_states():
    ours = np.full((2, 14), np.nan, np.float32)
    theirs = np.full((2, 14), np.nan, np.float32)
    ours[0, 2] = theirs[0, 2] = 1.0
    theirs[1, 2] = 0.0
    result = label_agreement(ours, theirs)
    assert result["Cardiomegaly"]["mention_recall"] == 1.0
    assert result["Cardiomegaly"]["absent_accuracy"] == 0.0
    assert math.isnan(result["Edema"]["mention_recall"])  # no case


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="2 rows but reference has 1"):
        label_agreement([{}, {}], [{}])
    with pytest.raises(ValueError, match=r"row 1, 'Edema'.*2\.0"):
        label_agreement([{}, {"Edema": 2.0}], [{}, {}], classes=["Edema"])
    with pytest.raises(TypeError, match="reference, row 0"):
        label_agreement([{}], ["Edema"])
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        label_agreement(np.zeros((2, 3)), np.zeros((2, 3)))


@pytest.mark.parametrize("gz", [False, True])
def test_read_reference_labels(tmp_path, gz):
    path = tmp_path / ("ref.csv.gz" if gz else "ref.csv")
    _write(
        path,
        ["subject_id", "study_id", "Edema", "Pneumothorax"],
        [["10", "501", "1.0", ""], ["10", "502", "-1.0", "0.0"]],
        gz=gz,
    )
    reference = read_reference_labels(path)
    assert reference["501"]["Edema"] == 1.0
    assert math.isnan(reference["501"]["Pneumothorax"])
    assert reference["502"] == {"Edema": -1.0, "Pneumothorax": 0.0}


def test_read_reference_labels_errors(tmp_path):
    bad = _write(tmp_path / "bad.csv", ["id", "Edema"], [["a", "yes"]])
    with pytest.raises(ValueError, match=r"bad\.csv, row 1, Edema"):
        read_reference_labels(bad)
    dup = _write(
        tmp_path / "dup.csv", ["id", "Edema"], [["s1", "1"], ["1", ""]]
    )
    with pytest.raises(ValueError, match="row 2: duplicate id '1'"):
        read_reference_labels(dup)
    no_id = _write(tmp_path / "noid.csv", ["key", "Edema"], [["a", "1"]])
    with pytest.raises(ValueError, match="no id column 'id'"):
        read_reference_labels(no_id)
    assert read_reference_labels(no_id, id_column="key")["a"]["Edema"] == 1.0
    no_class = _write(tmp_path / "nocls.csv", ["id", "x"], [["a", "1"]])
    with pytest.raises(ValueError, match="none of the CheXpert columns"):
        read_reference_labels(no_class)
    with pytest.raises(FileNotFoundError):
        read_reference_labels(tmp_path / "missing.csv")


def test_agreement_joins_ids_with_and_without_prefix():
    records = [
        {"id": "s501", "labels": {"Edema": 1.0, "Pneumothorax": None}},
        {"id": "502", "labels": {"Edema": 0.0, "Pneumothorax": 0.0}},
        {"id": "s999", "labels": {"Edema": 1.0}},
        {"id": "s503", "labels": None},  # a row with an error
    ]
    reference = {
        "501": {"Edema": 1.0, "Pneumothorax": NAN},
        "502": {"Edema": -1.0, "Pneumothorax": 0.0},
        "503": {"Edema": 1.0},
    }
    result, matched, unmatched = agreement_with_reference(records, reference)
    assert (matched, unmatched) == (2, 2)
    assert set(result) == {"Edema", "Pneumothorax", "all"}
    assert result["Edema"]["mention_recall"] == 1.0
    assert result["Edema"]["uncertain_accuracy"] == 0.0
    assert result["Pneumothorax"]["absent_accuracy"] == 1.0
    assert result["Pneumothorax"]["not_mentioned_accuracy"] == 1.0


def _args(**kwargs):
    parser = argparse.ArgumentParser()
    prepare_options.add_arguments(parser)
    argv = []
    for key, value in kwargs.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return parser.parse_args([*argv, "--verbose", "0", "--no-graph"])


def test_prepare_reports_agreement(tmp_path, capsys):
    reports = _write(
        tmp_path / "reports.csv",
        ["id", "report"],
        [
            ["s501", "FINDINGS: Moderate cardiomegaly. No pneumothorax."],
            ["s502", "IMPRESSION: Possible pneumonia. No effusion."],
            ["s503", "FINDINGS: The lungs are clear."],
        ],
    )
    header = ["subject_id", "study_id", *CHEXPERT_OBSERVATIONS]
    rows = []
    for study, values in [
        ("501", {"Cardiomegaly": "1.0", "Pneumothorax": "0.0"}),
        ("502", {"Pneumonia": "-1.0", "Pleural Effusion": "1.0"}),
    ]:
        rows.append(["10", study, *[values.get(n, "") for n in header[2:]]])
    reference = _write(tmp_path / "chexpert.csv.gz", header, rows, gz=True)
    out = tmp_path / "prepared.jsonl"
    status = prepare.run(
        _args(reports=reports, out=out, reference_labels=reference)
    )
    assert status == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(
        "agreement with the reference labels: 2 row(s) matched by id, 1 not"
    )
    # Columns: present, recall, absent, accuracy, uncertain, accuracy.
    table = {line[:26].strip(): line[26:].split() for line in printed[2:]}
    assert table["Cardiomegaly"][:2] == ["1", "1.000"]
    # A reference positive that we call absent.
    assert table["Pleural Effusion"][:2] == ["1", "0.000"]
    assert table["Pneumothorax"][2:4] == ["1", "1.000"]
    assert table["Pneumonia"][4:] == ["1", "1.000"]
    assert table["all"][:2] == ["2", "0.500"]


def test_prepare_refuses_a_bad_reference_before_work(tmp_path, capsys):
    reports = _write(tmp_path / "r.csv", ["id", "report"], [["a", "x."]])
    out = tmp_path / "out.jsonl"
    missing = tmp_path / "nope.csv"
    assert (
        prepare.run(_args(reports=reports, out=out, reference_labels=missing))
        == 2
    )
    assert "nope.csv" in capsys.readouterr().err
    assert not out.exists()


def _label_table(root, name, value):
    """A MIMIC label table `name` with Pleural Effusion = value per study."""
    header = ["subject_id", "study_id", *trees.OBSERVATIONS]
    rows = []
    for subject, study, *_ in trees.MIMIC_STUDIES:
        row = ["" for _ in trees.OBSERVATIONS]
        row[trees.OBSERVATIONS.index("Pleural Effusion")] = value
        rows.append([subject[1:], study[1:], *row])
    path = root / f"mimic-cxr-2.0.0-{name}.csv.gz"
    return _write(path, header, rows, gz=True)


def test_mimic_loader_uses_official_tables(tmp_path):
    effusion = trees.OBSERVATIONS.index("Pleural Effusion")
    root = trees.mimic_tree(tmp_path, "jpg", "txt")
    _label_table(root, "negbio", "-1.0")
    # auto: the CheXpert table first.
    chexpert = mimic_cxr(root)["labels"]
    assert chexpert[0, effusion] == 1.0
    negbio = mimic_cxr(root, labels="negbio")["labels"]
    assert (negbio[:, effusion] == -1.0).all()
    # Without the CheXpert table, auto reads the NegBio one.
    (root / "mimic-cxr-2.0.0-chexpert.csv.gz").unlink()
    assert (mimic_cxr(root)["labels"][:, effusion] == -1.0).all()
    with pytest.raises(FileNotFoundError, match="chexpert.csv.gz"):
        mimic_cxr(root, labels="chexpert")
    # Without either, auto falls back on our labeler.
    (root / "mimic-cxr-2.0.0-negbio.csv.gz").unlink()
    assert mimic_cxr(root)["labels"][0, effusion] == 1.0
    with pytest.raises(ValueError, match="negbio"):
        mimic_cxr(root, labels="chexbert")
