"""The whole evaluation of a model on a records dict, in one call.

`evaluate_records(backbone, preprocessor, records)` embeds the images and
reports of the test split once and runs zero-shot classification with its
clinical metrics (AUPRC, operating points chosen on the validation split,
calibration, temperature scaling fitted on the validation split),
retrieval, CXR-Align (when a CXR-Align dict is given or the
records carry negated reports), the linear probe (when a training split
exists) and, on SynthCXR records, localisation (pointing game), then
optionally writes the Markdown report. `clinclip evaluate` and
`clinclip demo` both call it.

Records follow the loader contract of `docs/architecture.md`: equal-length
columns `id`, `image` (uint8 (N, H, W)) or `image_path`, `report`,
`labels` (N, 14) in `CHEXPERT_OBSERVATIONS` order, `split`, and
optionally `negations` / `omissions` (lists of texts per study).
"""

import dataclasses
import time
import warnings
from collections.abc import Sequence

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import select
from keras_clinclip.evaluation.calibration import temperature_scaling
from keras_clinclip.evaluation.cxr_align import evaluate_cxr_align
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.embed import images_of
from keras_clinclip.evaluation.finding_labels import finding_labels
from keras_clinclip.evaluation.metrics import clinical_metrics
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.report import write_report
from keras_clinclip.evaluation.retrieval import group_identical_texts
from keras_clinclip.evaluation.retrieval import retrieval_metrics
from keras_clinclip.evaluation.synthcxr_localization import (
    evaluate_localization,
)
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot import zero_shot_evaluate
from keras_clinclip.evaluation.zero_shot import zero_shot_logits
from keras_clinclip.models.clinclip_prompts import prompt_pairs


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """The settings of one `evaluate_records` run, handed to its steps.

    Args:
        **fields: `evaluate_records`'s keyword arguments of the same
            names (`split` ... `localization`, not the report's), with
            the same defaults and meanings.

    Example:
    >>> EvaluationOptions(n_bootstrap=0).split
    'test'
    """

    split: str | None = "test"
    train_split: str | None = "train"
    findings: Sequence[str] | None = None
    prompts: dict | None = None
    cxr_align: dict | str | None = None
    uncertain: str = "exclude"
    blank: str = "negative"
    n_bootstrap: int = 1000
    seed: int = 0
    probe_fractions: Sequence[float] = (0.01, 0.1, 1.0)
    ks: Sequence[int] = (1, 5, 10)
    batch_size: int = 32
    progress: bool = False
    validation_split: str | None = "validate"
    specificity: float = 0.9
    calibration_bins: int = 10
    localization: bool | str = "auto"


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
    return select(records, np.asarray(keep, np.int64))


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
        `calibration` (`calibration.temperature_scaling` fitted on the
        validation split, or None without one),
        `retrieval`, `cxr_align` (or None), `linear_probe` (or None),
        `localization` (`synthcxr_localization.evaluate_localization`, or
        None),
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
    options = EvaluationOptions(
        split=split,
        train_split=train_split,
        findings=findings,
        prompts=prompts,
        cxr_align=cxr_align,
        uncertain=uncertain,
        blank=blank,
        n_bootstrap=n_bootstrap,
        seed=seed,
        probe_fractions=probe_fractions,
        ks=ks,
        batch_size=batch_size,
        progress=progress,
        validation_split=validation_split,
        specificity=specificity,
        calibration_bins=calibration_bins,
        localization=localization,
    )
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = _evaluate(backbone, preprocessor, records, options)
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
        result["report"] = write_report(
            output_dir,
            zero_shot=result["zero_shot"],
            clinical=result["clinical"],
            calibration=result["calibration"],
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


def _evaluate(backbone, preprocessor, records, options):
    """The work of `evaluate_records`, with its settings in `options`."""
    findings = list(
        CHEXPERT_OBSERVATIONS if options.findings is None else options.findings
    )
    test = select_split(records, options.split)
    if not len(test.get("report", [])):
        raise ValueError(
            f"no records in split {options.split!r} (splits present: "
            f"{sorted(set(records.get('split', [])))})"
        )
    labels = finding_labels(test["labels"], findings)
    images, image_preprocessor = images_of(test, preprocessor)
    image_emb = embed_images(
        backbone,
        images,
        image_preprocessor,
        options.batch_size,
        options.progress,
    )
    report_emb = embed_texts(
        backbone,
        test["report"],
        preprocessor,
        options.batch_size,
        options.progress,
    )

    # --- Zero-shot ---
    pairs = prompt_pairs(findings, overrides=options.prompts)
    _, positives, negatives = embed_prompt_pairs(
        backbone, preprocessor, pairs, options.batch_size
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
        uncertain=options.uncertain,
        blank=options.blank,
        n_bootstrap=options.n_bootstrap,
        seed=options.seed,
    )

    # --- Clinical metrics: thresholds from the validation split ---
    val_labels = val_scores = None
    if options.validation_split is not None and "split" in records:
        val = select_split(records, options.validation_split)
        if len(val.get("report", [])):
            val_images, val_preprocessor = images_of(val, preprocessor)
            val_emb = embed_images(
                backbone,
                val_images,
                val_preprocessor,
                options.batch_size,
                options.progress,
            )
            val_logits = zero_shot_logits(
                val_emb, positives, negatives, logit_scale=scale
            )
            val_scores = 0.5 * (1.0 + np.tanh(0.5 * val_logits))
            val_labels = finding_labels(val["labels"], findings)
    clinical = clinical_metrics(
        labels,
        zero_shot["scores"],
        findings,
        val_labels,
        val_scores,
        specificity=options.specificity,
        n_bins=options.calibration_bins,
        uncertain=options.uncertain,
        blank=options.blank,
        n_bootstrap=options.n_bootstrap,
        seed=options.seed,
    )

    # --- Temperature scaling, fitted on the validation split ---
    calibration = None
    if val_labels is not None:
        calibration = temperature_scaling(
            val_logits,
            val_labels,
            zero_shot["logits"],
            labels,
            findings,
            n_bins=options.calibration_bins,
            uncertain=options.uncertain,
            blank=options.blank,
        )

    # --- Localisation (SynthCXR: the drawn regions are known) ---
    located = None
    if options.localization is True or (
        options.localization == "auto"
        and "findings" in test
        and "image" in test
    ):
        located = evaluate_localization(
            backbone,
            preprocessor,
            test,
            prompts=options.prompts,
            batch_size=options.batch_size,
            n_bootstrap=options.n_bootstrap,
            seed=options.seed,
        )

    # --- Retrieval ---
    retrieval = retrieval_metrics(
        image_emb,
        report_emb,
        text_groups=group_identical_texts(test["report"]),
        ks=options.ks,
    )

    # --- CXR-Align ---
    align = None
    cxr_align = options.cxr_align
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
            batch_size=options.batch_size,
            n_bootstrap=options.n_bootstrap,
            seed=options.seed,
        )

    # --- Linear probe ---
    probe = None
    if options.train_split is not None and options.probe_fractions:
        train = select_split(records, options.train_split)
        if len(train.get("report", [])):
            train_images, train_preprocessor = images_of(train, preprocessor)
            train_emb = embed_images(
                backbone,
                train_images,
                train_preprocessor,
                options.batch_size,
                options.progress,
            )
            probe = linear_probe(
                train_emb,
                finding_labels(train["labels"], findings),
                image_emb,
                labels,
                findings,
                fractions=options.probe_fractions,
                seed=options.seed,
                uncertain=options.uncertain,
                blank=options.blank,
            )

    return {
        "zero_shot": zero_shot,
        "clinical": clinical,
        "calibration": calibration,
        "localization": located,
        "retrieval": retrieval,
        "cxr_align": align,
        "linear_probe": probe,
        "similarity_batch": (image_emb[:16], report_emb[:16]),
    }
