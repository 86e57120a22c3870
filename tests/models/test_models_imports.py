"""The models package imports one way: the Task imports the backbone.

Every import of a `keras_clinclip.models` module by another, at the top of
a module or inside a function, is an edge; the graph must have no cycle,
and the backbone must not reach the Task, the preprocessing classes (whose
`backbone_cls` is the backbone) or the zero-shot classifier.
"""

import ast
import pathlib

import pytest

import keras_clinclip.models as models

PACKAGE = "keras_clinclip.models"
FOLDER = pathlib.Path(models.__file__).parent


def _edges():
    edges = {}
    for path in FOLDER.glob("*.py"):
        if path.stem == "__init__":
            continue
        name = f"{PACKAGE}.{path.stem}"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == PACKAGE:
                    targets |= {f"{PACKAGE}.{a.name}" for a in node.names}
                elif node.module.startswith(PACKAGE + "."):
                    targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {
                    a.name for a in node.names if a.name.startswith(PACKAGE)
                }
        edges[name] = targets - {name}
    return edges


def _reachable(edges, start):
    seen, todo = set(), [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.mark.backend_independent
def test_no_import_cycle_inside_models():
    edges = _edges()
    assert f"{PACKAGE}.clinclip_backbone" in edges
    cycles = [name for name in edges if name in _reachable(edges, name)]
    assert not cycles, cycles


@pytest.mark.backend_independent
def test_the_backbone_does_not_import_the_task_or_preprocessing():
    reached = _reachable(_edges(), f"{PACKAGE}.clinclip_backbone")
    for stem in (
        "clinclip_pretrainer",
        "clinclip_preprocessor",
        "clinclip_tokenizer",
        "clinclip_image_converter",
        "clinclip_zero_shot_classifier",
    ):
        assert f"{PACKAGE}.{stem}" not in reached


@pytest.mark.backend_independent
def test_read_safetensors_is_private():
    assert "read_safetensors" not in models.__all__
    assert callable(models.clinclip_towers._read_safetensors)
    with pytest.raises(AttributeError):
        models.read_safetensors  # noqa: B018
