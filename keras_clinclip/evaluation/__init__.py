"""Evaluation: zero-shot, retrieval, CXR-Align, linear probe, plots, reports.

The metrics are pure numpy functions of embeddings (testable without a
model); thin wrappers embed images and texts with a `ClinCLIPBackbone` and
its preprocessor. matplotlib is needed only for the plots. The modules,
one job each, are listed in docs/evaluation.md ("Where things live").

Example:
>>> import numpy as np
>>> from keras_clinclip import evaluation
>>> evaluation.auroc([0, 1], [0.2, 0.7])
1.0
"""

from keras_clinclip.evaluation.cxr_align import DEFAULT_TASKS
from keras_clinclip.evaluation.cxr_align import cxr_align_scores
from keras_clinclip.evaluation.cxr_align import evaluate_cxr_align
from keras_clinclip.evaluation.cxr_align import flatten_cxr_align
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.evaluate import cxr_align_from_records
from keras_clinclip.evaluation.evaluate import evaluate_records
from keras_clinclip.evaluation.evaluate import select_split
from keras_clinclip.evaluation.evaluation_options import EvaluationOptions
from keras_clinclip.evaluation.metrics import auprc
from keras_clinclip.evaluation.metrics import auroc
from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import bootstrap_ci
from keras_clinclip.evaluation.metrics import clinical_metrics
from keras_clinclip.evaluation.metrics import confusion_at
from keras_clinclip.evaluation.metrics import expected_calibration_error
from keras_clinclip.evaluation.metrics import first_relevant_ranks
from keras_clinclip.evaluation.metrics import multilabel_auroc
from keras_clinclip.evaluation.metrics import rankdata
from keras_clinclip.evaluation.metrics import recall_at_k
from keras_clinclip.evaluation.metrics import reliability_curve
from keras_clinclip.evaluation.metrics import roc_curve
from keras_clinclip.evaluation.metrics import threshold_at_specificity
from keras_clinclip.evaluation.metrics import youden_threshold
from keras_clinclip.evaluation.pointing import mass_inside
from keras_clinclip.evaluation.pointing import pointing_game
from keras_clinclip.evaluation.probe import fit_logistic_regression
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.probe import predict_logistic_regression
from keras_clinclip.evaluation.report import write_report
from keras_clinclip.evaluation.report_options import ReportOptions
from keras_clinclip.evaluation.report_tables import format_cxr_align_table
from keras_clinclip.evaluation.report_tables import format_linear_probe_table
from keras_clinclip.evaluation.report_tables import format_retrieval_table
from keras_clinclip.evaluation.report_tables import format_zero_shot_table
from keras_clinclip.evaluation.retrieval import cosine_similarity
from keras_clinclip.evaluation.retrieval import group_identical_texts
from keras_clinclip.evaluation.retrieval import l2_normalize
from keras_clinclip.evaluation.retrieval import relevance_matrix
from keras_clinclip.evaluation.retrieval import retrieval_metrics
from keras_clinclip.evaluation.similarity_maps import localization_maps
from keras_clinclip.evaluation.synthcxr_localization import (
    evaluate_localization,
)
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot import zero_shot_evaluate
from keras_clinclip.evaluation.zero_shot import zero_shot_scores
from keras_clinclip.models.clinclip_prompts import ensemble_prompt_embeddings

__all__ = [
    "DEFAULT_TASKS",
    "EvaluationOptions",
    "ReportOptions",
    "auprc",
    "auroc",
    "binarize_labels",
    "bootstrap_ci",
    "clinical_metrics",
    "confusion_at",
    "cosine_similarity",
    "cxr_align_from_records",
    "cxr_align_scores",
    "embed_images",
    "embed_prompt_pairs",
    "embed_texts",
    "ensemble_prompt_embeddings",
    "evaluate_cxr_align",
    "evaluate_localization",
    "evaluate_records",
    "expected_calibration_error",
    "first_relevant_ranks",
    "fit_logistic_regression",
    "flatten_cxr_align",
    "format_cxr_align_table",
    "format_linear_probe_table",
    "format_retrieval_table",
    "format_zero_shot_table",
    "group_identical_texts",
    "l2_normalize",
    "linear_probe",
    "localization_maps",
    "mass_inside",
    "multilabel_auroc",
    "pointing_game",
    "predict_logistic_regression",
    "rankdata",
    "recall_at_k",
    "relevance_matrix",
    "reliability_curve",
    "retrieval_metrics",
    "roc_curve",
    "select_split",
    "threshold_at_specificity",
    "write_report",
    "youden_threshold",
    "zero_shot_evaluate",
    "zero_shot_scores",
]
