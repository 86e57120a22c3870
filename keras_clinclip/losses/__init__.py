"""Losses: soft-label contrastive, soft-label sigmoid and graph alignment.

Every loss takes the whole batch dicts, `loss(y_true, y_pred)`; compile them
on a `keras_clinclip.models.ContrastiveModel` (see `docs/losses.md`). The
maths lives in pure functions: `losses.targets` (similarity sources and the
soft targets) and `losses.functional` (gather, row losses, chunking); the
classes read and check the batch dicts.
"""

from keras_clinclip.losses.graph_alignment import GraphAlignment
from keras_clinclip.losses.soft_label_contrastive import SoftLabelContrastive
from keras_clinclip.losses.soft_label_sigmoid import SoftLabelSigmoid
from keras_clinclip.losses.targets import soft_targets

__all__ = [
    "GraphAlignment",
    "SoftLabelContrastive",
    "SoftLabelSigmoid",
    "soft_targets",
]
