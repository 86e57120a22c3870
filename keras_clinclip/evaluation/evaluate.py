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

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import ImageDecodeError
from keras_clinclip.data import decode_image
from keras_clinclip.data import select
from keras_clinclip.data import sources
from keras_clinclip.evaluation.calibration import temperature_scaling
from keras_clinclip.evaluation.cxr_align import evaluate_cxr_align
from keras_clinclip.evaluation.cxr_align_families import cross_family_cxr_align
from keras_clinclip.evaluation.cxr_align_families import (
    format_cross_family_table,
)
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.embed import images_of
from keras_clinclip.evaluation.evaluation_options import EvaluationOptions
from keras_clinclip.evaluation.finding_labels import finding_labels
from keras_clinclip.evaluation.metrics import clinical_metrics
from keras_clinclip.evaluation.model_loading import load_preset_model
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.report import write_report
from keras_clinclip.evaluation.report_options import ReportOptions
from keras_clinclip.evaluation.report_tables import format_cxr_align_table
from keras_clinclip.evaluation.report_tables import format_linear_probe_table
from keras_clinclip.evaluation.report_tables import format_retrieval_table
from keras_clinclip.evaluation.report_tables import format_zero_shot_table
from keras_clinclip.evaluation.retrieval import group_identical_texts
from keras_clinclip.evaluation.retrieval import retrieval_metrics
from keras_clinclip.evaluation.synthcxr_localization import (
    evaluate_localization,
)
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot import zero_shot_evaluate
from keras_clinclip.evaluation.zero_shot import zero_shot_logits
from keras_clinclip.models.clinclip_prompts import load_prompts
from keras_clinclip.models.clinclip_prompts import prompt_pairs
from keras_clinclip.reports.negation_mix import format_rejection_rates


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


@dataclasses.dataclass(frozen=True)
class _Split:
    """One split embedded once: its rows, labels, images and embeddings."""

    records: dict
    labels: np.ndarray
    images: np.ndarray
    image_preprocessor: object
    image_emb: np.ndarray


def _embed_split(backbone, preprocessor, records, split, findings, options):
    """`split` of `records` embedded once for every section (None when the
    split has no rows)."""
    rows = select_split(records, split)
    if not len(rows.get("report", [])):
        return None
    images, image_preprocessor = images_of(rows, preprocessor)
    image_emb = embed_images(
        backbone,
        images,
        image_preprocessor,
        options.batch_size,
        options.progress,
    )
    return _Split(
        records=rows,
        labels=finding_labels(rows["labels"], findings),
        images=images,
        image_preprocessor=image_preprocessor,
        image_emb=image_emb,
    )


def evaluate_records(
    backbone, preprocessor, records, options=None, report=None
):
    """Zero-shot, retrieval, CXR-Align, linear probe and more on records.

    Each split is embedded once: the test split's image embeddings feed
    zero-shot, retrieval, CXR-Align and the probe's test side; the
    validation split's the operating points and calibration; the training
    split's the probe.

    Args:
        backbone: a `ClinCLIPBackbone` (`encode_images`, `encode_texts`).
        preprocessor: its `ClinCLIPPreprocessor`.
        records: the loader's dict of columns (see the module doc).
        options: an `EvaluationOptions` (default `None`:
            `EvaluationOptions()`, the test split against the 14 CheXpert
            observations, 1000 bootstrap resamples).
        report: a `ReportOptions` to write the Markdown report (default
            `None`: no report).

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
    >>> result = evaluate_records(fake, fake, records, EvaluationOptions(
    ...     findings=["Edema"], n_bootstrap=0, probe_fractions=()))
    >>> result["retrieval"]["image_to_text"]["R@1"]
    1.0
    """
    options = EvaluationOptions() if options is None else options
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
    if report is not None:
        result["report"] = write_report(
            report.output_dir,
            zero_shot=result["zero_shot"],
            clinical=result["clinical"],
            calibration=result["calibration"],
            localization=result["localization"],
            retrieval=result["retrieval"],
            cxr_align=result["cxr_align"],
            linear_probe=result["linear_probe"],
            history=report.history,
            similarity_batch=result["similarity_batch"],
            title=report.title,
            notes=report.notes,
            figures=report.figures,
            messages=messages,
        )
    return result


def _evaluate(backbone, preprocessor, records, options):
    """The sections of `evaluate_records`, each split embedded once."""
    findings = list(
        CHEXPERT_OBSERVATIONS if options.findings is None else options.findings
    )

    def embed(split):
        return _embed_split(
            backbone, preprocessor, records, split, findings, options
        )

    test = embed(options.split)
    if test is None:
        raise ValueError(
            f"no records in split {options.split!r} (splits present: "
            f"{sorted(set(records.get('split', [])))})"
        )
    report_emb = embed_texts(
        backbone,
        test.records["report"],
        preprocessor,
        options.batch_size,
        options.progress,
    )
    zero_shot, clinical, calibration = _zero_shot(
        backbone, preprocessor, test, records, embed, findings, options
    )
    return {
        "zero_shot": zero_shot,
        "clinical": clinical,
        "calibration": calibration,
        "localization": _localization(backbone, preprocessor, test, options),
        "retrieval": retrieval_metrics(
            test.image_emb,
            report_emb,
            text_groups=group_identical_texts(test.records["report"]),
            ks=options.ks,
        ),
        "cxr_align": _cxr_align(backbone, test, options),
        "linear_probe": _linear_probe(test, embed, findings, options),
        "similarity_batch": (test.image_emb[:16], report_emb[:16]),
    }


def _zero_shot(backbone, preprocessor, test, records, embed, findings, options):
    """Zero-shot AUROC, the clinical metrics at thresholds chosen on the
    validation split, and temperature scaling fitted on it."""
    pairs = prompt_pairs(findings, overrides=options.prompts)
    _, positives, negatives = embed_prompt_pairs(
        backbone, preprocessor, pairs, options.batch_size
    )
    scale = getattr(backbone, "logit_scale", 100.0)
    if not isinstance(scale, (int, float)):
        scale = 100.0
    labels_options = dict(uncertain=options.uncertain, blank=options.blank)
    bootstrap = dict(n_bootstrap=options.n_bootstrap, seed=options.seed)
    zero_shot = zero_shot_evaluate(
        test.image_emb,
        test.labels,
        positives,
        negatives,
        findings,
        logit_scale=scale,
        **labels_options,
        **bootstrap,
    )
    val = None
    if options.validation_split is not None and "split" in records:
        val = embed(options.validation_split)
    val_labels = val_scores = None
    if val is not None:
        val_logits = zero_shot_logits(
            val.image_emb, positives, negatives, logit_scale=scale
        )
        val_scores = 0.5 * (1.0 + np.tanh(0.5 * val_logits))
        val_labels = val.labels
    clinical = clinical_metrics(
        test.labels,
        zero_shot["scores"],
        findings,
        val_labels,
        val_scores,
        specificity=options.specificity,
        n_bins=options.calibration_bins,
        **labels_options,
        **bootstrap,
    )
    calibration = None
    if val is not None:
        calibration = temperature_scaling(
            val_logits,
            val_labels,
            zero_shot["logits"],
            test.labels,
            findings,
            n_bins=options.calibration_bins,
            **labels_options,
        )
    return zero_shot, clinical, calibration


def _localization(backbone, preprocessor, test, options):
    """The pointing game on SynthCXR records (the drawn regions are known),
    or None."""
    wanted = options.localization is True or (
        options.localization == "auto"
        and "findings" in test.records
        and "image" in test.records
    )
    if not wanted:
        return None
    return evaluate_localization(
        backbone,
        preprocessor,
        test.records,
        prompts=options.prompts,
        batch_size=options.batch_size,
        n_bootstrap=options.n_bootstrap,
        seed=options.seed,
    )


def _cxr_align(backbone, test, options):
    """CXR-Align on the test split's image embeddings, or None."""
    cxr_align = options.cxr_align
    if cxr_align is None:
        cxr_align = cxr_align_from_records(test.records)
    if cxr_align is None:
        return None
    ids = [str(i) for i in test.records["id"]]
    return evaluate_cxr_align(
        backbone,
        test.image_preprocessor,
        cxr_align,
        dict(zip(ids, test.image_emb)),
        embedded=True,
        batch_size=options.batch_size,
        n_bootstrap=options.n_bootstrap,
        seed=options.seed,
    )


def _linear_probe(test, embed, findings, options):
    """The linear probe trained on the training split, or None."""
    if options.train_split is None or not options.probe_fractions:
        return None
    train = embed(options.train_split)
    if train is None:
        return None
    return linear_probe(
        train.image_emb,
        train.labels,
        test.image_emb,
        test.labels,
        findings,
        fractions=options.probe_fractions,
        seed=options.seed,
        uncertain=options.uncertain,
        blank=options.blank,
    )


# `clinclip evaluate` (its options: `keras_clinclip.cli.evaluate`).

FRACTIONS = "0.01,0.1,1.0"


def _limit(records, max_samples, seed):
    """At most `max_samples` random rows per split (seeded)."""
    if not max_samples:
        return records
    rng = np.random.default_rng(seed)
    splits = records.get("split")
    if splits is None:
        splits = [None] * len(records["report"])
    groups = {}
    for i, name in enumerate(splits):
        groups.setdefault(name, []).append(i)
    keep = []
    for indices in groups.values():
        if len(indices) > max_samples:
            indices = rng.choice(indices, max_samples, replace=False)
        keep.extend(int(i) for i in indices)
    keep.sort()
    return select(records, np.asarray(keep, np.int64))


def load_records(
    spec, seed=0, image_size=224, on_error="raise", table_options=None
):
    """Resolve a `--data` value to a records dict.

    Args:
        spec: a dataset string (`keras_clinclip.data.sources`): `iu`,
            `synthetic[:N]`, `mimic-cxr:ROOT`, `chexpert:ROOT`, or a
            `.npz` / `.csv` / `.jsonl` path. A table without labels gets
            the labeler's (the run says so on stderr).
        seed: the seed of generated data.
        image_size: the side of rendered images (`iu`, `synthetic`).
        on_error: for a `.csv` / `.jsonl` table, `raise` on a bad row or
            `skip` it (`keras_clinclip.data.load_records`).
        table_options: `image_column`, `report_column`, `image_root` of
            a table.

    Returns:
        a dict of equal-length columns.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
    >>> np.savez(path, id=["1"], report=["Clear."], split=["test"],
    ...          image=np.zeros((1, 8, 8), "uint8"), labels=np.zeros((1, 14)))
    >>> load_records(path)["report"]
    ['Clear.']
    """
    spec = str(spec)
    if spec in ("iu", "iu_xray"):
        image_size = max(int(image_size), 64)
    return sources.load_source(
        spec,
        image_size=image_size,
        seed=seed,
        on_error=on_error,
        table_options=table_options,
    )


def skip_unreadable_images(records, splits):
    """Leave out the rows of `splits` whose image file cannot be decoded.

    Args:
        records: a records dict; only an `image_path` column is checked
            (in-memory images are always readable).
        splits: the split names to check (other rows are kept as is).

    Returns:
        `(records, skipped)`: the records without those rows and a list of
        `(row, path, reason)`.

    Example:
    >>> import os, tempfile
    >>> bad = os.path.join(tempfile.mkdtemp(), "bad.png")
    >>> _ = open(bad, "wb").write(b"not an image")
    >>> records = {"id": ["a"], "report": ["Clear."], "split": ["test"],
    ...            "image_path": [bad], "labels": np.zeros((1, 14))}
    >>> kept, skipped = skip_unreadable_images(records, ["test"])
    >>> len(kept["id"]), skipped[0][0]
    (0, 0)
    """
    if "image_path" not in records or "image" in records:
        return records, []
    splits = set(splits)
    row_splits = records.get("split")
    if row_splits is None:
        row_splits = [None] * len(records["id"])
    keep, skipped = [], []
    for row, path in enumerate(records["image_path"]):
        if splits and row_splits[row] not in splits:
            keep.append(row)
            continue
        try:
            decode_image(path)
        except ImageDecodeError as error:
            skipped.append((row, str(path), str(error)))
            continue
        keep.append(row)
    if not skipped:
        return records, []
    return select(records, np.asarray(keep, np.int64)), skipped


def run(args):
    """Run `clinclip evaluate` with parsed arguments; returns 0 on success.

    Example:
    >>> import argparse
    >>> from keras_clinclip.cli import evaluate
    >>> parser = argparse.ArgumentParser()
    >>> evaluate.add_arguments(parser)
    >>> args = parser.parse_args(["--preset", "/nonexistent", "--data",
    ...                           "synthetic:4"])
    >>> try:
    ...     run(args)
    ... except FileNotFoundError as error:
    ...     print(error)
    --preset '/nonexistent' does not exist
    """
    sources.check_spec(args.data)  # a bad --data: one line, before loading
    backbone, preprocessor = load_preset_model(args.preset)
    on_error = getattr(args, "on_error", "raise")
    records = _limit(
        load_records(
            args.data,
            args.seed,
            on_error=on_error,
            table_options={
                key: getattr(args, key, "")
                for key in ("image_column", "report_column", "image_root")
            },
        ),
        args.max_samples,
        args.seed,
    )
    skipped = []
    if on_error == "skip":
        splits = [args.split] + ([args.train_split] if args.train_split else [])
        records, skipped = skip_unreadable_images(records, splits)
    prompts = None
    if args.prompts:
        prompts = load_prompts(args.prompts)
    findings = (
        [f.strip() for f in args.findings.split(",") if f.strip()]
        if args.findings
        else None
    )
    fractions = tuple(
        float(f) for f in args.probe_fractions.split(",") if f.strip()
    )
    notes = (
        f"Preset `{args.preset}`, data `{args.data}`, split "
        f"`{args.split}`; command: `clinclip evaluate --preset "
        f"{args.preset} --data {args.data}`."
    )
    result = evaluate_records(
        backbone,
        preprocessor,
        records,
        EvaluationOptions(
            split=args.split,
            train_split=args.train_split or None,
            findings=findings,
            prompts=prompts,
            cxr_align=args.cxr_align,
            uncertain=args.uncertain,
            blank=args.blank,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            probe_fractions=fractions,
            batch_size=args.batch_size,
            progress=True,
        ),
        report=None
        if args.output is None
        else ReportOptions(args.output, notes=notes, figures=args.plots),
    )
    print("\nZero-shot classification (AUROC, 95% CI)\n")
    print(format_zero_shot_table(result["zero_shot"]))
    print("\nRetrieval\n")
    print(format_retrieval_table(result["retrieval"]))
    if result["cxr_align"] is not None:
        print("\nCXR-Align\n")
        print(format_cxr_align_table(result["cxr_align"]))
    if records.get("negated_findings") is not None:
        # The datasets' own negations are the templates family's.
        families = cross_family_cxr_align(
            backbone,
            preprocessor,
            records,
            args.negation_families or "templates",
            split=args.split,
            official=args.cxr_align,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        print("\nCXR-Align by negation family (same- vs cross-family)\n")
        print(format_cross_family_table(families))
        print(format_rejection_rates(families["rejected"]))
    if result["linear_probe"] is not None:
        print("\nLinear probe (test AUROC)\n")
        print(format_linear_probe_table(result["linear_probe"]))
    print(f"\nEvaluated in {result['seconds']:.1f} s.")
    if on_error == "skip":
        line = f"Skipped (--on-error skip): {len(skipped)} unreadable image(s)"
        if skipped:
            line += "; first: " + "; ".join(
                f"row {row} ({path})" for row, path, _ in skipped[:3]
            )
        print(line)
    if result["report"] is not None:
        print(f"Report: {result['report']}")
    return 0
