"""The ablation table's aggregation (the runs themselves are the recipe's)."""

import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.backend_independent

_PATH = pathlib.Path(__file__).parents[2] / "recipes" / "ablation.py"
_SPEC = importlib.util.spec_from_file_location("ablation", _PATH)
ablation = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ablation)


def test_mean_sd_skips_missing_values():
    mean, sd = ablation.mean_sd([0.5, None, 0.7])
    assert mean == pytest.approx(0.6)
    assert sd == pytest.approx(0.02**0.5)
    assert ablation.mean_sd([None]) == (None, None)
    assert ablation.mean_sd([0.25]) == (0.25, None)


def test_table_has_a_row_per_preset_and_a_cell_per_column():
    rows = {
        "clip": [{"CXR-Align Task A": 0.5}, {"CXR-Align Task A": 0.7}],
        "full": [{"CXR-Align Task A": 0.9, "R@5 i2t": 0.2}],
    }
    lines = ablation.table(rows).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| CLIP | 0.600 ± 0.141 | n/a")
    assert lines[3].startswith("| N,G-D_(t+c+g) | 0.900 | n/a | n/a | 0.200")
    assert all(line.count("|") == len(ablation.COLUMNS) + 2 for line in lines)
