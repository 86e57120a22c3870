"""The embedded default dataset: IU X-ray reports + SynthCXR images.

The 3,955 real reports of the Indiana University chest X-ray collection
(Demner-Fushman et al., 2016; CC BY-NC-ND 4.0) are read at run time from
`torchxrayvision`'s `data/NLMCXR_reports.tgz` and never copied into this
repository. Each report is paired with a SynthCXR image rendered from the
radiologists' MeSH tags of that report (`<MeSH><major>`), not from our
text labeler, so that the image is not a function of what the loss sees.
"""

import hashlib
import json
import logging
import multiprocessing
import os
import pathlib
import re
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

import numpy as np

from keras_clinclip import utils
from keras_clinclip.data import records as rec
from keras_clinclip.data import synthcxr

logger = logging.getLogger("keras_clinclip.data")

_ARCHIVE = "data/NLMCXR_reports.tgz"
# Bump when the record building (not the renderer) changes.
_DATASET_VERSION = "1"

# MeSH main heading (lower case) -> SynthCXR finding. `None`: not drawn.
MESH_TERMS = {
    "cardiomegaly": "cardiomegaly",
    "pleural effusion": "effusion",
    "hydropneumothorax": "effusion",
    "hemothorax": "effusion",
    "pneumothorax": "pneumothorax",
    "hemopneumothorax": "pneumothorax",
    "consolidation": "consolidation",
    "pneumonia": "consolidation",
    "airspace disease": "consolidation",
    "opacity": "opacity",
    "infiltrate": "opacity",
    "density": "opacity",
    "pulmonary atelectasis": "atelectasis",
    "atelectasis": "atelectasis",
    "volume loss": "atelectasis",
    "pulmonary edema": "edema",
    "edema": "edema",
    "pulmonary congestion": "edema",
    "heart failure": "edema",
    "nodule": "nodule",
    "mass": "mass",
    "calcified granuloma": "granuloma",
    "granuloma": "granuloma",
    "granulomatous disease": "granuloma",
    "emphysema": "emphysema",
    "pulmonary emphysema": "emphysema",
    "bullous emphysema": "emphysema",
    "pulmonary disease, chronic obstructive": "emphysema",
    "lung, hyperlucent": "emphysema",
    "fractures, bone": "fracture",
    "rib fractures": "fracture",
    "catheters, indwelling": "central_line",
    "catheterization, central venous": "central_line",
    "tube, inserted": "tube",
    "pacemaker, artificial": "pacemaker",
    "implanted medical device": "pacemaker",
    "medical device": "pacemaker",
    "surgical instruments": "sternotomy",
    "sutures": "sternotomy",
    "sternotomy": "sternotomy",
    "cicatrix": "scarring",
    "scarring": "scarring",
    "pulmonary fibrosis": "scarring",
    "fibrosis": "scarring",
    "lung diseases, interstitial": "interstitial",
    "hernia, hiatal": "hiatal_hernia",
    "hiatal hernia": "hiatal_hernia",
    "diaphragmatic eventration": "elevated_diaphragm",
    "atherosclerosis": "aortic_calcification",
    "aortic aneurysm": "aortic_calcification",
    "scoliosis": "scoliosis",
    "osteophyte": "spine_degeneration",
    "spondylosis": "spine_degeneration",
}

# (main heading, a modifier it needs) -> finding, for headings that name
# an organ rather than a finding.
MESH_ORGAN_TERMS = {
    ("lung", "hypoinflation"): "hypoinflation",
    ("lung", "hyperdistention"): "emphysema",
    ("cardiac shadow", "enlarged"): "cardiomegaly",
    ("heart", "enlarged"): "cardiomegaly",
    ("mediastinum", "enlarged"): "widened_mediastinum",
    ("mediastinum", "prominent"): "widened_mediastinum",
    ("costophrenic angle", "blunted"): "effusion",
    ("diaphragm", "elevated"): "elevated_diaphragm",
    ("diaphragm", "flattened"): "emphysema",
    ("thickening", "pleura"): "pleural_thickening",
    ("markings", "interstitial"): "interstitial",
    ("markings", "prominent"): "interstitial",
    ("calcinosis", "aorta"): "aortic_calcification",
    ("calcinosis", "aorta, thoracic"): "aortic_calcification",
    ("calcinosis", "lung"): "granuloma",
    ("calcinosis", "lymph nodes"): "granuloma",
    ("aorta", "tortuous"): "aortic_calcification",
    ("aorta, thoracic", "tortuous"): "aortic_calcification",
    ("thoracic aorta", "tortuous"): "aortic_calcification",
    ("spine", "degenerative"): "spine_degeneration",
    ("thoracic vertebrae", "degenerative"): "spine_degeneration",
}

MESH_ZONES = {
    "upper lobe": "upper",
    "apex": "upper",
    "middle lobe": "middle",
    "lingula": "middle",
    "hilum": "middle",
    "lower lobe": "lower",
    "base": "lower",
    "retrocardiac": "lower",
    "costophrenic angle": "lower",
}

MESH_SEVERITY = {
    "borderline": 0.2,
    "minimal": 0.2,
    "mild": 0.3,
    "small": 0.3,
    "moderate": 0.55,
    "severe": 0.85,
    "large": 0.85,
}


def mesh_to_findings(tags, seed=0):
    """SynthCXR findings from an IU report's MeSH major tags.

    A tag reads `Heading/modifier/.../modifier` (e.g.
    `Pleural Effusion/bilateral/small`, `Opacity/lung/base/left`). The
    heading gives the finding (`MESH_TERMS`, or `MESH_ORGAN_TERMS` for
    organ headings with a modifier such as `Lung/hypoinflation`); `left`,
    `right`, `bilateral` the (patient's) side; `MESH_ZONES` the zone;
    `MESH_SEVERITY` the severity (0.5 when not stated). `multiple` or
    `scattered` draw nodules and granulomas two or three times. Tags that
    map to no finding (`normal`, `No Indexing`, ...) are ignored.

    Args:
        tags: a list of MeSH tag strings.
        seed: an int that picks the side of lateral findings whose tag
            names none.

    Returns:
        A list of `synthcxr.Finding`.

    Example:
    >>> mesh_to_findings(["Pleural Effusion/left/small"])[0]
    Finding(name='effusion', side='left', zone=None, severity=0.3)
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 3])
    out = []
    for tag in tags:
        parts = [p.strip().lower() for p in tag.split("/") if p.strip()]
        if not parts:
            continue
        head, modifiers = parts[0], parts[1:]
        name = MESH_TERMS.get(head)
        if name is None:
            for modifier in modifiers:
                name = MESH_ORGAN_TERMS.get((head, modifier))
                if name:
                    break
        if name is None:
            continue
        side = next(
            (m for m in modifiers if m in ("left", "right", "bilateral")),
            None,
        )
        zone = next((MESH_ZONES[m] for m in modifiers if m in MESH_ZONES), None)
        severity = next(
            (MESH_SEVERITY[m] for m in modifiers if m in MESH_SEVERITY), 0.5
        )
        default_side, default_zone, _ = synthcxr.FINDINGS[name]
        if side is None and default_side in ("left", "right"):
            side = ("right", "left")[int(rng.integers(2))]
        if name in ("pleural_thickening", "scarring") and zone is None:
            zone = "upper"
        count = 1
        if name in ("nodule", "granuloma") and any(
            m in ("multiple", "scattered") for m in modifiers
        ):
            count = int(rng.integers(2, 4))
        for _ in range(count):
            out.append(synthcxr.Finding(name, side, zone, severity))
    return out


_PARSED = {}


def _text(element):
    if element is None or element.text is None:
        return ""
    return " ".join(element.text.split())


def read_iu_reports(path=None):
    """Parse the IU X-ray report archive (XML in a .tgz).

    Args:
        path: the archive; defaults to `torchxrayvision`'s
            `data/NLMCXR_reports.tgz`.

    Returns:
        `(rows, dropped)`: `rows` is a list of dicts with `id` (e.g.
        `"CXR1"`), `findings`, `impression`, `mesh` (major tags) and
        `mesh_automatic`, for every report with a FINDINGS or IMPRESSION
        section, sorted by number; `dropped` lists the ids of the reports
        with neither.

    Example:
    >>> rows, dropped = read_iu_reports()  # doctest: +SKIP
    >>> len(rows) + len(dropped)  # doctest: +SKIP
    3955
    """
    if path is None:
        path = utils.package_data_path("torchxrayvision", _ARCHIVE)
    key = (str(path), os.path.getmtime(path))
    if key in _PARSED:
        rows, dropped = _PARSED[key]
        return [dict(row) for row in rows], list(dropped)
    rows, dropped = [], []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".xml"):
                continue
            root = ET.fromstring(archive.extractfile(member).read())
            uid = root.find("uId")
            study = uid.get("id") if uid is not None else member.name
            sections = {}
            for node in root.iter("AbstractText"):
                sections[node.get("Label", "").upper()] = _text(node)
            mesh = root.find("MeSH")
            major = [_text(m) for m in mesh.iter("major")] if mesh else []
            automatic = (
                [_text(m) for m in mesh.iter("automatic")] if mesh else []
            )
            row = {
                "id": study,
                "findings": sections.get("FINDINGS", ""),
                "impression": sections.get("IMPRESSION", ""),
                "mesh": major,
                "mesh_automatic": automatic,
            }
            if row["findings"] or row["impression"]:
                rows.append(row)
            else:
                dropped.append(study)

    def number(study):
        digits = re.sub(r"\D", "", study)
        return int(digits) if digits else 0

    rows.sort(key=lambda row: number(row["id"]))
    dropped.sort(key=number)
    _PARSED[key] = (rows, dropped)
    return [dict(row) for row in rows], list(dropped)


def _study_seed(study):
    digest = hashlib.md5(study.encode("utf-8")).hexdigest()
    return int(digest[:8], 16)


class _Progress:
    """A one-line progress note on stderr (no new dependency).

    On a terminal the line is redrawn in place; otherwise (logs, CI) a line
    is written at each tenth of the work.
    """

    def __init__(self, total, label, enabled=True):
        self.total, self.label, self.done = int(total), label, 0
        self.enabled = enabled and self.total > 0
        self.tty = sys.stderr.isatty()
        self.shown = -1
        self.start = time.monotonic()

    def update(self, count):
        if not self.enabled:
            return
        self.done = min(self.total, self.done + int(count))
        tenth = 10 * self.done // self.total
        if not self.tty and tenth == self.shown:
            return
        self.shown = tenth
        seconds = time.monotonic() - self.start
        line = (
            f"{self.label}: {self.done}/{self.total} "
            f"({100 * self.done // self.total}%, {seconds:.0f}s)"
        )
        end = "\n" if not self.tty or self.done == self.total else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr)
        sys.stderr.flush()


_RENDERER = {}


def _render_chunk(args):
    image_size, jobs = args
    renderer = _RENDERER.get(image_size)
    if renderer is None:
        renderer = _RENDERER[image_size] = synthcxr.SynthCXR(image_size)
    return np.stack([renderer.render(f, seed=s) for f, s in jobs])


def _start_method():
    """ "forkserver" where the platform has it, else None (in process).

    Never "fork": JAX, TensorFlow and torch run threads, and a forked
    child of a multithreaded process can deadlock.
    """
    if multiprocessing.parent_process() is not None:
        return None  # already a worker: no nested pools
    if "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return None


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
            the "forkserver" method (never `os.fork()` of this process,
            where a backend may run threads; each worker imports the
            package, a few seconds); without forkserver (Windows)
            rendering stays in this process.
            Scripts that call this with workers belong under
            `if __name__ == "__main__":`, as for any multiprocessing.
        progress: write a progress line to stderr.

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
    bar = _Progress(len(jobs), "IU X-ray: rendering images", progress)
    method = _start_method()
    parts = []
    if workers > 1 and method and len(chunks) > 1:
        context = multiprocessing.get_context(method)
        with context.Pool(workers) as pool:
            for part in pool.imap(_render_chunk, chunks):
                parts.append(part)
                bar.update(len(part))
    else:
        for c in chunks:
            parts.append(_render_chunk(c))
            bar.update(len(parts[-1]))
    return np.concatenate(parts)


def _reports_fingerprint():
    """A hash of the report toolkit's code and data (labels depend on it)."""
    import keras_clinclip.reports as reports_package

    digest = hashlib.md5()
    root = pathlib.Path(reports_package.__file__).parent
    for file in sorted(root.rglob("*")):
        if file.suffix in (".py", ".yaml", ".yml", ".json"):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def _text_columns(rows, num_negations, graphs, progress=False):
    from keras_clinclip import reports

    texts = [
        " ".join(t for t in (row["findings"], row["impression"]) if t)
        for row in rows
    ]
    bar = _Progress(len(texts), "IU X-ray: labelling reports", progress)
    found = []
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
        chosen = [positives[j] for j in rng.permutation(len(positives))]
        chosen = chosen[:num_negations]
        negations.append(
            [reports.negate_finding(text, f, seed=seed) for f in chosen]
        )
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
    """The rows `positions` of per-row columns (arrays or lists)."""
    out = {}
    for key, value in columns.items():
        if len(value) != total:
            raise ValueError(
                f"IU X-ray cache: column {key!r} has {len(value)} rows, "
                f"expected {total}; delete the cache folder to rebuild."
            )
        if isinstance(value, np.ndarray):
            out[key] = value[positions]
        else:
            out[key] = [value[i] for i in positions]
    return out


def _save(path, columns):
    arrays = {k: v for k, v in columns.items() if isinstance(v, np.ndarray)}
    lists = {k: v for k, v in columns.items() if k not in arrays}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            __lists__=np.frombuffer(
                json.dumps(lists).encode("utf-8"), np.uint8
            ),
            **arrays,
        )
    tmp.replace(path)


def _load(path):
    with np.load(path) as data:
        out = {k: data[k] for k in data.files if k != "__lists__"}
        out.update(json.loads(data["__lists__"].tobytes().decode("utf-8")))
    return out


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
):
    """The IU X-ray reports paired with SynthCXR images (records format).

    Reports with neither a FINDINGS nor an IMPRESSION section are dropped
    (logged with their count; 3,955 archive reports give 3,826 kept, see
    `docs/data.md`). The report text is FINDINGS then IMPRESSION. Labels
    come from `keras_clinclip.reports.label_report`; up to `num_negations`
    negated variants (one per positive finding, in a seeded order, with
    `reports.negate_finding`) and the matching omitted variants
    (`reports.omit_finding`); `negation_labels` are the labels with that
    finding set to 0. Images are rendered from the radiologists' MeSH
    major tags (`mesh_to_findings`). The split is fixed by a hash of the
    report id (`records.hash_split`).

    Everything is cached under `keras_clinclip.utils.cache_dir("iu_xray")`
    (`$KERAS_CLINCLIP_CACHE`): the images keyed on the renderer version
    and size, the text columns on the report toolkit's code; a changed
    renderer or toolkit rebuilds its part. A first build of more than 256
    reports writes its progress to stderr.

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
    # A first build of more than a few hundred images takes minutes.
    progress = len(rows) > 256
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
        "split": [rec.hash_split(s, split_fractions) for s in study_ids],
        "mesh": [row["mesh"] for row in rows],
        "findings": [[list(f) for f in found] for found in drawn],
    }
    records.update(columns)
    return records
