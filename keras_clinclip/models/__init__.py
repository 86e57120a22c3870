"""Models: `ClinCLIPBackbone`, its preprocessor, tasks and `ContrastiveModel`."""

from keras_clinclip.models.contrastive_model import ContrastiveLossMixin
from keras_clinclip.models.contrastive_model import ContrastiveModel
