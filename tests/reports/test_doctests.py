"""The `Example:` sections of keras_clinclip.reports run as written."""

import doctest
import importlib

import pytest

pytestmark = pytest.mark.backend_independent

MODULES = [
    "keras_clinclip.reports",
    "keras_clinclip.reports.sections",
    "keras_clinclip.reports.sentences",
    "keras_clinclip.reports.labeler",
    "keras_clinclip.reports.negation",
    "keras_clinclip.reports.graph",
    "keras_clinclip.reports.knowledge_graph",
    "keras_clinclip.reports.cxr_align_benchmark",
    "keras_clinclip.reports.prepare",
    "keras_clinclip.reports.label_agreement",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
