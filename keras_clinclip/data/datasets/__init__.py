"""The field's evaluation datasets, read as their owners distribute them.

One module per dataset; each loader returns the records dict of
`keras_clinclip.data.records` plus `class_names` (the dataset's own L
label names), `class_labels` float32 (N, L) and, where the dataset has
regions, `boxes` (x, y, w, h in the image's pixels), `box_labels` and
`image_hw` (SIIM: `mask_rle` and `decode_rle`; MS-CXR: `phrases`).
`labels` maps them to the CheXpert-14 names (NaN where none maps).
Reports are "" (these datasets have none; CheXpert 5x200 has its
impressions). `splits` holds the published split rules and the seeded
1/10/100 % subsets; `boxes` maps boxes through resize and crop.

`LOADERS` maps a dataset name (as in a dataset string `rsna:ROOT`) to
its loader, called as `loader(root_or_file, **options)`;
`DESCRIPTIONS` gives each a one-line description.

Example:
>>> from keras_clinclip.data.datasets import LOADERS
>>> sorted(LOADERS)[:3]
['chestxray14', 'chexpert-5x200', 'chexpert-test']
"""

from keras_clinclip.data.datasets import splits
from keras_clinclip.data.datasets.boxes import boxes_to_mask
from keras_clinclip.data.datasets.boxes import resize_boxes
from keras_clinclip.data.datasets.chestxray14 import chestxray14
from keras_clinclip.data.datasets.chexpert_eval import build_chexpert_5x200
from keras_clinclip.data.datasets.chexpert_eval import chexpert_5x200
from keras_clinclip.data.datasets.chexpert_eval import chexpert_test
from keras_clinclip.data.datasets.chexpert_eval import chexpert_valid
from keras_clinclip.data.datasets.covidx import covidx
from keras_clinclip.data.datasets.ms_cxr import exclude_patients
from keras_clinclip.data.datasets.ms_cxr import ms_cxr
from keras_clinclip.data.datasets.rsna import rsna
from keras_clinclip.data.datasets.siim import decode_rle
from keras_clinclip.data.datasets.siim import siim
from keras_clinclip.data.datasets.vindr import vindr

LOADERS = {
    "rsna": rsna,
    "siim": siim,
    "vindr": vindr,
    "chestxray14": chestxray14,
    "ms-cxr": ms_cxr,
    "covidx": covidx,
    "chexpert-5x200": chexpert_5x200,
    "chexpert-test": chexpert_test,
    "chexpert-valid": chexpert_valid,
}

DESCRIPTIONS = {
    "rsna": "RSNA Pneumonia (Kaggle stage 2): boxes, GLoRIA's split",
    "siim": "SIIM-ACR Pneumothorax (Kaggle stage 1 or 2): RLE masks",
    "vindr": "VinDr-CXR (PhysioNet or Kaggle form): every reader's boxes",
    "chestxray14": "NIH ChestX-ray14: official lists, 984 boxes",
    "ms-cxr": "MS-CXR phrase boxes over a MIMIC-CXR-JPG root",
    "covidx": "COVIDx CXR: train/test_COVIDx*.txt lists",
    "chexpert-5x200": "CheXpert 5x200: GLoRIA's chexpert_5x200.csv",
    "chexpert-test": "CheXpert 500-study test set, joined on Study",
    "chexpert-valid": "CheXpert valid.csv with U-Ones (uncertain='zeros')",
}

__all__ = [
    "DESCRIPTIONS",
    "LOADERS",
    "boxes_to_mask",
    "build_chexpert_5x200",
    "chestxray14",
    "chexpert_5x200",
    "chexpert_test",
    "chexpert_valid",
    "covidx",
    "decode_rle",
    "exclude_patients",
    "ms_cxr",
    "resize_boxes",
    "rsna",
    "siim",
    "splits",
    "vindr",
]
