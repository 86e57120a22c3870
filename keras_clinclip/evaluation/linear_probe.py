"""Deprecated module path: the linear probe lives in `evaluation.probe`.

`keras_clinclip.evaluation.linear_probe` is the function (as documented:
`from keras_clinclip.evaluation import linear_probe`); this module path,
which used to hold it, re-exports `evaluation.probe` for one release.
Import from `keras_clinclip.evaluation.probe` (or
`keras_clinclip.evaluation`) instead.

Example:
>>> from keras_clinclip.evaluation import probe
>>> from keras_clinclip.evaluation.linear_probe import fit_logistic_regression
>>> fit_logistic_regression is probe.fit_logistic_regression
True
"""

from keras_clinclip.evaluation.probe import SKLEARN_FROM
from keras_clinclip.evaluation.probe import fit_logistic_regression
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.probe import logistic_loss
from keras_clinclip.evaluation.probe import predict_logistic_regression

__all__ = [
    "SKLEARN_FROM",
    "fit_logistic_regression",
    "linear_probe",
    "logistic_loss",
    "predict_logistic_regression",
]
