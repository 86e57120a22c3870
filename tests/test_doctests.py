"""The `Example:` sections of every other module run as written.

The report toolkit and the evaluation modules have their own doctest tests
(`tests/reports`, `tests/evaluation`); this covers the rest of the package
(losses, layers, models, data, training, utils...) on each backend.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import keras_clinclip

COVERED_ELSEWHERE = (
    "keras_clinclip.reports",
    "keras_clinclip.evaluation",
    "keras_clinclip.models.clinclip_prompts",
    "keras_clinclip.models.clinclip_zero_shot_classifier",
)


def _modules():
    names = []
    for info in pkgutil.walk_packages(
        keras_clinclip.__path__, prefix="keras_clinclip."
    ):
        name = info.name
        if name.endswith("__main__") or name.startswith(COVERED_ELSEWHERE):
            continue
        names.append(name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_packages():
    for name in (
        "keras_clinclip.losses.soft_label_contrastive",
        "keras_clinclip.models.clinclip_backbone",
        "keras_clinclip.data.pipeline",
        "keras_clinclip.training.fit_loop",
    ):
        assert name in MODULES


PUBLIC_PACKAGES = (
    "keras_clinclip.losses",
    "keras_clinclip.layers",
    "keras_clinclip.models",
    "keras_clinclip.data",
    "keras_clinclip.reports",
    "keras_clinclip.evaluation",
    "keras_clinclip.training",
    "keras_clinclip.utils",
    "keras_clinclip.chexpert",
    "keras_clinclip.backend",
    "keras_clinclip.backend.keras_compat",
    "keras_clinclip.backend.collectives",
    "keras_clinclip.backend.engines",
)


def test_every_exported_class_and_function_has_an_example():
    missing, seen = [], 0
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        names = getattr(module, "__all__", None) or [
            n for n in vars(module) if not n.startswith("_")
        ]
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not obj.__module__.startswith("keras_clinclip"):
                continue
            seen += 1
            if ">>>" not in (inspect.getdoc(obj) or ""):
                missing.append(f"{package}.{name}")
    assert seen > 50, seen
    assert not missing, f"no `Example:` with >>> in: {missing}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0, f"{result.failed} examples failed in {name}"
