"""Models: ClinCLIPBackbone, preprocessor, tasks, ContrastiveModel."""

from keras_clinclip.models.clinclip_backbone import ClinCLIPBackbone
from keras_clinclip.models.clinclip_batch_encoder import encode_images
from keras_clinclip.models.clinclip_batch_encoder import encode_texts
from keras_clinclip.models.clinclip_graph_encoder import ClinCLIPGraphEncoder
from keras_clinclip.models.clinclip_image_classifier import (
    ClinCLIPImageClassifier,
)
from keras_clinclip.models.clinclip_image_classifier_preprocessor import (
    ClinCLIPImageClassifierPreprocessor,
)
from keras_clinclip.models.clinclip_image_converter import (
    ClinCLIPImageConverter,
)
from keras_clinclip.models.clinclip_model_card import read_model_card
from keras_clinclip.models.clinclip_optimizer import build_optimizer
from keras_clinclip.models.clinclip_preprocessor import ClinCLIPPreprocessor
from keras_clinclip.models.clinclip_pretrainer import ClinCLIPPretrainer
from keras_clinclip.models.clinclip_prompts import load_prompts
from keras_clinclip.models.clinclip_prompts import prompt_pairs
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_backbone
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_image_encoder
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_preprocessor
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_text_encoder
from keras_clinclip.models.clinclip_tiny import tiny_clinclip_tokenizer
from keras_clinclip.models.clinclip_tokenizer import ClinCLIPTokenizer
from keras_clinclip.models.clinclip_towers import clinclip_from_towers
from keras_clinclip.models.clinclip_towers import minilm_text_encoder
from keras_clinclip.models.clinclip_towers import minilm_tokenizer
from keras_clinclip.models.clinclip_towers import small_resnet_image_encoder
from keras_clinclip.models.clinclip_zero_shot_classifier import (
    ClinCLIPZeroShotClassifier,
)
from keras_clinclip.models.contrastive_model import ContrastiveLossMixin
from keras_clinclip.models.contrastive_model import ContrastiveModel
from keras_clinclip.models.minilm_backbone import MiniLMBackbone

__all__ = [
    "ClinCLIPBackbone",
    "ClinCLIPGraphEncoder",
    "ClinCLIPImageClassifier",
    "ClinCLIPImageClassifierPreprocessor",
    "ClinCLIPImageConverter",
    "ClinCLIPPreprocessor",
    "ClinCLIPPretrainer",
    "ClinCLIPTokenizer",
    "ClinCLIPZeroShotClassifier",
    "ContrastiveLossMixin",
    "ContrastiveModel",
    "MiniLMBackbone",
    "build_optimizer",
    "clinclip_from_towers",
    "encode_images",
    "encode_texts",
    "load_prompts",
    "prompt_pairs",
    "minilm_text_encoder",
    "minilm_tokenizer",
    "read_model_card",
    "small_resnet_image_encoder",
    "tiny_clinclip_backbone",
    "tiny_clinclip_image_encoder",
    "tiny_clinclip_preprocessor",
    "tiny_clinclip_text_encoder",
    "tiny_clinclip_tokenizer",
]
