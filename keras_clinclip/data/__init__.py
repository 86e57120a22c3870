"""keras_clinclip.data: datasets and the tf.data pipeline.

- `SynthCXR`: a deterministic renderer of chest-radiograph-like images.
- `synthetic_pairs(n, seed)`: template reports + SynthCXR images.
- `iu_xray(...)`: the real IU X-ray reports + SynthCXR images rendered
  from their MeSH tags (the embedded default dataset).
- Loaders of users' data: `mimic_cxr`, `chexpert`, `load_records`
  (CSV/JSONL).
- `make_dataset(records, preprocessor, ...)`: the `tf.data` pipeline,
  with its `NegationOptions` and `PipelineOptions`.
- `datasets`: the field's evaluation datasets as distributed (RSNA,
  SIIM-ACR, CheXpert 5x200/test/valid, VinDr-CXR, ChestX-ray14, MS-CXR,
  COVIDx), with their regions and published splits (`datasets.LOADERS`).

Every loader returns a records dict of columns (see
`docs/architecture.md`).

Example:
>>> from keras_clinclip.data import synthetic_pairs
>>> synthetic_pairs(2, image_size=32)["image"].shape
(2, 32, 32)
"""

from keras_clinclip.data import datasets
from keras_clinclip.data.augment import DEFAULT_AUGMENTATION
from keras_clinclip.data.chexpert_dataset import chexpert
from keras_clinclip.data.csv import load_records
from keras_clinclip.data.error_log import ErrorLog
from keras_clinclip.data.images import ImageDecodeError
from keras_clinclip.data.images import decode_image
from keras_clinclip.data.iu_xray import iu_xray
from keras_clinclip.data.iu_xray import mesh_to_findings
from keras_clinclip.data.iu_xray import read_iu_reports
from keras_clinclip.data.mimic_cxr import mimic_cxr
from keras_clinclip.data.negation_options import NegationOptions
from keras_clinclip.data.pipeline import make_dataset
from keras_clinclip.data.pipeline_options import PipelineOptions
from keras_clinclip.data.records import select
from keras_clinclip.data.records import validate_records
from keras_clinclip.data.sharding import dataset_options
from keras_clinclip.data.synthcxr import FINDINGS
from keras_clinclip.data.synthcxr import RENDERER_VERSION
from keras_clinclip.data.synthcxr import SynthCXR
from keras_clinclip.data.synthcxr import sample_chexpert_labels
from keras_clinclip.data.synthcxr import synthetic_pairs
from keras_clinclip.data.templates import labels_to_report
from keras_clinclip.tables import hash_split

__all__ = [
    "DEFAULT_AUGMENTATION",
    "ErrorLog",
    "FINDINGS",
    "ImageDecodeError",
    "NegationOptions",
    "PipelineOptions",
    "RENDERER_VERSION",
    "SynthCXR",
    "chexpert",
    "dataset_options",
    "datasets",
    "decode_image",
    "hash_split",
    "iu_xray",
    "labels_to_report",
    "load_records",
    "make_dataset",
    "mesh_to_findings",
    "mimic_cxr",
    "read_iu_reports",
    "sample_chexpert_labels",
    "select",
    "synthetic_pairs",
    "validate_records",
]
