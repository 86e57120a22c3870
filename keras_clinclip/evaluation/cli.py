"""`clinclip evaluate`: evaluate a saved preset and print the tables.

This is the evaluate subcommand only; the `clinclip` command itself (its
parser and the table of subcommands) is `keras_clinclip.cli`.

    clinclip evaluate --preset DIR --data iu --output eval_out

`--data` is one of:

- `iu`: the embedded IU X-ray + SynthCXR dataset
  (`keras_clinclip.data.iu_xray`);
- `synthetic` or `synthetic:N`: N template pairs
  (`keras_clinclip.data.synthetic_pairs`);
- a `.npz` file of record columns (`id`, `report`, `image` (N, H, W)
  uint8, `labels` (N, 14), `split`, optional `negations`);
- a `.csv` / `.jsonl` file (`keras_clinclip.data`'s generic loader).

It prints the zero-shot, retrieval, CXR-Align and linear-probe tables and,
with `--output`, writes the Markdown report with figures.
"""

import numpy as np

from keras_clinclip.data import ImageDecodeError
from keras_clinclip.data import decode_image
from keras_clinclip.data import select
from keras_clinclip.data import sources
from keras_clinclip.evaluation.cxr_align_families import cross_family_cxr_align
from keras_clinclip.evaluation.cxr_align_families import (
    format_cross_family_table,
)
from keras_clinclip.evaluation.evaluate import evaluate_records
from keras_clinclip.evaluation.evaluation_options import EvaluationOptions
from keras_clinclip.evaluation.model_loading import load_preset_model
from keras_clinclip.evaluation.report_options import ReportOptions
from keras_clinclip.evaluation.report_tables import format_cxr_align_table
from keras_clinclip.evaluation.report_tables import format_linear_probe_table
from keras_clinclip.evaluation.report_tables import format_retrieval_table
from keras_clinclip.evaluation.report_tables import format_zero_shot_table
from keras_clinclip.models.clinclip_prompts import load_prompts
from keras_clinclip.reports.negation_mix import format_rejection_rates

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
