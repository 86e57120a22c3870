"""Pure-numpy metrics: AUROC, AUPRC, operating points, calibration, CIs.

Nothing here imports Keras: every function takes numpy arrays (or
anything `np.asarray` accepts) and returns numpy values, so the metrics can
be checked by hand and reused on embeddings from any framework. One module
per job, each with its sibling test in `tests/evaluation/metrics/`:

- `metrics.classification`: `rankdata`, `auroc`, `roc_curve`,
  `binarize_labels` (CheXpert 1/0/-1/NaN to 0/1 and a mask),
  `multilabel_auroc`;
- `metrics.bootstrap`: `bootstrap_ci`, `estimate_with_ci`,
  `percentile_interval`;
- `metrics.ranking`: `first_relevant_ranks`, `recall_at_k`;
- `metrics.clinical`: `auprc`, `confusion_at`, `youden_threshold`,
  `threshold_at_specificity`, `reliability_curve`,
  `expected_calibration_error`, `clinical_metrics`.

Every name is also importable from `keras_clinclip.evaluation.metrics`.

Conventions:
- A metric that is undefined (an AUROC with no positive or no negative
  example) is `NaN` and a `UserWarning` says why; it never raises.
- Ties count half in AUROC (the Mann-Whitney convention), and
  pessimistically in retrieval ranks (see `first_relevant_ranks`).
- Bootstrap intervals are percentile intervals over resampled examples,
  seeded, and drop the resamples where the metric is undefined.

Example:
>>> from keras_clinclip.evaluation import metrics
>>> metrics.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
"""

from keras_clinclip.evaluation.metrics.bootstrap import bootstrap_ci
from keras_clinclip.evaluation.metrics.bootstrap import estimate_with_ci
from keras_clinclip.evaluation.metrics.bootstrap import percentile_interval
from keras_clinclip.evaluation.metrics.classification import NEGATIVE
from keras_clinclip.evaluation.metrics.classification import POSITIVE
from keras_clinclip.evaluation.metrics.classification import UNCERTAIN
from keras_clinclip.evaluation.metrics.classification import auroc
from keras_clinclip.evaluation.metrics.classification import binarize_labels
from keras_clinclip.evaluation.metrics.classification import multilabel_auroc
from keras_clinclip.evaluation.metrics.classification import rankdata
from keras_clinclip.evaluation.metrics.classification import roc_curve
from keras_clinclip.evaluation.metrics.clinical import auprc
from keras_clinclip.evaluation.metrics.clinical import clinical_metrics
from keras_clinclip.evaluation.metrics.clinical import confusion_at
from keras_clinclip.evaluation.metrics.clinical import (
    expected_calibration_error,
)
from keras_clinclip.evaluation.metrics.clinical import reliability_curve
from keras_clinclip.evaluation.metrics.clinical import threshold_at_specificity
from keras_clinclip.evaluation.metrics.clinical import youden_threshold
from keras_clinclip.evaluation.metrics.ranking import first_relevant_ranks
from keras_clinclip.evaluation.metrics.ranking import recall_at_k

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "UNCERTAIN",
    "auprc",
    "auroc",
    "binarize_labels",
    "bootstrap_ci",
    "clinical_metrics",
    "confusion_at",
    "estimate_with_ci",
    "expected_calibration_error",
    "first_relevant_ranks",
    "multilabel_auroc",
    "percentile_interval",
    "rankdata",
    "recall_at_k",
    "reliability_curve",
    "roc_curve",
    "threshold_at_specificity",
    "youden_threshold",
]
