"""`clinclip prepare`: streaming JSONL with labels, negations and graphs."""

import argparse
import csv
import io
import json
import os
import sys

import numpy as np
import pytest

from keras_clinclip import utils
from keras_clinclip.cli import main as cli_main
from keras_clinclip.cli import prepare as prepare_options
from keras_clinclip.data.prepared_text import read_prepared
from keras_clinclip.reports import GRAPH_FEATURE_DIM
from keras_clinclip.reports import graph_arrays_from_record
from keras_clinclip.reports import graph_to_arrays
from keras_clinclip.reports import prepare
from keras_clinclip.reports import report_graph

pytestmark = pytest.mark.backend_independent

GOOD = [
    "Mild cardiomegaly. Small left pleural effusion.",
    "No acute cardiopulmonary process.",
    "Right lower lobe pneumonia. XXXX ___.",
]


def _args(**kwargs):
    parser = argparse.ArgumentParser()
    prepare_options.add_arguments(parser)
    argv = []
    for key, value in kwargs.items():
        argv.append(f"--{key.replace('_', '-')}")
        if value is not True:
            argv.append(str(value))
    return parser.parse_args(argv + ["--verbose", "0"])


def _write_csv(path, reports):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "report"])
        for i, report in enumerate(reports):
            writer.writerow([f"r{i}", report])


def _read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_prepare_csv_records(tmp_path, capsys):
    _write_csv(tmp_path / "in.csv", GOOD + [""])
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=tmp_path / "in.csv", out=out)) == 0
    records = _read(out)
    assert [r["id"] for r in records] == ["r0", "r1", "r2", "r3"]
    first = records[0]
    assert first["error"] is None
    assert first["labels"]["Cardiomegaly"] == 1.0
    assert first["labels"]["Pneumothorax"] is None  # NaN -> null
    assert first["positive_findings"] == ["Cardiomegaly", "Pleural Effusion"]
    assert [n["finding"] for n in first["negations"]] == [
        "Cardiomegaly",
        "Pleural Effusion",
    ]
    assert first["sentences"] == [
        "Mild cardiomegaly.",
        "Small left pleural effusion.",
    ]
    dense = graph_arrays_from_record(first)
    expected = graph_to_arrays(report_graph(GOOD[0]))
    for key in ("nodes", "adjacency", "node_mask"):
        np.testing.assert_allclose(dense[key], expected[key], atol=1e-4)
    assert dense["nodes"].shape[1] == GRAPH_FEATURE_DIM
    assert records[1]["labels"]["No Finding"] == 1.0
    assert "prepared 4 rows" in capsys.readouterr().err


def test_prepare_jsonl_bad_rows_get_an_error_field(tmp_path, capsys):
    lines = [
        json.dumps({"id": "a", "report": GOOD[0]}),
        json.dumps({"id": "b", "report": None}),
        json.dumps({"id": "c", "report": 12}),
        json.dumps({"id": "d", "text": "wrong key"}),
        "{not json",
        json.dumps({"id": "f", "report": "x" * 100_000}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        ("\n".join(lines) + "\n").encode() + b'{"id": "g", "report": "\xff"}\n'
    )
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=path, out=out, no_graph=True)) == 0
    records = _read(out)
    errors = {r["id"]: r["error"] for r in records}
    assert errors["a"] is None and errors["f"] is None
    assert "row 2" in errors["b"] and "None" in errors["b"]
    assert "int" in errors["c"]
    assert "'report'" in errors["d"]
    assert "bad JSON" in errors["5"]
    assert len(records) == 7
    assert "(5 with an error)" in capsys.readouterr().err


def test_prepare_missing_column_and_file(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,hello\n")
    assert prepare.run(_args(reports=path, out=tmp_path / "o.jsonl")) == 2
    assert (
        prepare.run(
            _args(reports=tmp_path / "none.csv", out=tmp_path / "o.jsonl")
        )
        == 2
    )


_FORKS = []
os.register_at_fork(before=lambda: _FORKS.append(os.getpid()))


def test_prepare_workers_give_the_same_output_without_fork(tmp_path):
    _write_csv(tmp_path / "in.csv", GOOD * 30)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert prepare.run(_args(reports=tmp_path / "in.csv", out=one)) == 0
    assert utils.backend_started()  # here Keras' backend is loaded: no fork
    before = len(_FORKS)
    assert (
        prepare.run(_args(reports=tmp_path / "in.csv", out=two, workers=2)) == 0
    )
    assert len(_FORKS) == before, "os.fork() after a backend started"
    assert one.read_text() == two.read_text()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_prepare_progress_is_one_updating_line(tmp_path, monkeypatch):
    _write_csv(tmp_path / "in.csv", GOOD * 4)
    parser = argparse.ArgumentParser()
    prepare_options.add_arguments(parser)
    argv = ["--reports", str(tmp_path / "in.csv")]
    argv += ["--output", str(tmp_path / "out.jsonl")]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert prepare.run(parser.parse_args(argv)) == 0
    progress, summary = terminal.getvalue().split("\n")[:2]
    drawings = progress.split("\r")[1:]
    assert all(d.startswith("clinclip prepare: ") for d in drawings)
    assert "(100%" in drawings[-1] and "12 rows, 0 errors" in drawings[-1]
    assert summary.startswith("prepared 12 rows")
    terminal.seek(0)
    terminal.truncate()
    assert prepare.run(parser.parse_args(argv + ["--verbose", "0"])) == 0
    assert terminal.getvalue().startswith("prepared 12 rows")


def test_prepare_interrupted_keeps_complete_lines(tmp_path, monkeypatch):
    _write_csv(tmp_path / "in.csv", [GOOD[0]] * (prepare.BLOCK + 50))
    real = prepare.process_report
    calls = {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > prepare.BLOCK + 10:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare, "process_report", interrupting)
    out = tmp_path / "out.jsonl"
    assert (
        prepare.run(_args(reports=tmp_path / "in.csv", out=out, no_graph=True))
        == 130
    )
    records = _read(out)  # every line is complete JSON
    assert len(records) == prepare.BLOCK


def test_cli_entry_point(tmp_path):
    _write_csv(tmp_path / "in.csv", GOOD)
    out = tmp_path / "out.jsonl"
    code = cli_main(
        [
            "prepare",
            "--reports",
            str(tmp_path / "in.csv"),
            "--output",
            str(out),
            "--verbose",
            "0",
        ]
    )
    assert code == 0 and len(_read(out)) == 3


# The labeler check rejects every templates negation of the pneumothorax
# in its first sentence ("hydropneumothorax" is also an effusion).
REJECTED = (
    "Blunting of the costophrenic angle with hydropneumothorax. "
    "Mild cardiomegaly."
)


def test_rejected_negation_keeps_the_row_and_the_other_negations(tmp_path):
    path = tmp_path / "in.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "report", "image_path"])
        writer.writerow(["s2", REJECTED, "a.png"])
        writer.writerow(["s3", GOOD[0], "b.png"])
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=path, out=out)) == 0
    row = _read(out)[0]
    assert row["error"] is None
    assert row["labels"]["Pneumothorax"] == 1.0
    assert [r["finding"] for r in row["rejected_negations"]] == ["Pneumothorax"]
    assert "'Pneumothorax'" in row["rejected_negations"][0]["error"]
    negated = [n["finding"] for n in row["negations"]]
    assert negated == ["Cardiomegaly", "Pleural Effusion"]
    assert _read(out)[1]["rejected_negations"] == []
    # Study "s2" would negate the pneumothorax first: the next finding in
    # its seeded order takes its place, in both training paths.
    labels = [row["labels"][n] for n in prepare.CHEXPERT_OBSERVATIONS]
    labels = [np.nan if v is None else v for v in labels]
    assert prepare.choose_negated("s2", labels, 1) == ["Pneumothorax"]
    columns = prepare.study_text_columns("s2", REJECTED, 1, graph=False)
    assert columns["negated_findings"] == ["Cardiomegaly"]
    assert columns["negations"] == [row["negations"][0]["report"]]
    records, _ = read_prepared(out)
    assert records["negated_findings"][0] == ["Cardiomegaly"]
    assert records["negations"][0] == columns["negations"]
