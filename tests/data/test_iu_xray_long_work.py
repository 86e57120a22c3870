"""Long data work: progress on stderr, no fork, subsets from the full cache."""

import importlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_clinclip import utils
from keras_clinclip.data import mimic_cxr
from tests.data import trees

iu = importlib.import_module("keras_clinclip.data.iu_xray")

# Long data work in subprocesses: in `make test`, not in `make test-fast`.
pytestmark = [pytest.mark.backend_independent, pytest.mark.slow]

_FORKS = []
os.register_at_fork(before=lambda: _FORKS.append(os.getpid()))


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def _one_updating_line(text, label):
    """The drawings of one progress line: `\\r`-separated, one newline."""
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    drawings = text[:-1].split("\r")[1:]
    assert drawings and all(d.startswith(f"{label}: ") for d in drawings)
    return drawings


def _lines(text):
    """`text` cut after each newline (not at the carriage returns)."""
    return [line + "\n" for line in text.split("\n")[:-1]]


def test_progress_line_draws_on_a_terminal_only():
    terminal = _Terminal()
    with utils.ProgressLine(4, "work", stream=terminal) as bar:
        for _ in range(4):
            bar.update(1)
    drawings = _one_updating_line(terminal.getvalue(), "work")
    assert drawings[-1].startswith("work: 4/4 (100%")
    for stream, enabled in ((io.StringIO(), True), (_Terminal(), False)):
        with utils.ProgressLine(4, "work", enabled, stream=stream) as bar:
            bar.update(4)
        assert stream.getvalue() == ""  # not a terminal, or asked quiet


def _heavy_modules_in_worker(_):
    """Runs in a worker: load the workers' modules, list what came too."""
    importlib.import_module("keras_clinclip.data.iu_xray")
    importlib.import_module("keras_clinclip.reports.prepare")
    heavy = ("keras", "tensorflow", "jax", "torch", "keras_hub")
    return sorted(name for name in heavy if name in sys.modules)


def test_workers_after_a_backend_import_no_backend_and_never_fork():
    assert utils.backend_started()  # keras_clinclip loaded Keras' backend
    before = len(_FORKS)
    with utils.worker_pool(2) as pool:
        loaded = pool.map(_heavy_modules_in_worker, [0, 1])
    assert len(_FORKS) == before, "os.fork() was called"
    assert loaded == [[], []]


def test_render_workers_never_fork_this_process(monkeypatch):
    findings = [[("effusion", "left", None, 0.5)], [], ["nodule"]] * 44
    seeds = list(range(len(findings)))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    before = len(_FORKS)
    two = iu.render_images(
        findings, seeds, image_size=24, workers=2, progress=True
    )
    assert len(_FORKS) == before, "os.fork() was called"
    one = iu.render_images(findings, seeds, image_size=24, workers=1)
    np.testing.assert_array_equal(one, two)
    label = "IU X-ray: rendering images"
    drawings = _one_updating_line(terminal.getvalue(), label)
    assert drawings[-1].startswith(f"{label}: 132/132 (100%")


def test_iu_build_progress_is_one_line_and_quiet_when_asked(
    tmp_path, monkeypatch
):
    rows, _ = iu.read_iu_reports()
    monkeypatch.setattr(iu, "read_iu_reports", lambda: (rows[:5], []))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    kwargs = {"image_size": 24, "num_negations": 1, "cache": False}
    iu.iu_xray(progress=False, **kwargs)
    assert terminal.getvalue() == ""
    iu.iu_xray(**kwargs)
    text = terminal.getvalue()
    rendering, labelling = _lines(text)
    _one_updating_line(rendering, "IU X-ray: rendering images")
    _one_updating_line(labelling, "IU X-ray: labelling reports")


def test_mimic_indexing_progress(tmp_path, monkeypatch):
    root = trees.mimic_tree(tmp_path)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    quiet = mimic_cxr(root, progress=False)
    assert terminal.getvalue() == ""
    shown = mimic_cxr(root)
    assert shown["id"] == quiet["id"]
    indexing, reading = _lines(terminal.getvalue())
    drawings = _one_updating_line(indexing, "MIMIC-CXR: indexing images")
    assert drawings[-1].startswith("MIMIC-CXR: indexing images: ")
    _one_updating_line(reading, "MIMIC-CXR: reading reports")


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


def test_an_unguarded_script_is_not_run_again_in_the_workers(tmp_path):
    # A user's plain script (no `if __name__ == "__main__":`) that loads a
    # backend and then uses our workers: without fork, multiprocessing
    # would re-run the script in every worker (and so call the pool again).
    script = tmp_path / "plain.py"
    script.write_text(
        "import keras\n"
        "from keras_clinclip import utils\n"
        "print('top-level run', flush=True)\n"
        "with utils.worker_pool(2) as pool:\n"
        "    print(pool.map(abs, [-1, 2, -3]), flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("top-level run") == 1, result.stdout
    assert "[1, 2, 3]" in result.stdout
