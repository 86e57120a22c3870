"""Tiny dataset trees in the published layouts, built on the fly."""

import csv
import gzip
import pathlib
import shutil
import zipfile

import numpy as np
from PIL import Image

from keras_clinclip.reports import CHEXPERT_OBSERVATIONS as OBSERVATIONS


def write_image(path, seed=0, size=(40, 48), fmt=None):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size, dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)
    return path


def write_csv_gz(path, header, rows):
    with gzip.open(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# MIMIC-CXR: two patients, three studies.
MIMIC_STUDIES = [
    # subject, study, [(dicom_id, view)], split, report
    (
        "p10000032",
        "s50414267",
        [("d1", "PA"), ("d2", "LATERAL")],
        "train",
        "INDICATION: cough. FINDINGS: There is a small left pleural effusion."
        " IMPRESSION: Left effusion.",
    ),
    (
        "p10000032",
        "s53189527",
        [("d3", "LATERAL"), ("d4", "AP")],
        "test",
        "FINDINGS: No pneumothorax. IMPRESSION: No acute process.",
    ),
    (
        "p11000011",
        "s51000001",
        [("d5", "LL")],
        "train",
        "FINDINGS: Lateral only. IMPRESSION: Normal.",
    ),
]


def mimic_tree(root, image_format="jpg", reports="zip"):
    root = pathlib.Path(root)
    metadata, split, labels = [], [], []
    files = {}
    for k, (subject, study, images, part, report) in enumerate(MIMIC_STUDIES):
        folder = root / "files" / f"p{subject[1:3]}" / subject / study
        for j, (dicom_id, view) in enumerate(images):
            if image_format == "jpg":
                write_image(folder / f"{dicom_id}.jpg", seed=k * 10 + j)
            else:
                import pydicom
                from pydicom.data import get_testdata_file

                # The real radiograph, its ViewPosition set to the view.
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / f"{dicom_id}.dcm"
                shutil.copy(get_testdata_file("RG1_UNCR.dcm"), target)
                dataset = pydicom.dcmread(target)
                dataset.ViewPosition = view
                dataset.save_as(target)
            metadata.append([dicom_id, subject[1:], study[1:], view])
            split.append([dicom_id, study[1:], subject[1:], part])
        row = ["" for _ in OBSERVATIONS]
        if "effusion" in report:
            row[OBSERVATIONS.index("Pleural Effusion")] = "1.0"
        row[OBSERVATIONS.index("Pneumothorax")] = "0.0"
        labels.append([subject[1:], study[1:], *row])
        files[f"files/p{subject[1:3]}/{subject}/{study}.txt"] = report
    if image_format == "jpg":
        write_csv_gz(
            root / "mimic-cxr-2.0.0-metadata.csv.gz",
            ["dicom_id", "subject_id", "study_id", "ViewPosition"],
            metadata,
        )
    write_csv_gz(
        root / "mimic-cxr-2.0.0-split.csv.gz",
        ["dicom_id", "study_id", "subject_id", "split"],
        split,
    )
    write_csv_gz(
        root / "mimic-cxr-2.0.0-chexpert.csv.gz",
        ["subject_id", "study_id", *OBSERVATIONS],
        labels,
    )
    if reports == "zip":
        with zipfile.ZipFile(root / "mimic-cxr-reports.zip", "w") as archive:
            for name, text in files.items():
                archive.writestr(name, text)
    else:
        for name, text in files.items():
            (root / name).write_text(text)
    return root


def chexpert_tree(root):
    root = pathlib.Path(root) / "CheXpert-v1.0-small"
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *OBSERVATIONS]
    train = [
        (
            "train/patient00001/study1/view1_frontal.jpg",
            "Frontal",
            {"Pleural Effusion": "1.0", "Pneumothorax": "0.0"},
        ),
        (
            "train/patient00001/study1/view2_lateral.jpg",
            "Lateral",
            {"Pleural Effusion": "1.0"},
        ),
        (
            "train/patient00002/study1/view1_frontal.jpg",
            "Frontal",
            {"No Finding": "1.0"},
        ),
    ]
    valid = [
        (
            "valid/patient64541/study1/view1_frontal.jpg",
            "Frontal",
            {"Cardiomegaly": "-1.0", "Edema": "1.0"},
        ),
    ]
    for name, rows in (("train.csv", train), ("valid.csv", valid)):
        out = []
        for k, (relative, view, labels) in enumerate(rows):
            write_image(root / relative, seed=k)
            out.append(
                [f"CheXpert-v1.0-small/{relative}", "Female", "60", view, "AP"]
                + [labels.get(o, "") for o in OBSERVATIONS]
            )
        root.mkdir(parents=True, exist_ok=True)
        with open(root / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(out)
    return root
