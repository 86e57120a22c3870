"""`load_source`: the one resolver of dataset names and record files."""

import numpy as np
import pytest

from keras_clinclip.data import sources
from keras_clinclip.data import synthcxr

pytestmark = pytest.mark.backend_independent


def test_synthetic_names_are_synthetic_pairs():
    records = sources.load_source("synthetic:4", image_size=16, seed=3)
    expected = synthcxr.synthetic_pairs(4, seed=3, image_size=32)
    assert records["report"] == expected["report"]
    np.testing.assert_array_equal(records["image"], expected["image"])
    assert len(sources.load_source("synthetic", count=5)["id"]) == 5


def test_files_by_suffix(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("image_path,report,Edema\na.png,Edema.,1\n")
    assert sources.load_source(table)["report"] == ["Edema."]
    saved = tmp_path / "r.npz"
    np.savez(saved, id=["1"], report=["Clear."], labels=np.zeros((1, 14)))
    assert sources.load_source(saved)["id"] == ["1"]
    np.savez(tmp_path / "bad.npz", id=["1"])
    with pytest.raises(KeyError, match="'report'"):
        sources.load_source(tmp_path / "bad.npz")
    with pytest.raises(sources.DatasetSpecError, match="synthetic\\[:N\\]"):
        sources.load_source(tmp_path / "none.csv")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match="unknown file type"):
        sources.load_source(tmp_path / "x.txt")
    with pytest.raises(sources.DatasetSpecError, match="must be a number"):
        sources.load_source("synthetic:many")
