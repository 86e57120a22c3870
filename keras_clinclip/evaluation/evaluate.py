"""The whole evaluation of a model on a records dict, in one call.

`evaluate_records(backbone, preprocessor, records)` embeds the images and
reports of the test split once and runs zero-shot classification with its
clinical metrics (AUPRC, operating points chosen on the validation split,
calibration), retrieval, CXR-Align (when a CXR-Align dict is given or the
records carry negated reports), the linear probe (when a training split
exists) and, on SynthCXR records, localisation (pointing game), then
optionally writes the Markdown report. `clinclip evaluate` and
`clinclip demo` both call it.

Records follow the loader contract of `docs/architecture.md`: equal-length
columns `id`, `image` (uint8 (N, H, W)) or `image_path`, `report`,
`labels` (N, 14) in `CHEXPERT_OBSERVATIONS` order, `split`, and
optionally `negations` / `omissions` (lists of texts per study).
"""

import time
import warnings

import numpy as np

from keras_clinclip.evaluation.cxr_align import evaluate_cxr_align
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.linear_probe import linear_probe
from keras_clinclip.evaluation.localization import evaluate_localization
from keras_clinclip.evaluation.metrics import clinical_metrics
from keras_clinclip.evaluation.retrieval import group_identical_texts
from keras_clinclip.evaluation.retrieval import retrieval_metrics
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot import zero_shot_evaluate
from keras_clinclip.evaluation.zero_shot import zero_shot_scores


class _ConvertedImages:
    """A preprocessor view whose images are already converted."""

    def __init__(self, preprocessor):
        self.preprocessor = preprocessor

    def convert_images(self, images):
        return images

    def tokenize(self, texts):
        return self.preprocessor.tokenize(texts)


def select_split(records, split):
    """The rows of `records` whose `split` column equals `split`.

    Args:
        records: a dict of equal-length columns (lists or arrays).
        split: e.g. `"test"`; `None` keeps every row.

    Returns:
        a dict of the same columns restricted to the split.

    Example:
    >>> rows = select_split({"id": ["a", "b"], "split": ["train", "test"]},
    ...                     "test")
    >>> rows["id"]
    ['b']
    """
    if split is None:
        return records
    if "split" not in records:
        raise KeyError(
            f"records have no 'split' column to select {split!r} (columns: "
            f"{sorted(records)})"
        )
    keep = [i for i, s in enumerate(records["split"]) if s == split]
    out = {}
    for key, column in records.items():
        if isinstance(column, np.ndarray):
            out[key] = column[keep]
        elif isinstance(column, (list, tuple)):
            out[key] = [column[i] for i in keep]
        else:
            out[key] = column
    return out


def _images_of(records, preprocessor):
    """The images of `records` and the preprocessor to embed them with.

    In-memory images are returned raw (converted batch by batch later);
    image files, which may differ in size, are decoded with
    `keras_clinclip.data.decode_image` and converted one by one.
    """
    if "image" in records:
        return np.asarray(records["image"]), preprocessor
    if "image_path" in records:
        from keras_clinclip.data import decode_image

        converted = [
            np.asarray(preprocessor.convert_images(decode_image(path)))
            for path in records["image_path"]
        ]
        return np.stack(converted), _ConvertedImages(preprocessor)
    raise KeyError(
        "records need an 'image' or 'image_path' column (columns: "
        f"{sorted(records)})"
    )


def _first_text(values):
    if values is None:
        return None
    if isinstance(values, str):
        return values or None
    values = [v for v in values if isinstance(v, str) and v.strip()]
    return values[0] if values else None


def cxr_align_from_records(records, source="records"):
    """A CXR-Align dict from records that carry negated/omitted reports.

    Pairs each report with its first negated and first omitted version:
    the loaders (`iu_xray`, `synthetic_pairs`) write them index-aligned
    for the same finding (`negated_findings`). To benchmark on reports
    alone, use `keras_clinclip.reports.build_cxr_align` instead.

    Args:
        records: columns `id`, `report`, `negations`, optional
            `omissions`.
        source: the source name of the returned dict.

    Returns:
        `{source: {id: {"report", "negation", "omitted"}}}` (studies
        without a negation are left out), or `None` when there is none.

    Example:
    >>> cxr_align_from_records({"id": ["1", "2"], "report": ["A.", "B."],
    ...                         "negations": [["No A."], []]})
    {'records': {'1': {'report': 'A.', 'negation': 'No A.', 'omitted': None}}}
    """
    if "negations" not in records:
        return None
    omissions = records.get("omissions")
    chosen = records.get("negated_findings")
    entries = {}
    for i, key in enumerate(records["id"]):
        negation = _first_text(records["negations"][i])
        if negation is None:
            continue
        entries[str(key)] = {
            "report": records["report"][i],
            "negation": negation,
            "omitted": (
                None if omissions is None else _first_text(omissions[i])
            ),
        }
        if chosen is not None and len(chosen[i]):
            entries[str(key)]["chosen"] = str(chosen[i][0])
    return {source: entries} if entries else None


def evaluate_records(
    backbone,
    preprocessor,
    records,
    split="test",
    train_split="train",
    findings=None,
    prompts=None,
    cxr_align=None,
    uncertain="exclude",
    blank="negative",
    n_bootstrap=1000,
    seed=0,
    probe_fractions=(0.01, 0.1, 1.0),
    ks=(1, 5, 10),
    batch_size=32,
    progress=False,
    output_dir=None,
    history=None,
    title="keras_clinclip evaluation",
    notes=None,
    figures=True,
    validation_split="validate",
    specificity=0.9,
    calibration_bins=10,
    localization="auto",
):
    """Zero-shot, retrieval, CXR-Align, linear probe and more on records.

    Args:
        backbone: a `ClinCLIPBackbone` (`encode_images`, `encode_texts`).
        preprocessor: its `ClinCLIPPreprocessor`.
        records: the loader's dict of columns (see the module doc).
        split: the evaluation split (`None` for every row).
        train_split: the linear probe's training split (`None` to skip the
            probe).
        findings: the label columns' names (default the 14 CheXpert
            observations); zero-shot runs on these.
        prompts: prompt overrides (see `clinclip_prompts.prompt_pairs`).
        cxr_align: a CXR-Align dict or JSON path; default built from the
            records' `negations`/`omissions` when present.
        uncertain: -1 label handling (see `metrics.binarize_labels`).
        blank: NaN label handling.
        n_bootstrap: bootstrap resamples for the intervals.
        seed: bootstrap and probe seed.
        probe_fractions: the linear probe's training fractions (empty to
            skip it).
        ks: Recall@K cut-offs.
        batch_size: model batch size.
        progress: show Keras progress bars.
        output_dir: write `report.md`, figures and `results.json` there.
        history: training history for the report's curves.
        title: the report's title.
        notes: Markdown notes for the report.
        figures: draw figures in the report.
        validation_split: the split whose zero-shot scores choose the
            operating points' thresholds (`None`, or a split without rows:
            chosen on the test split, which flatters them).
        specificity: the target of the fixed-specificity operating point.
        calibration_bins: bins of the calibration error and diagram.
        localization: `"auto"` (pointing game when the records carry
            SynthCXR `findings`), `True` or `False`.

    Returns:
        dict with `zero_shot`, `clinical` (`metrics.clinical_metrics`),
        `retrieval`, `cxr_align` (or None), `linear_probe` (or None),
        `localization` (`localization.evaluate_localization`, or None),
        `similarity_batch`, `warnings` (the unique messages about
        undefined metrics, each also warned once), `seconds`, and
        `report` (the path, or None).

    Example:
    >>> class Fake:  # embeds an image as itself, a text by its length
    ...     embedding_dim = 2
    ...     def convert_images(self, x):
    ...         return np.asarray(x, "float32").reshape(len(x), -1)
    ...     def encode_images(self, x):
    ...         return x
    ...     def tokenize(self, texts):
    ...         ids = np.array([[len(t) % 2, 1 - len(t) % 2] for t in texts])
    ...         return {"token_ids": ids, "padding_mask": ids >= 0}
    ...     def encode_texts(self, ids, mask):
    ...         return ids.astype("float32")
    >>> records = {"id": ["a", "b"], "split": ["test", "test"],
    ...            "image": np.array([[1.0, 0.0], [0.0, 1.0]]),
    ...            "report": ["odd", "even"], "labels": np.ones((2, 1))}
    >>> fake = Fake()
    >>> result = evaluate_records(
    ...     fake, fake, records, findings=["Edema"], n_bootstrap=0,
    ...     probe_fractions=(), figures=False)
    >>> result["retrieval"]["image_to_text"]["R@1"]
    1.0
    """
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = _evaluate(
            backbone,
            preprocessor,
            records,
            split,
            train_split,
            findings,
            prompts,
            cxr_align,
            uncertain,
            blank,
            n_bootstrap,
            seed,
            probe_fractions,
            ks,
            batch_size,
            progress,
            validation_split,
            specificity,
            calibration_bins,
            localization,
        )
    # Each undefined metric is reported once (not once per resample).
    messages = list(
        dict.fromkeys(
            str(w.message)
            for w in caught
            if issubclass(w.category, UserWarning)
        )
    )
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=2)
    result["warnings"] = messages
    result["seconds"] = time.time() - start
    result["report"] = None
    if output_dir is not None:
        from keras_clinclip.evaluation.report import write_report

        result["report"] = write_report(
            output_dir,
            zero_shot=result["zero_shot"],
            clinical=result["clinical"],
            localization=result["localization"],
            retrieval=result["retrieval"],
            cxr_align=result["cxr_align"],
            linear_probe=result["linear_probe"],
            history=history,
            similarity_batch=result["similarity_batch"],
            title=title,
            notes=notes,
            figures=figures,
            messages=messages,
        )
    return result


def _evaluate(
    backbone,
    preprocessor,
    records,
    split,
    train_split,
    findings,
    prompts,
    cxr_align,
    uncertain,
    blank,
    n_bootstrap,
    seed,
    probe_fractions,
    ks,
    batch_size,
    progress,
    validation_split="validate",
    specificity=0.9,
    calibration_bins=10,
    localization="auto",
):
    if findings is None:
        from keras_clinclip.reports import CHEXPERT_OBSERVATIONS

        findings = list(CHEXPERT_OBSERVATIONS)
    findings = list(findings)
    test = select_split(records, split)
    if not len(test.get("report", [])):
        raise ValueError(
            f"no records in split {split!r} (splits present: "
            f"{sorted(set(records.get('split', [])))})"
        )
    labels = np.asarray(test["labels"], dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != len(findings):
        raise ValueError(
            f"labels have shape {labels.shape} but {len(findings)} findings "
            "were named"
        )
    images, image_preprocessor = _images_of(test, preprocessor)
    image_emb = embed_images(
        backbone, images, image_preprocessor, batch_size, progress
    )
    report_emb = embed_texts(
        backbone, test["report"], preprocessor, batch_size, progress
    )

    # --- Zero-shot ---
    from keras_clinclip.models.clinclip_prompts import prompt_pairs

    pairs = prompt_pairs(findings, overrides=prompts)
    _, positives, negatives = embed_prompt_pairs(
        backbone, preprocessor, pairs, batch_size
    )
    scale = getattr(backbone, "logit_scale", 100.0)
    if not isinstance(scale, (int, float)):
        scale = 100.0
    zero_shot = zero_shot_evaluate(
        image_emb,
        labels,
        positives,
        negatives,
        findings,
        logit_scale=scale,
        uncertain=uncertain,
        blank=blank,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )

    # --- Clinical metrics: thresholds from the validation split ---
    val_labels = val_scores = None
    if validation_split is not None and "split" in records:
        val = select_split(records, validation_split)
        if len(val.get("report", [])):
            val_images, val_preprocessor = _images_of(val, preprocessor)
            val_emb = embed_images(
                backbone, val_images, val_preprocessor, batch_size, progress
            )
            val_scores = zero_shot_scores(
                val_emb, positives, negatives, logit_scale=scale
            )
            val_labels = np.asarray(val["labels"], dtype=np.float64)
    clinical = clinical_metrics(
        labels,
        zero_shot["scores"],
        findings,
        val_labels,
        val_scores,
        specificity=specificity,
        n_bins=calibration_bins,
        uncertain=uncertain,
        blank=blank,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )

    # --- Localisation (SynthCXR: the drawn regions are known) ---
    located = None
    if localization is True or (
        localization == "auto" and "findings" in test and "image" in test
    ):
        located = evaluate_localization(
            backbone,
            preprocessor,
            test,
            prompts=prompts,
            batch_size=batch_size,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )

    # --- Retrieval ---
    retrieval = retrieval_metrics(
        image_emb,
        report_emb,
        text_groups=group_identical_texts(test["report"]),
        ks=ks,
    )

    # --- CXR-Align ---
    align = None
    if cxr_align is None:
        cxr_align = cxr_align_from_records(test)
    if cxr_align is not None:
        ids = [str(i) for i in test["id"]]
        by_id = dict(zip(ids, images))
        align = evaluate_cxr_align(
            backbone,
            image_preprocessor,
            cxr_align,
            by_id,
            batch_size=batch_size,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )

    # --- Linear probe ---
    probe = None
    if train_split is not None and probe_fractions:
        train = select_split(records, train_split)
        if len(train.get("report", [])):
            train_images, train_preprocessor = _images_of(train, preprocessor)
            train_emb = embed_images(
                backbone,
                train_images,
                train_preprocessor,
                batch_size,
                progress,
            )
            probe = linear_probe(
                train_emb,
                train["labels"],
                image_emb,
                labels,
                findings,
                fractions=probe_fractions,
                seed=seed,
                uncertain=uncertain,
                blank=blank,
            )

    return {
        "zero_shot": zero_shot,
        "clinical": clinical,
        "localization": located,
        "retrieval": retrieval,
        "cxr_align": align,
        "linear_probe": probe,
        "similarity_batch": (image_emb[:16], report_emb[:16]),
    }
