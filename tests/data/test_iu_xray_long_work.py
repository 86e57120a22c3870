"""IU X-ray builds: progress on stderr, no fork, subsets from the full cache."""

import importlib
import os

import numpy as np
import pytest

iu = importlib.import_module("keras_clinclip.data.iu_xray")

pytestmark = pytest.mark.backend_independent

_FORKS = []
os.register_at_fork(before=lambda: _FORKS.append(os.getpid()))


def test_render_workers_never_fork_this_process(capsys):
    findings = [[("effusion", "left", None, 0.5)], [], ["nodule"]] * 44
    seeds = list(range(len(findings)))
    before = len(_FORKS)
    two = iu.render_images(
        findings, seeds, image_size=24, workers=2, progress=True
    )
    assert len(_FORKS) == before, "os.fork() was called"
    one = iu.render_images(findings, seeds, image_size=24, workers=1)
    np.testing.assert_array_equal(one, two)
    err = capsys.readouterr().err
    assert "IU X-ray: rendering images: 132/132 (100%" in err
    # Not a tty here: a line per tenth of the work, not one per chunk.
    assert 2 <= err.count("rendering images") <= 11


def test_subsets_are_read_from_the_full_cache(tmp_path, monkeypatch):
    rows, _ = iu.read_iu_reports()
    small = rows[:8]  # stands in for the full archive
    monkeypatch.setattr(iu, "read_iu_reports", lambda: (small, []))
    kwargs = {"image_size": 24, "num_negations": 1, "cache_dir": tmp_path}
    full = iu.iu_xray(**kwargs)
    assert full["image"].shape == (8, 24, 24)
    files = sorted(p.name for p in tmp_path.iterdir())

    def fail(*args, **kwargs):
        raise AssertionError("built again instead of reading the full cache")

    monkeypatch.setattr(iu, "render_images", fail)
    monkeypatch.setattr(iu, "_text_columns", fail)
    first = iu.iu_xray(limit=3, **kwargs)
    chosen = iu.iu_xray(ids=[small[5]["id"], small[1]["id"]], **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # no new file
    monkeypatch.undo()
    monkeypatch.setattr(iu, "read_iu_reports", lambda: (small, []))
    for subset, picked in ((first, [0, 1, 2]), (chosen, [1, 5])):
        fresh = iu.iu_xray(
            image_size=24,
            num_negations=1,
            cache=False,
            ids=[small[i]["id"] for i in picked],
        )
        assert subset["id"] == fresh["id"]
        np.testing.assert_array_equal(subset["image"], fresh["image"])
        np.testing.assert_array_equal(subset["labels"], fresh["labels"])
        assert subset["report"] == fresh["report"]
        assert subset["negations"] == fresh["negations"]
        np.testing.assert_array_equal(
            subset["graph_nodes"], fresh["graph_nodes"]
        )
