"""The embedded default dataset: IU X-ray reports + SynthCXR images.

The 3,955 real reports of the Indiana University chest X-ray collection
(Demner-Fushman et al., 2016; CC BY-NC-ND 4.0) are read at run time from
`torchxrayvision`'s `data/NLMCXR_reports.tgz` and never copied into this
repository. Each report is paired with a SynthCXR image rendered from the
radiologists' MeSH tags of that report (`<MeSH><major>`), not from our
text labeler, so that the image is not a function of what the loss sees.
"""

import hashlib
import logging
import os
import pathlib

import numpy as np

from keras_clinclip import reports
from keras_clinclip import tables
from keras_clinclip import utils
from keras_clinclip.data import records as rec
from keras_clinclip.data import synthcxr
from keras_clinclip.data.iu_mesh import mesh_to_findings
from keras_clinclip.reports.iu_archive import read_iu_archive
from keras_clinclip.reports.prepare import negations_of

logger = logging.getLogger("keras_clinclip.data")

# Bump when the record building (not the renderer) changes.
_DATASET_VERSION = "1"


def read_iu_reports(path=None):
    """The IU X-ray reports that have a FINDINGS or IMPRESSION section.

    The archive is parsed by `keras_clinclip.reports.iu_archive`, once per
    process.

    Args:
        path: the archive; defaults to `torchxrayvision`'s
            `data/NLMCXR_reports.tgz`.

    Returns:
        `(rows, dropped)`: `rows` is a list of dicts with `id` (e.g.
        `"CXR1"`), `findings`, `impression`, `mesh` (major tags, a list)
        and `mesh_automatic`, for every report with a FINDINGS or
        IMPRESSION section, sorted by number; `dropped` lists the ids of
        the reports with neither.

    Example:
    >>> rows, dropped = read_iu_reports()  # doctest: +SKIP
    >>> len(rows) + len(dropped)  # doctest: +SKIP
    3955
    """
    rows, dropped = [], []
    for row in read_iu_archive(path):
        if not (row["findings"] or row["impression"]):
            dropped.append(row["id"])
            continue
        rows.append(
            {
                "id": row["id"],
                "findings": row["findings"],
                "impression": row["impression"],
                "mesh": list(row["mesh"]),
                "mesh_automatic": list(row["mesh_automatic"]),
            }
        )
    return rows, dropped


def _study_seed(study):
    digest = hashlib.md5(study.encode("utf-8")).hexdigest()
    return int(digest[:8], 16)


_RENDERER = {}


def _render_chunk(args):
    image_size, jobs = args
    renderer = _RENDERER.get(image_size)
    if renderer is None:
        renderer = _RENDERER[image_size] = synthcxr.SynthCXR(image_size)
    return np.stack([renderer.render(f, seed=s) for f, s in jobs])


def render_images(
    findings, seeds, image_size=224, workers=None, progress=False
):
    """Render many SynthCXR images, in worker processes when it helps.

    Args:
        findings: a list of finding lists.
        seeds: a list of ints, one per image.
        image_size: the side of the images.
        workers: processes (default: 2 when the machine has 2+ cores and
            there are more than 64 images, else 1). Workers start with
            `keras_clinclip.utils.worker_pool` (never `os.fork()` once a
            backend started; a worker imports only the renderer, not
            the package or TensorFlow). Scripts that call this with
            workers belong under `if __name__ == "__main__":`, as for any
            multiprocessing.
        progress: an updating progress line on stderr (when it is a
            terminal).

    Returns:
        uint8 (N, image_size, image_size).

    Example:
    >>> render_images([[], ["nodule"]], [0, 1], image_size=32).shape
    (2, 32, 32)
    """
    jobs = list(zip(findings, seeds))
    if not jobs:
        return np.zeros((0, image_size, image_size), np.uint8)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(jobs) > 64 else 1
    synthcxr.lung_masks()  # read (and cached on disk) before the workers
    chunk = 64
    chunks = [
        (image_size, jobs[i : i + chunk]) for i in range(0, len(jobs), chunk)
    ]
    label = "IU X-ray: rendering images"
    parts = []
    with utils.ProgressLine(len(jobs), label, progress) as bar:
        if workers > 1 and len(chunks) > 1:
            with utils.worker_pool(workers) as pool:
                for part in pool.imap(_render_chunk, chunks):
                    parts.append(part)
                    bar.update(len(part))
        else:
            for c in chunks:
                parts.append(_render_chunk(c))
                bar.update(len(parts[-1]))
    return np.concatenate(parts)


_reports_fingerprint = rec.toolkit_fingerprint


def _text_columns(rows, num_negations, graphs, progress=False):
    texts = [
        " ".join(t for t in (row["findings"], row["impression"]) if t)
        for row in rows
    ]
    found = []
    label = "IU X-ray: labelling reports"
    with utils.ProgressLine(len(texts), label, progress) as bar:
        for start in range(0, len(texts), 200):
            found.extend(reports.label_reports(texts[start : start + 200]))
            bar.update(len(texts[start : start + 200]))
    labels = reports.labels_to_array(found)
    observations = list(reports.CHEXPERT_OBSERVATIONS)
    negations, omissions, negated = [], [], []
    negation_labels = np.zeros(
        (len(rows), num_negations, len(observations)), np.float32
    )
    for i, (row, text) in enumerate(zip(rows, texts)):
        seed = _study_seed(row["id"])
        rng = np.random.default_rng([seed, 13])
        positives = [
            name
            for name, value in zip(observations, labels[i])
            if value == 1.0 and name != "No Finding"
        ]
        order = [positives[j] for j in rng.permutation(len(positives))]
        # A finding whose negation the labeler rejects is skipped for the
        # next one, as in `clinclip prepare`.
        pairs, _ = negations_of(text, order, seed=seed, limit=num_negations)
        chosen = [finding for finding, _ in pairs]
        negations.append([negation for _, negation in pairs])
        omissions.append([reports.omit_finding(text, f) for f in chosen])
        negated.append(chosen)
        negation_labels[i] = rec.negation_labels_for(
            labels[i], chosen, observations, num_negations
        )
    columns = {
        "report": texts,
        "labels": labels,
        "negations": negations,
        "negated_findings": negated,
        "omissions": omissions,
        "negation_labels": negation_labels,
    }
    if graphs:
        columns.update(rec.graph_columns(texts))
    return columns


def _selection(study_ids):
    return hashlib.md5("\n".join(study_ids).encode()).hexdigest()[:10]


def _take_rows(columns, positions, total):
    """The rows `positions` of the full build's cached columns."""
    wrong = {k: len(v) for k, v in columns.items() if len(v) != total}
    if wrong:
        raise ValueError(
            f"IU X-ray cache: columns {wrong} do not have {total} rows; "
            "delete the cache folder to rebuild."
        )
    return rec.select(columns, positions)


_save = rec.save_columns
_load = rec.load_columns


def iu_xray(
    image_size=224,
    num_negations=2,
    graphs=True,
    limit=None,
    ids=None,
    split_fractions=(0.8, 0.1, 0.1),
    cache=True,
    cache_dir=None,
    workers=None,
    progress=True,
):
    """The IU X-ray reports paired with SynthCXR images (records format).

    Reports with neither a FINDINGS nor an IMPRESSION section are dropped
    (logged with their count; 3,955 archive reports give 3,927 kept, see
    `docs/data.md`). The report text is FINDINGS then IMPRESSION. Labels
    come from `keras_clinclip.reports.label_report`; up to `num_negations`
    negated variants (one per positive finding, in a seeded order, with
    `reports.negate_finding`) and the matching omitted variants
    (`reports.omit_finding`); `negation_labels` are the labels with that
    finding set to 0. Images are rendered from the radiologists' MeSH
    major tags (`mesh_to_findings`). The split is fixed by a hash of the
    report id (`keras_clinclip.tables.hash_split`).

    Everything is cached under `keras_clinclip.utils.cache_dir("iu_xray")`
    (`$KERAS_CLINCLIP_CACHE`): the images keyed on the renderer version
    and size, the text columns on the report toolkit's code; a changed
    renderer or toolkit rebuilds its part. A build (the first takes
    minutes) shows its progress on stderr when that is a terminal.

    Args:
        image_size: the side of the rendered images.
        num_negations: K, negated/omitted variants per report.
        graphs: add the report graph arrays.
        limit: keep only the first `limit` reports (for quick runs).
            A subset (`limit` or `ids`) is read from the full build's
            cache when there is one, not rendered again.
        ids: keep only these report ids (e.g. `["CXR1", "CXR10"]`).
        split_fractions: train/validate/test shares.
        cache: read and write the cache.
        cache_dir: the cache folder (default
            `keras_clinclip.utils.cache_dir("iu_xray")`).
        workers: rendering processes (see `render_images`).
        progress: show the progress of a build (rendering, labelling) on
            one updating stderr line; it stays quiet anyway when stderr is
            not a terminal.

    Returns:
        A records dict with `id`, `image` uint8 (N, S, S), `report`,
        `labels`, `split`, `negations`, `negation_labels`, `omissions`,
        `negated_findings`, `mesh`, `findings` (the drawn SynthCXR
        findings as lists), and the graph arrays.

    Example:
    >>> records = iu_xray(image_size=32, limit=2)  # doctest: +SKIP
    >>> records["image"].shape  # doctest: +SKIP
    (2, 32, 32)
    """
    rows, dropped = read_iu_reports()
    if dropped:
        logger.info(
            "IU X-ray: dropped %d of %d reports without FINDINGS or "
            "IMPRESSION.",
            len(dropped),
            len(rows) + len(dropped),
        )
    if ids is not None:
        wanted = set(ids)
        known = {row["id"] for row in rows}
        missing = sorted(wanted - known)
        if missing:
            raise ValueError(
                f"IU X-ray report ids not found (or dropped as empty): "
                f"{missing[:10]}."
            )
        rows = [row for row in rows if row["id"] in wanted]
    all_ids = [row["id"] for row in read_iu_reports()[0]]
    if limit is not None:
        rows = rows[: int(limit)]
    study_ids = [row["id"] for row in rows]
    selection = _selection(study_ids)
    # A subset (limit= or ids=) is read from the full build's cache when
    # there is one, instead of rendering and caching a file of its own.
    full_selection = _selection(all_ids)
    where = {study: i for i, study in enumerate(all_ids)}
    positions = np.array([where[s] for s in study_ids], np.int64)
    folder = None
    if cache:
        folder = pathlib.Path(cache_dir or utils.cache_dir("iu_xray"))
        folder.mkdir(parents=True, exist_ok=True)

    def image_name(chosen):
        return folder / (
            f"images_r{synthcxr.RENDERER_VERSION}_d{_DATASET_VERSION}_"
            f"{image_size}_{chosen}.npz"
        )

    def text_name(chosen):
        return folder / (
            f"text_{_reports_fingerprint()}_d{_DATASET_VERSION}_"
            f"k{num_negations}_g{int(bool(graphs))}_{chosen}.npz"
        )

    image_file = text_file = full_image = full_text = None
    if folder is not None:
        image_file, text_file = image_name(selection), text_name(selection)
        if selection != full_selection:
            full_image = image_name(full_selection)
            full_text = text_name(full_selection)
    drawn = [
        mesh_to_findings(row["mesh"], _study_seed(row["id"])) for row in rows
    ]
    if image_file is not None and image_file.exists():
        images = _load(image_file)["image"]
    elif full_image is not None and full_image.exists():
        images = _load(full_image)["image"][positions]
    else:
        images = render_images(
            drawn,
            [_study_seed(s) for s in study_ids],
            image_size=image_size,
            workers=workers,
            progress=progress,
        )
        if image_file is not None:
            _save(image_file, {"image": images})
    if text_file is not None and text_file.exists():
        columns = _load(text_file)
    elif full_text is not None and full_text.exists():
        columns = _take_rows(_load(full_text), positions, len(all_ids))
    else:
        columns = _text_columns(rows, num_negations, graphs, progress)
        if text_file is not None:
            _save(text_file, columns)
    records = {
        "id": study_ids,
        "image": images,
        "split": [tables.hash_split(s, split_fractions) for s in study_ids],
        "mesh": [row["mesh"] for row in rows],
        "findings": [[list(f) for f in found] for found in drawn],
    }
    records.update(columns)
    return records
