"""`clinclip prepare` on bad input files: nothing lost, nothing merged.

Issue 19, cases 1-4: the output never replaces an input, a CSV row with an
unclosed quote, undecodable bytes or missing/extra cells is an output line
with its `error` (naming the file, line and column) and is counted, and a
UTF-8 byte-order mark does not hide the first column.
"""

import json
import os

import pytest

from keras_clinclip.reports import prepare
from tests.reports.test_prepare import _args as prepare_args

pytestmark = pytest.mark.backend_independent


def _args(**kwargs):
    return prepare_args(no_graph=True, **kwargs)


def _read(path):
    with open(path, encoding="utf-8") as handle:  # strict: valid UTF-8 only
        return [json.loads(line) for line in handle]


def _prepare(tmp_path, data, capsys):
    """Run prepare on a CSV holding `data`: (records, summary line)."""
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=source, out=out)) == 0
    return _read(out), capsys.readouterr().err


@pytest.fixture
def old_output(tmp_path):
    """An input table and an `--output` holding a previous result."""
    source = tmp_path / "in.csv"
    source.write_text(_table(3))
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    return source, out


def _table(n):
    rows = [f"r{i},Mild cardiomegaly number {i}." for i in range(n)]
    return "id,report\n" + "\n".join(rows) + "\n"


def test_out_equal_to_the_input_is_refused(tmp_path, capsys):
    source = tmp_path / "reports.csv"
    source.write_text(_table(300))
    before = source.read_bytes()
    assert prepare.run(_args(reports=source, out=source)) == 2
    assert "--output" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_out_reaching_the_input_through_a_link_is_refused(tmp_path):
    source = tmp_path / "reports.csv"
    source.write_text(_table(5))
    before = source.read_bytes()
    link = tmp_path / "link.jsonl"
    os.symlink(source, link)
    assert prepare.run(_args(reports=source, out=link)) == 2
    other = tmp_path / "sub" / ".." / "reports.csv"
    (tmp_path / "sub").mkdir()
    assert prepare.run(_args(reports=source, out=other)) == 2
    hard = tmp_path / "hard.jsonl"
    os.link(source, hard)
    assert prepare.run(_args(reports=source, out=hard)) == 2
    assert source.read_bytes() == before


def test_output_is_written_to_a_temporary_file_then_renamed(
    tmp_path, monkeypatch, old_output
):
    source, out = old_output
    seen = {}
    real = prepare._work

    def spy(item):
        seen["during"] = out.read_text()
        seen["files"] = sorted(p.name for p in tmp_path.iterdir())
        return real(item)

    monkeypatch.setattr(prepare, "_work", spy)
    assert prepare.run(_args(reports=source, out=out)) == 0
    assert seen["during"] == "previous\n"  # untouched until the rename
    assert len(seen["files"]) == 3  # in.csv, out.jsonl and the temporary
    assert [r["id"] for r in _read(out)] == ["r0", "r1", "r2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.jsonl"]


def test_a_failed_run_leaves_the_old_output_and_no_temporary(
    tmp_path, monkeypatch, old_output
):
    source, out = old_output

    def broken(item):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(prepare, "_work", broken)
    with pytest.raises(RuntimeError):
        prepare.run(_args(reports=source, out=out))
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.jsonl"]


def test_unclosed_quote_is_one_error_row_and_no_row_is_merged(tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text(
        "id,report\n"
        "q1,No acute process.\n"
        'q2,"Cardiomegaly unterminated.\n'
        "q3,Pulmonary edema.\n"
        "q4,Small right pneumothorax.\n"
    )
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=source, out=out)) == 0
    records = {r["id"]: r for r in _read(out)}
    assert sorted(records) == ["q1", "q2", "q3", "q4"]
    error = records["q2"]["error"]
    assert "in.csv" in error and "line 3" in error and "quote" in error
    assert "'report'" in error
    assert records["q3"]["labels"]["Edema"] == 1.0
    assert records["q4"]["labels"]["Pneumothorax"] == 1.0
    assert records["q1"]["labels"]["Edema"] is None
    summary = capsys.readouterr().err
    assert "prepared 4 rows" in summary and "(1 with an error)" in summary


def test_summary_counts_match_the_rows(tmp_path, capsys):
    records, summary = _prepare(
        tmp_path,
        b"id,report\n"
        b"a,No acute process.\n"
        b'b,"Cardiomegaly\n'
        b"c,Edema.,extra cell\n"
        b"d\n"
        b"e,Caf\xe9 effusion.\n"
        b"f,Small effusion.\n",
        capsys,
    )
    assert [r["id"] for r in records] == ["a", "b", "c", "d", "e", "f"]
    errors = [r for r in records if r["error"] is not None]
    assert [r["id"] for r in errors] == ["b", "c", "d", "e"]
    assert "prepared 6 rows" in summary
    assert f"({len(errors)} with an error)" in summary


def test_invalid_utf8_is_a_row_error_and_the_output_stays_valid(
    tmp_path, capsys
):
    records, summary = _prepare(  # strict UTF-8 and valid JSON per line
        tmp_path,
        b"id,report\n"
        b"u1,No acute process.\n"
        b"u2,Mild cardiomegaly \xff\xfe here.\n"
        b"u3,Small left effusion.\n",
        capsys,
    )
    assert [r["id"] for r in records] == ["u1", "u2", "u3"]
    error = records[1]["error"]
    assert "line 3" in error and "'report'" in error and "UTF-8" in error
    assert "labels" not in records[1]
    assert records[2]["error"] is None
    assert "(1 with an error)" in summary


def test_bom_keeps_the_id_column(tmp_path):
    source = tmp_path / "excel.csv"
    source.write_bytes(
        b"\xef\xbb\xbfid,report\r\nA7,Mild edema.\r\nB9,No effusion.\r\n"
    )
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=source, out=out)) == 0
    assert [r["id"] for r in _read(out)] == ["A7", "B9"]


def test_missing_and_extra_cells_are_row_errors(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(
        "id,report,site\nm1,Edema.,x\nm2,Edema.\nm3,Edema.,x,y\nm4,Edema.,z\n"
    )
    out = tmp_path / "out.jsonl"
    assert prepare.run(_args(reports=source, out=out)) == 0
    records = {r["id"]: r["error"] for r in _read(out)}
    assert records["m1"] is None and records["m4"] is None
    assert "line 3" in records["m2"] and "2 cells" in records["m2"]
    assert "line 4" in records["m3"] and "4 cells" in records["m3"]


def test_non_utf8_header_is_refused_naming_the_file(tmp_path, capsys):
    source = tmp_path / "latin1.csv"
    source.write_bytes("id,r\xe9port\n1,x\n".encode("latin-1"))
    assert prepare.run(_args(reports=source, out=tmp_path / "o.jsonl")) == 2
    error = capsys.readouterr().err
    assert "latin1.csv" in error and "line 1" in error and "UTF-8" in error
    assert not (tmp_path / "o.jsonl").exists()
