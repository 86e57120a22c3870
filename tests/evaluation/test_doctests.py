"""The `Example:` sections of the evaluation modules run and are right."""

import doctest
import importlib

import pytest

PURE_MODULES = [
    "keras_clinclip.evaluation",
    "keras_clinclip.evaluation.benchmark",
    "keras_clinclip.evaluation.benchmark_report",
    "keras_clinclip.evaluation.calibration",
    "keras_clinclip.evaluation.evaluate",
    "keras_clinclip.evaluation.finding_labels",
    "keras_clinclip.evaluation.metrics",
    "keras_clinclip.evaluation.metrics.bootstrap",
    "keras_clinclip.evaluation.metrics.classification",
    "keras_clinclip.evaluation.metrics.clinical",
    "keras_clinclip.evaluation.metrics.ranking",
    "keras_clinclip.evaluation.metrics_timing",
    "keras_clinclip.evaluation.model_loading",
    "keras_clinclip.evaluation.plots",
    "keras_clinclip.evaluation.pointing",
    "keras_clinclip.evaluation.probe",
    "keras_clinclip.evaluation.region_localization",
    "keras_clinclip.evaluation.report",
    "keras_clinclip.evaluation.report_tables",
    "keras_clinclip.evaluation.retrieval",
    "keras_clinclip.evaluation.zero_shot",
    "keras_clinclip.evaluation.zero_shot_binary",
    "keras_clinclip.evaluation.zero_shot_multiclass",
    "keras_clinclip.models.clinclip_prompts",
]
KERAS_MODULES = [
    "keras_clinclip.evaluation.classify",  # uses the tiny towers
    "keras_clinclip.evaluation.cxr_align",  # uses the tiny preprocessor
    "keras_clinclip.evaluation.embed",
    "keras_clinclip.evaluation.fine_tune",
    "keras_clinclip.evaluation.explain",
    "keras_clinclip.evaluation.similarity_maps",
    "keras_clinclip.evaluation.synthcxr_localization",
    "keras_clinclip.models.clinclip_zero_shot_classifier",
]


def run_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} examples failed in {name}"


@pytest.mark.backend_independent
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_module_examples(name):
    run_doctests(name)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", KERAS_MODULES)
def test_keras_module_examples(name):
    run_doctests(name)
