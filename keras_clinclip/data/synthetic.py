"""Deprecated home of SynthCXR: use `keras_clinclip.data.synthcxr`.

Kept for one release as a re-export. `chexpert_label_table` now lives in
`keras_clinclip.chexpert`; everything else in `keras_clinclip.data.synthcxr`
(`SynthCXR`, `synthetic_pairs`, `sample_chexpert_labels`, `FINDINGS`,
`REGION_FINDINGS`, `Finding`, `normalize_findings`, `lung_masks`, ...).

Example:
>>> from keras_clinclip.data import synthcxr, synthetic
>>> synthetic.SynthCXR is synthcxr.SynthCXR
True
"""

from keras_clinclip.chexpert import chexpert_label_table
from keras_clinclip.data.synthcxr import FALLBACK_FREQUENCIES
from keras_clinclip.data.synthcxr import FINDINGS
from keras_clinclip.data.synthcxr import REGION_FINDINGS
from keras_clinclip.data.synthcxr import RENDERER_VERSION
from keras_clinclip.data.synthcxr import SIDES
from keras_clinclip.data.synthcxr import ZONES
from keras_clinclip.data.synthcxr import Finding
from keras_clinclip.data.synthcxr import SynthCXR
from keras_clinclip.data.synthcxr import lung_masks
from keras_clinclip.data.synthcxr import normalize_findings
from keras_clinclip.data.synthcxr import sample_chexpert_labels
from keras_clinclip.data.synthcxr import synthetic_pairs

__all__ = [
    "FALLBACK_FREQUENCIES",
    "FINDINGS",
    "Finding",
    "REGION_FINDINGS",
    "RENDERER_VERSION",
    "SIDES",
    "SynthCXR",
    "ZONES",
    "chexpert_label_table",
    "lung_masks",
    "normalize_findings",
    "sample_chexpert_labels",
    "synthetic_pairs",
]
