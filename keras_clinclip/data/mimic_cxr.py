"""MIMIC-CXR-JPG and MIMIC-CXR (DICOM) in their published layouts.

    <root>/files/p10/p10000032/s50414267/<dicom_id>.jpg   (or .dcm)
    <root>/mimic-cxr-2.0.0-metadata.csv.gz   (ViewPosition per dicom_id)
    <root>/mimic-cxr-2.0.0-chexpert.csv.gz   (labels per study)
    <root>/mimic-cxr-2.0.0-negbio.csv.gz     (the NegBio labels, same form)
    <root>/mimic-cxr-2.0.0-split.csv.gz      (official split per dicom_id)
    reports: <root>/mimic-cxr-reports.zip (files/p10/p10000032/s50414267.txt)
             or <root>/files/p10/p10000032/s50414267.txt

MIMIC-CXR is credentialed data (PhysioNet); nothing of it ships here.
"""

import pathlib
import re
import zipfile

import numpy as np

from keras_clinclip import reports as report_tools
from keras_clinclip import tables
from keras_clinclip import utils
from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import records as rec
from keras_clinclip.data.prepared_text import prepare_text
from keras_clinclip.tables import parse_label
from keras_clinclip.tables import read_rows

_PREFIX = "mimic-cxr-2.0.0-"


# `labels=` choices that read an official label table, and its name.
LABEL_TABLES = {"chexpert": "chexpert", "csv": "chexpert", "negbio": "negbio"}


def find_table(root, name):
    """The path of `mimic-cxr-2.0.0-<name>.csv(.gz)` under `root`, or None.

    Args:
        root: the dataset folder.
        name: `metadata`, `chexpert`, `negbio` or `split`.

    Example:
    >>> find_table(pathlib.Path("/nonexistent"), "split") is None
    True
    """
    root = pathlib.Path(root)
    for suffix in (".csv.gz", ".csv"):
        path = root / f"{_PREFIX}{name}{suffix}"
        if path.exists():
            return path
    return None


def _require(path, columns, needed):
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(
            f"{path}: missing the column(s) {missing}; present: {columns}."
        )


def _report_reader(root, reports):
    """A function (subject, study) -> report text or None."""
    source = pathlib.Path(reports) if reports else None
    if source is None:
        zipped = root / "mimic-cxr-reports.zip"
        source = zipped if zipped.exists() else root
    if source.is_file() and source.suffix == ".zip":
        archive = zipfile.ZipFile(source)
        names = {}
        for name in archive.namelist():
            match = re.search(r"(s\d+)\.txt$", name)
            if match:
                names[match.group(1)] = name

        def read(subject, study):
            name = names.get(study)
            if name is None:
                return None
            return archive.read(name).decode("utf-8", errors="replace")

        return read

    def read(subject, study):
        path = source / "files" / f"p{subject[1:3]}" / subject / f"{study}.txt"
        if not path.exists():
            return None
        return path.read_text(encoding="utf-8", errors="replace")

    return read


def _dicom_view(path):
    import pydicom

    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    return str(dataset.get("ViewPosition", "")).upper()


def mimic_cxr(
    root,
    views=("PA", "AP"),
    splits=("train", "validate", "test"),
    image_format="auto",
    reports=None,
    sections=("findings", "impression"),
    one_image_per_study=True,
    labels="auto",
    graphs=False,
    on_missing_report="skip",
    progress=True,
):
    """Records from MIMIC-CXR-JPG or MIMIC-CXR (DICOM).

    Args:
        root: the dataset folder (holding `files/` and the tables).
        views: the `ViewPosition` values to keep (PA and AP frontals by
            default); from the metadata table, or from the DICOM header
            when that table is absent.
        splits: the official splits to keep (`mimic-cxr-2.0.0-split`);
            without that table, a hash of the study id decides.
        image_format: `"jpg"`, `"dcm"` or `"auto"` (whichever the tree
            holds).
        reports: the reports zip or folder (default: `root`'s
            `mimic-cxr-reports.zip`, else `root/files/.../sXXXX.txt`).
        sections: the report sections kept (`reports.report_body`).
        one_image_per_study: keep one image per study (PA before AP).
        labels: `"chexpert"` (alias `"csv"`: the official
            `mimic-cxr-2.0.0-chexpert.csv(.gz)`), `"negbio"`
            (`mimic-cxr-2.0.0-negbio.csv(.gz)`), `"labeler"`
            (`reports.label_report` on the text, prepared once and cached:
            `prepared_text.prepare_text`), `"none"` (NaN, for a caller
            that labels later, as `sources.load_source` does) or `"auto"`
            (the CheXpert table when present, else the NegBio table, else
            the labeler).
            A study missing from a table gets NaN labels.
        graphs: add the report graph arrays.
        on_missing_report: `"skip"` the studies without a report, or
            `"raise"`.
        progress: show the indexing of the images and the reading of
            the reports on one updating stderr line (quiet anyway when
            stderr is not a terminal).

    Returns:
        A records dict with `id` (`sXXXXXXXX`), `image_path`, `report`,
        `labels`, `split`, `subject_id`, `view`.

    Example:
    >>> records = mimic_cxr("/data/mimic-cxr-jpg/2.0.0")  # doctest: +SKIP
    """
    root = pathlib.Path(root)
    files = root / "files"
    if not files.is_dir():
        raise FileNotFoundError(
            f"{root}: no 'files/' folder (expected files/p1x/pXXXXXXXX/"
            "sXXXXXXXX/*.jpg or *.dcm)."
        )
    if image_format == "auto":
        image_format = "jpg" if next(files.rglob("*.jpg"), None) else "dcm"
    if image_format not in ("jpg", "dcm"):
        raise ValueError(
            f"image_format must be jpg, dcm or auto, got {image_format!r}."
        )
    images = sorted(files.glob(f"p*/p*/s*/*.{image_format}"))
    if not images:
        raise FileNotFoundError(
            f"{files}: no *.{image_format} images in p1x/pXXXXXXXX/sXXXXXXXX/."
        )
    view_of, split_of = {}, {}
    metadata = find_table(root, "metadata")
    if metadata is not None:
        columns, rows = read_rows(metadata)
        _require(metadata, columns, ["dicom_id", "ViewPosition"])
        view_of = {r["dicom_id"]: r["ViewPosition"].upper() for r in rows}
    split_table = find_table(root, "split")
    if split_table is not None:
        columns, rows = read_rows(split_table)
        _require(split_table, columns, ["dicom_id", "split"])
        split_of = {r["dicom_id"]: r["split"] for r in rows}
    label_of = {}
    if labels == "auto":
        labels = next(
            (n for n in ("chexpert", "negbio") if find_table(root, n)),
            "labeler",
        )
    if labels in LABEL_TABLES:
        label_table = find_table(root, LABEL_TABLES[labels])
        if label_table is None:
            raise FileNotFoundError(
                f"{root}: labels={labels!r} needs "
                f"{_PREFIX}{LABEL_TABLES[labels]}.csv.gz (or .csv)."
            )
        columns, rows = read_rows(label_table)
        _require(label_table, columns, ["study_id", *CHEXPERT_OBSERVATIONS])
        for number, row in enumerate(rows, start=1):
            label_of["s" + row["study_id"]] = [
                parse_label(
                    row[name], f"{label_table}, row {number}, column {name}"
                )
                for name in CHEXPERT_OBSERVATIONS
            ]
    elif labels not in ("labeler", "none"):
        raise ValueError(
            f"labels must be one of {sorted(LABEL_TABLES)}, labeler, none or "
            "auto, "
            f"got {labels!r}"
        )

    read_report = _report_reader(root, reports)
    chosen = {}
    rank = {view: i for i, view in enumerate(views)}
    bar = utils.ProgressLine(
        len(images), "MIMIC-CXR: indexing images", progress
    )
    for path in bar.iterate(images):
        dicom_id = path.stem
        study, subject = path.parent.name, path.parent.parent.name
        view = view_of.get(dicom_id)
        if view is None:
            view = _dicom_view(path) if image_format == "dcm" else ""
        if views and view not in rank:
            continue
        split = split_of.get(dicom_id) or tables.hash_split(study)
        if split not in splits:
            continue
        item = (rank.get(view, 0), str(path), subject, view, split)
        key = study if one_image_per_study else str(path)
        if key not in chosen or item < chosen[key]:
            chosen[key] = item
    out = {
        k: []
        for k in (
            "id",
            "image_path",
            "report",
            "labels",
            "split",
            "subject_id",
            "view",
        )
    }
    wanted = tuple(s.upper() for s in sections)
    bar = utils.ProgressLine(
        len(chosen), "MIMIC-CXR: reading reports", progress
    )
    for key in bar.iterate(sorted(chosen)):
        _, path, subject, view, split = chosen[key]
        study = pathlib.Path(path).parent.name
        text = read_report(subject, study)
        if text is None:
            if on_missing_report == "raise":
                raise FileNotFoundError(f"{path}: no report {study}.txt found.")
            continue
        body = " ".join(report_tools.report_body(text, wanted).split())
        row = label_of.get(study, [np.nan] * rec.NUM_CLASSES)
        out["id"].append(study)
        out["image_path"].append(path)
        out["report"].append(body)
        out["labels"].append(row)
        out["split"].append(split)
        out["subject_id"].append(subject)
        out["view"].append(view)
    out["labels"] = np.asarray(out["labels"], np.float32).reshape(-1, 14)
    if labels == "labeler":
        columns, _ = prepare_text(out["id"], out["report"], progress=progress)
        out["labels"] = columns["labels"]
    if graphs:
        out.update(rec.graph_columns(out["report"]))
    return out
