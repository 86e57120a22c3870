"""Every ```python block of README.md and docs/*.md runs as written.

The blocks of one file run in order in one namespace (a page may build on
its earlier blocks), in a fresh process per file, on each backend, from a
scratch working directory. A block that cannot run anywhere (it needs the
user's own MIMIC-CXR copy, say) must not be fenced as ```python.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(text):
    """The ```python blocks of a Markdown text, in order."""
    return [textwrap.dedent(block) for block in FENCE.findall(text)]


@pytest.mark.backend_independent
def test_python_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x\n"]


# Pages whose examples must run without a warning or error line (issue 25):
# the README's is the first thing a user runs.
QUIET_PAGES = {"README.md"}
# A warning or an error of Python, absl/TensorFlow's C++ logs ("W0000 ...",
# "E0000 ...", "I0000 ..."), a traceback.
NOISE = re.compile(
    r"warn|error|traceback|exception|^[IWEF]\d{4} |absl|cuda|onednn", re.I
)


def noise_lines(text):
    """The lines of a run's output that a user would have to ignore."""
    return [
        line for line in text.splitlines(keepends=True) if NOISE.search(line)
    ]


@pytest.mark.backend_independent
def test_noise_lines_are_found():
    text = (
        "SoftLabelContrastive: soft-target sources from the batch: text.\n"
        "I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\n"
        "x.py:74: UserWarning: `shuffle=True` was passed\n"
        "1/2 - loss: 7.4\n"
    )
    assert len(noise_lines(text)) == 2


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p.read_text())]
# Pages whose examples compute nothing with Keras (pure Python): once.
PURE_PAGES = {"reports.md"}


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(
            p,
            id=p.name,
            # Whole pages, a process each: in `make test`, not in
            # `make test-fast`.
            marks=[pytest.mark.slow]
            + (
                [pytest.mark.backend_independent]
                if p.name in PURE_PAGES
                else []
            ),
        )
        for p in PAGES_WITH_CODE
    ],
)
def test_page_examples_run(page, tmp_path):
    blocks = python_blocks(page.read_text())
    program = "\n\n".join(
        f"# --- block {i + 1} of {page.name}\n{block}"
        for i, block in enumerate(blocks)
    )
    script = tmp_path / "page.py"
    script.write_text(program)
    env = dict(
        os.environ,
        KERAS_BACKEND=keras.backend.backend(),
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(
            p for p in (os.environ.get("PYTHONPATH"),) if p
        ),
    )
    env.pop("PYTHONPATH") if not env["PYTHONPATH"] else None
    if page.name in QUIET_PAGES:
        # As a user runs it: not with the suite's C++ log level (conftest).
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"{page.name}: an example failed\n" + result.stderr[-4000:]
    )
    if page.name in QUIET_PAGES:
        noise = noise_lines(result.stdout + result.stderr)
        assert not noise, f"{page.name}: a user would see\n" + "".join(noise)
