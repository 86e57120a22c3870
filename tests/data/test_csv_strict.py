"""Strict CSV/JSONL reading in `load_records` and the dataset indexers.

Issue 19, cases 2-4: an unclosed quote, a ragged row or undecodable bytes
give an error naming the file, line and column (never a merged row or a
NaN label), a UTF-8 byte-order mark is not part of the first column name,
and a non-UTF-8 file is refused naming the file and line.
"""

import gzip
import logging

import numpy as np
import pytest

from keras_clinclip.data import chexpert
from keras_clinclip.data import load_records
from keras_clinclip.tables import read_rows
from tests.data import trees

pytestmark = pytest.mark.backend_independent

EDEMA = 5


def _write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_bom_header_keeps_the_id_column(tmp_path):
    table = _write(
        tmp_path / "t.csv",
        b"\xef\xbb\xbfid,image_path,report\r\nA7,a.png,Edema.\r\n",
    )
    records = load_records(table)
    assert records["id"] == ["A7"]


def test_non_utf8_row_names_file_line_and_column(tmp_path):
    table = _write(
        tmp_path / "latin.csv",
        "image_path,report\na.png,ok\nb.png,Caf\xe9\n".encode("latin-1"),
    )
    with pytest.raises(ValueError) as error:
        load_records(table)
    message = str(error.value)
    assert "latin.csv" in message and "line 3" in message
    assert "'report'" in message and "UTF-8" in message
    assert not isinstance(error.value, UnicodeDecodeError)


def test_non_utf8_header_is_refused(tmp_path):
    table = _write(
        tmp_path / "latin.csv", "image_path,r\xe9port\n".encode("latin-1")
    )
    with pytest.raises(ValueError, match=r"latin.csv, line 1: .*UTF-8"):
        load_records(table)


def test_unclosed_quote_is_an_error_not_a_merged_row(tmp_path):
    table = _write(
        tmp_path / "q.csv",
        "id,image_path,report,Edema\n"
        "q1,a.png,No edema.,0\n"
        'q2,a.png,"Cardiomegaly unterminated.,\n'
        "q3,a.png,Edema.,1\n"
        "q4,a.png,Edema.,1\n",
    )
    with pytest.raises(ValueError, match=r"q.csv, line 3, column 'report'"):
        load_records(table)
    records = load_records(table, on_error="skip")
    assert records["id"] == ["q1", "q3", "q4"]
    assert records["labels"][:, EDEMA].tolist() == [0.0, 1.0, 1.0]


def test_ragged_rows_are_errors(tmp_path, caplog):
    table = _write(
        tmp_path / "r.csv",
        "id,image_path,report,Edema\n"
        "r1,a.png,Edema.,1\n"
        "r2,a.png,Edema.\n"
        "r3,a.png,Edema.,1,1\n"
        "r4,a.png,No edema.,0\n",
    )
    with pytest.raises(ValueError, match=r"r.csv, line 3: 3 cells"):
        load_records(table)
    with caplog.at_level(logging.WARNING, logger="keras_clinclip.data"):
        records = load_records(table, on_error="skip")
    assert records["id"] == ["r1", "r4"]
    assert not np.isnan(records["labels"][:, EDEMA]).any()
    assert "skipped 2 bad row(s)" in caplog.text
    assert "line 3" in caplog.text and "line 4" in caplog.text


def test_multi_line_quoted_reports_still_work(tmp_path):
    table = _write(
        tmp_path / "m.csv",
        'id,image_path,report\nm1,a.png,"FINDINGS: edema.\nIMPRESSION: ""x"""\n'
        'm2,a.png,He said 5" nodule\n',
    )
    records = load_records(table)
    assert records["id"] == ["m1", "m2"]
    assert records["report"][0] == 'FINDINGS: edema.\nIMPRESSION: "x"'
    assert records["report"][1] == 'He said 5" nodule'


def test_duplicate_header_names_are_refused(tmp_path):
    table = _write(tmp_path / "d.csv", "image_path,report,report\na,b,c\n")
    with pytest.raises(ValueError, match=r"d.csv, line 1: .*'report'"):
        load_records(table)


def test_jsonl_bom_and_bad_bytes(tmp_path):
    table = _write(
        tmp_path / "t.jsonl",
        b'\xef\xbb\xbf{"id": "j1", "image_path": "a", "report": "x"}\n'
        b'{"id": "j2", "image_path": "a", "report": "\xff"}\n',
    )
    with pytest.raises(ValueError, match=r"t.jsonl, line 2: .*UTF-8"):
        load_records(table)
    assert load_records(table, on_error="skip")["id"] == ["j1"]


def test_read_rows_gz_and_errors(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"\xef\xbb\xbfa,b\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"t.csv.gz, line 3: 1 cell"):
        read_rows(path)


def test_chexpert_bom_and_ragged_row(tmp_path):
    root = trees.chexpert_tree(tmp_path)
    train = root / "train.csv"
    _write(train, b"\xef\xbb\xbf" + train.read_bytes())
    assert len(chexpert(root, num_negations=1)["id"]) == 3
    lines = train.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].rstrip(b"\r\n").rsplit(b",", 3)[0] + b"\r\n"
    _write(train, b"".join(lines))
    with pytest.raises(ValueError, match=r"train.csv, line 3: "):
        chexpert(root, num_negations=1)


def test_mimic_table_with_unclosed_quote_is_refused(tmp_path):
    root = trees.mimic_tree(tmp_path, image_format="jpg", reports="txt")
    table = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    with gzip.open(table, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    lines[1] = lines[1].replace(b",", b',"', 1)
    with gzip.open(table, "wb") as handle:
        handle.write(b"".join(lines))
    from keras_clinclip.data import mimic_cxr

    with pytest.raises(ValueError, match=r"metadata.csv.gz, line 2, column"):
        mimic_cxr(root)
