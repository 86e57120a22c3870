"""Dataset strings (`mimic-cxr:ROOT?...`, `chexpert:ROOT`, a user's CSV)
resolved by `sources.load_source` on the official-layout look-alikes, and
the text side prepared once (`prepared_text`)."""

import json

import numpy as np
import pytest

from keras_clinclip.data import prepared_text
from keras_clinclip.data import sources
from keras_clinclip.reports import prepare
from tests.data import lookalikes

pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lookalikes")
    return {
        "mimic": lookalikes.write_mimic_cxr(folder / "mimic", 30),
        "chexpert": lookalikes.write_chexpert(folder, 10),
        "csv": lookalikes.write_reports_table(folder / "user", 12),
    }


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CLINCLIP_CACHE", str(tmp_path / "cache"))


def test_bad_strings_are_one_line_errors(tmp_path):
    with pytest.raises(sources.DatasetSpecError) as error:
        sources.check_spec("mimic:/data")
    assert "unknown dataset 'mimic'" in str(error.value)
    assert "mimic-cxr:ROOT, chexpert:ROOT" in str(error.value)
    with pytest.raises(sources.DatasetSpecError, match="no folder"):
        sources.check_spec(f"chexpert:{tmp_path}/absent")
    with pytest.raises(sources.DatasetSpecError, match="accepted: views"):
        sources.check_spec(f"mimic-cxr:{tmp_path}?view=PA")
    with pytest.raises(sources.DatasetSpecError, match="not key=value"):
        sources.check_spec(f"mimic-cxr:{tmp_path}?views")
    for error in ("unknown dataset", "no folder", "accepted"):
        assert "\n" not in error


def test_mimic_cxr_official_layout_and_options(trees, capsys):
    root = trees["mimic"]
    records = sources.load_source(f"mimic-cxr:{root}", num_negations=1)
    assert "image" not in records  # paths, never decoded images
    assert len(records["id"]) == 30  # one frontal image per study
    assert set(records["view"]) == {"PA", "AP"}
    assert all(p.endswith(".jpg") for p in records["image_path"])
    # The look-alike labels its 15 template studies in the CheXpert table
    # but leaves the 20th study out of it; those and the 15 IU-text
    # studies (blank rows) get the labeler's labels.
    line = capsys.readouterr().err
    assert "14 studies from the table, 16 from the labeler" in line
    assert not np.isnan(records["labels"]).all(axis=1).any()
    graphs = records["graphs"].dense()  # kept compact in the records
    nodes, adjacency = graphs["graph_nodes"], graphs["graph_adjacency"]
    assert nodes.shape[:2] == adjacency.shape[:2]
    assert any(records["negations"])
    test = sources.load_source(
        f"mimic-cxr:{root}?split=test&images=all&views=PA,AP,LATERAL"
        "&labels=labeler"
    )
    assert set(test["split"]) == {"test"}
    assert "LATERAL" in test["view"]
    assert len(test["id"]) == 2 * len(set(test["id"]))
    assert "0 studies from the table" in capsys.readouterr().err


def test_chexpert_official_layout(trees):
    records = sources.load_source(f"chexpert:{trees['chexpert']}")
    assert len(records["id"]) == 10  # frontal views only
    assert records["split"].count("validate") == 2
    assert all(p.endswith("_frontal.jpg") for p in records["image_path"])
    every = sources.load_source(
        f"chexpert:{trees['chexpert']}?views=all&split=validate"
    )
    assert len(every["id"]) == 4


def test_users_csv_gets_labels_negations_and_graphs(trees, tmp_path):
    records = sources.load_source(str(trees["csv"]))
    assert not np.isnan(records["labels"]).all()
    valid = [i for i, v in enumerate(records["negations"]) if v]
    assert valid
    for i in valid:
        finding = records["negated_findings"][i][0]
        column = prepare.CHEXPERT_OBSERVATIONS.index(finding)
        assert records["labels"][i, column] == 1.0
        assert records["negation_labels"][i, 0, column] == 0.0
    mask = records["graphs"].dense()["graph_node_mask"]
    assert mask.sum(axis=1).min() >= 1
    # Labels in the table win over the labeler's.
    text = trees["csv"].read_text().splitlines()
    table = tmp_path / "labelled.csv"
    lines = [text[0] + ",Edema"] + [line + ",0" for line in text[1:]]
    table.write_text("\n".join(lines) + "\n")
    own = sources.load_source(
        f"{table}?image_root={trees['csv'].parent}", graphs=False
    )
    assert (own["labels"][:, 5] == 0.0).all()
    assert "graphs" not in own
    assert own["image_path"] == records["image_path"]


def test_second_run_reuses_prepared_text_and_resumes(trees, monkeypatch):
    calls = []
    work = prepared_text.study_text_columns

    def counted(*args, **kwargs):
        calls.append(args[0])
        return work(*args, **kwargs)

    monkeypatch.setattr(prepared_text, "study_text_columns", counted)
    monkeypatch.setattr(prepared_text, "CHUNK", 5)
    monkeypatch.setattr(prepared_text, "WORKERS", 1)  # counted in-process
    first = sources.load_source(str(trees["csv"]))
    assert len(calls) == 12
    calls.clear()
    again = sources.load_source(str(trees["csv"]))
    assert calls == []  # the toolkit is not called again
    assert again["negations"] == first["negations"]
    # Interrupted after the first block: only the rest is prepared.
    ids, texts = first["id"], first["report"]
    folder = prepared_text.utils.cache_dir(
        "prepared", prepared_text.cache_key(ids, texts, 1)
    )
    (folder / "columns.npz").unlink()
    part = prepared_text.prepare_chunk((ids[:5], texts[:5], 1))
    prepared_text.rec.save_columns(folder / "part_00000.npz", part)
    calls.clear()
    columns, reused = prepared_text.prepare_text(ids, texts, 1, workers=1)
    assert not reused and len(calls) == 7
    np.testing.assert_array_equal(columns["labels"][:5], part["labels"])


def test_prepare_output_is_a_training_table(trees, tmp_path):
    import argparse

    from keras_clinclip.cli import prepare as prepare_options

    parser = argparse.ArgumentParser()
    prepare_options.add_arguments(parser)
    out = tmp_path / "prepared.jsonl"
    args = parser.parse_args(
        ["--reports", str(trees["csv"]), "--output", str(out), "--verbose", "0"]
    )
    assert prepare.run(args) == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert {"id", "image_path", "split"} <= set(row)
    records = sources.load_source(str(out))
    direct = sources.load_source(str(trees["csv"]))
    np.testing.assert_array_equal(records["labels"], direct["labels"])
    assert records["image_path"] == direct["image_path"]
    for key, value in records["graphs"].dense().items():
        np.testing.assert_array_equal(value, direct["graphs"].dense()[key])


def test_cli_bad_dataset_string_is_one_line_exit_2(tmp_path, capsys):
    from keras_clinclip import cli

    argv = ["train", "--dataset", "mimic:/data", "--output-dir", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clinclip train: error: unknown dataset 'mimic'")
    assert "mimic-cxr:ROOT" in err and "\n" not in err
    argv = ["evaluate", "--preset", str(tmp_path), "--data", "chexpert:/no"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "no folder /no" in err and "\n" not in err
