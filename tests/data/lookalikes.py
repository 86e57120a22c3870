"""MIMIC-CXR-JPG and CheXpert look-alikes in the official layouts.

Test and benchmark data only (not the package's API). The trees follow
the published releases:

- MIMIC-CXR-JPG 2.0.0: `files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg`,
  `mimic-cxr-2.0.0-{metadata,chexpert,split}.csv.gz` with the official
  headers, and the reports both as `mimic-cxr-reports.zip`
  (`files/pXX/pSUBJECT/sSTUDY.txt` inside) and as loose
  `files/pXX/pSUBJECT/sSTUDY.txt` (the MIMIC-CXR release's form);
- CheXpert-v1.0-small: `train.csv`/`valid.csv` (official headers, paths
  starting with `CheXpert-v1.0-small/`), `train/patientNNNNN/studyN/
  viewN_frontal.jpg`.

Report texts are the IU X-ray reports (read at run time from
torchxrayvision's NLMCXR_reports.tgz, never written anywhere but the
temporary tree) in MIMIC's section layout, alternating with template
reports written from CheXpert label rows.
"""

import csv
import gzip
import hashlib
import io
import pathlib
import zipfile

import numpy as np
from PIL import Image

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import synthcxr
from keras_clinclip.data import templates
from keras_clinclip.data.iu_xray import read_iu_reports

MIMIC_METADATA = [
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
]
# The label columns of mimic-cxr-2.0.0-chexpert.csv.gz, in its order.
MIMIC_LABELS = ["subject_id", "study_id", *sorted(CHEXPERT_OBSERVATIONS)]
MIMIC_SPLIT = ["dicom_id", "study_id", "subject_id", "split"]
CHEXPERT_HEADER = [
    "Path",
    "Sex",
    "Age",
    "Frontal/Lateral",
    "AP/PA",
    *CHEXPERT_OBSERVATIONS,
]


def _cell(value):
    return "" if np.isnan(value) else f"{float(value):.1f}"


def _write_gz(path, header, rows):
    with gzip.open(path, "wt", newline="", compresslevel=1) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def jpeg_bytes(seed, size, quality=90):
    """A SynthCXR radiograph encoded as JPEG (`size`: the longer side)."""
    image = synthcxr.SynthCXR(size).render([], seed=seed)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _texts(count, seed):
    """`count` (report body, labels) pairs: IU reports and templates."""
    rows, _ = read_iu_reports()
    labels = synthcxr.sample_chexpert_labels(count, seed=seed)
    out = []
    for i in range(count):
        if i % 2 == 0:
            row = rows[(i // 2) % len(rows)]
            findings, impression = row["findings"], row["impression"]
            out.append((findings, impression, None))
        else:
            text = templates.labels_to_report(labels[i], seed=seed + i)
            out.append((text["report"], "", labels[i]))
    return out


def _report(findings, impression):
    lines = [
        "                                 FINAL REPORT",
        " EXAMINATION:  CHEST (PA AND LAT)",
        " ",
        " INDICATION:  ___ with cough, evaluate for pneumonia.",
        " ",
        " COMPARISON:  None.",
        " ",
    ]
    if findings:
        lines += [f" FINDINGS:  {findings}", " "]
    if impression:
        lines += [f" IMPRESSION:  {impression}", " "]
    return "\n".join(lines) + "\n"


def write_mimic_cxr(
    root,
    num_studies,
    image_size=32,
    split_fractions=(0.6, 0.2, 0.2),
    seed=0,
    same_image=False,
):
    """Write a MIMIC-CXR-JPG look-alike; returns the root (a `Path`).

    Each study has one frontal (PA or AP) and one lateral image; one in
    twenty studies is left out of the CheXpert label table (as in the
    release, where some studies have no labels), whose labels are those
    of the template reports and blank for the IU ones.

    Args:
        root: the folder to write (created).
        num_studies: studies (two per subject).
        image_size: the longer side of the JPEGs.
        split_fractions: train/validate/test shares of the studies.
        seed: the seed of everything.
        same_image: write one encoded image everywhere (fast, for
            benchmarks of indexing that do not decode).
    """
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    texts = _texts(num_studies, seed)
    shared = jpeg_bytes(seed, image_size) if same_image else None
    metadata, labels, splits = [], [], []
    edges = np.cumsum(split_fractions) / np.sum(split_fractions)
    zipped = zipfile.ZipFile(root / "mimic-cxr-reports.zip", "w")
    with zipped:
        for i, (findings, impression, row) in enumerate(texts):
            subject = 10000032 + (i // 2) * 7
            study = 50000000 + i * 13
            folder = f"files/p{str(subject)[:2]}/p{subject}"
            text = _report(findings, impression)
            zipped.writestr(f"{folder}/s{study}.txt", text)
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"s{study}.txt").write_text(text)
            digest = hashlib.md5(f"{seed}:{study}".encode()).hexdigest()
            u = int(digest[:8], 16) / 2**32
            split = ("train", "validate", "test")[
                int(np.searchsorted(edges, u, side="right"))
            ]
            views = ("PA" if i % 3 else "AP", "LATERAL")
            for k, view in enumerate(views):
                dicom = hashlib.sha1(f"{study}:{k}".encode()).hexdigest()
                dicom = "-".join(dicom[j : j + 8] for j in range(0, 40, 8))
                path = root / folder / f"s{study}" / f"{dicom}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(shared or jpeg_bytes(i * 2 + k, image_size))
                metadata.append(
                    [dicom, subject, study, "CHEST (PA AND LAT)", view,
                     image_size, image_size, 21800506, 213014.531,
                     "CHEST (PA AND LAT)",
                     "postero-anterior" if view == "PA" else "lateral",
                     "Erect"]
                )  # fmt: skip
                splits.append([dicom, study, subject, split])
            if i % 20 != 19:
                values = dict(
                    zip(
                        CHEXPERT_OBSERVATIONS,
                        row if row is not None else [np.nan] * 14,
                    )
                )
                labels.append(
                    [subject, study]
                    + [_cell(values[name]) for name in MIMIC_LABELS[2:]]
                )
    prefix = root / "mimic-cxr-2.0.0-"
    _write_gz(f"{prefix}metadata.csv.gz", MIMIC_METADATA, metadata)
    _write_gz(f"{prefix}chexpert.csv.gz", MIMIC_LABELS, labels)
    _write_gz(f"{prefix}split.csv.gz", MIMIC_SPLIT, splits)
    return root


def write_chexpert(parent, num_studies, image_size=32, seed=0):
    """Write a CheXpert-v1.0-small look-alike; returns its folder.

    `num_studies` studies (one patient each, a frontal and a lateral
    view); about one in five goes to `valid.csv`.

    Args:
        parent: the folder that receives `CheXpert-v1.0-small/`.
        num_studies: studies.
        image_size: the longer side of the JPEGs.
        seed: the seed of the labels and images.
    """
    root = pathlib.Path(parent) / "CheXpert-v1.0-small"
    labels = synthcxr.sample_chexpert_labels(num_studies, seed=seed)
    tables = {"train.csv": [], "valid.csv": []}
    for i in range(num_studies):
        part = "valid" if i % 5 == 4 else "train"
        study = f"{part}/patient{i + 1:05d}/study1"
        for k, (view, side) in enumerate((("Frontal", "PA"), ("Lateral", ""))):
            name = f"view{k + 1}_{view.lower()}.jpg"
            path = root / study / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg_bytes(seed + 2 * i + k, image_size))
            row = labels[i]
            if part == "valid":
                row = np.where(np.isnan(row) | (row < 0), 0.0, row)
            tables[f"{part}.csv"].append(
                [f"CheXpert-v1.0-small/{study}/{name}", "Female", 68, view,
                 side, *(_cell(v) for v in row)]
            )  # fmt: skip
    for name, rows in tables.items():
        with open(root / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CHEXPERT_HEADER)
            writer.writerows(rows)
    return root


def write_reports_table(folder, num_studies, image_size=32, seed=0):
    """A user's table: `image_path,report` only (no labels, ids, split).

    Args:
        folder: the folder that receives `images/` and `reports.csv`.
        num_studies: rows.
        image_size: the side of the PNG images.
        seed: the seed of the images.

    Returns:
        The path of `reports.csv`.
    """
    folder = pathlib.Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (findings, impression, _) in enumerate(_texts(num_studies, seed)):
        name = f"images/{i:04d}.png"
        image = synthcxr.SynthCXR(image_size).render([], seed=seed + i)
        Image.fromarray(image).save(folder / name)
        rows.append([name, " ".join(t for t in (findings, impression) if t)])
    with open(folder / "reports.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_path", "report"])
        writer.writerows(rows)
    return folder / "reports.csv"
