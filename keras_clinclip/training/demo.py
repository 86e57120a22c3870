"""`clinclip demo`: the main job on the embedded data, end to end.

1. **prepare**: the IU X-ray reports (from the installed `torchxrayvision`
   package) with SynthCXR images rendered from their MeSH tags, CheXpert
   labels, negated/omitted variants and report graphs
   (`keras_clinclip.data.iu_xray`, cached after the first run);
2. **baseline**: the same model, untrained, evaluated on the test split;
3. **train**: ClinCLIP with the full method (`--loss=full`: text +
   clinical + graph soft labels, negation hard negatives, graph
   alignment) through `keras_clinclip.training.train.train`;
4. **evaluate**: zero-shot AUROC per finding with AUPRC, operating points
   (thresholds from the validation split), calibration before and after
   temperature scaling (fitted on the validation split), retrieval R@K,
   CXR-Align Task A/B, a linear probe, and localisation maps scored with
   the pointing game against the regions SynthCXR drew, on the test split
   (`keras_clinclip.evaluation.evaluate_records`);
5. **report**: `report.md` with tables and PNG figures, `summary.json`
   and trained-vs-untrained tables (headline metrics, localisation), in
   `--output-dir`; the preset (`<output-dir>/preset`) gets the default
   zero-shot calibration (a temperature and a bias per finding, fitted on
   the validation split), which `clinclip classify` applies.

The demo's configuration is `TrainingConfig()` with `DEMO_DEFAULTS`:
`image_size=64`, `trainable_text_layers=1`, `epochs=2`,
`output_dir=runs/demo`; it fits a 2-core CPU in about 15 minutes from a
warm cache. `--quick` is a few-minute version with `QUICK_OVERRIDES`:
`num_samples=960` studies, `max_length=48` tokens. Every `TrainingConfig`
field is an option (`clinclip demo --help`).
"""

import dataclasses
import json
import pathlib
import time

import keras

from keras_clinclip.evaluation import EvaluationOptions
from keras_clinclip.evaluation import ReportOptions
from keras_clinclip.evaluation.calibration import save_calibration_to_preset
from keras_clinclip.evaluation.cxr_align_families import cross_family_cxr_align
from keras_clinclip.evaluation.cxr_align_families import family_headline
from keras_clinclip.evaluation.cxr_align_families import (
    format_cross_family_table,
)
from keras_clinclip.evaluation.evaluate import evaluate_records
from keras_clinclip.evaluation.report_tables import format_localization_table
from keras_clinclip.reports.negation_mix import format_rejection_rates
from keras_clinclip.training import builders
from keras_clinclip.training.config import DEMO_DEFAULTS
from keras_clinclip.training.config import QUICK_OVERRIDES
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.config import config_from_args
from keras_clinclip.training.train import build_model
from keras_clinclip.training.train import train


def demo_config(args):
    """The `TrainingConfig` of parsed demo arguments (with `--quick`).

    Options given explicitly on the command line win over `--quick`.
    """
    values = config_from_args(args).to_dict()
    if getattr(args, "quick", False):
        defaults = dataclasses.replace(
            TrainingConfig(), **DEMO_DEFAULTS
        ).to_dict()
        for key, value in QUICK_OVERRIDES.items():
            if values[key] == defaults[key]:
                values[key] = value
    return TrainingConfig.from_dict(values)


def _headline(result):
    """The numbers of the summary table from an `evaluate_records` result."""
    row = {}
    zero_shot = result.get("zero_shot") or {}
    row["zero-shot macro AUROC"] = zero_shot.get("macro", {}).get("auroc")
    clinical = (result.get("clinical") or {}).get("macro", {})
    row["zero-shot macro AUPRC"] = clinical.get("auprc")
    row["zero-shot macro ECE (lower is better)"] = clinical.get("ece")
    # After calibration (fitted on validate): the default (a temperature
    # and a bias per finding, what the preset carries), then temperature
    # scaling alone, which cannot reach it (`evaluation.calibration`).
    calibrated = result.get("calibration") or {}
    for mode, label in (
        ("per_finding_bias", "calibrated (T and bias per finding, default)"),
        ("per_finding", "temperature only, per finding"),
        ("shared", "temperature only, shared"),
    ):
        ece = calibrated.get(mode, {}).get("calibration", {}).get("macro", {})
        row[f"macro ECE, {label}"] = ece.get("ece")
    located = (result.get("localization") or {}).get("scores", {})
    everything = located.get("all", {})
    row["pointing game (all findings)"] = everything.get("pointing")
    row["map mass inside the region"] = everything.get("mass")
    retrieval = result.get("retrieval") or {}
    for direction, short in (
        ("image_to_text", "i2t"),
        ("text_to_image", "t2i"),
    ):
        row[f"R@5 {short}"] = retrieval.get(direction, {}).get("R@5")
    tasks = (result.get("cxr_align") or {}).get("tasks", {})
    for task in ("A", "B"):
        row[f"CXR-Align Task {task}"] = tasks.get(task, {}).get("score")
    probe = result.get("linear_probe") or {}
    for key, value in probe.items() if isinstance(probe, dict) else ():
        if str(key) in ("0.1", "10%") and isinstance(value, dict):
            row["linear probe 10% AUROC"] = value.get("macro", {}).get("auroc")
    return row


def summary_table(baseline, trained):
    """A Markdown table of the headline metrics, untrained vs trained.

    Args:
        baseline: the untrained model's headline dict (or None).
        trained: the trained model's headline dict.

    Example:
    >>> print(summary_table({"m": 0.5}, {"m": 0.75}))
    | metric | untrained | trained |
    | --- | --- | --- |
    | m | 0.500 | 0.750 |
    """

    def cell(value):
        return "n/a" if value is None else f"{value:.3f}"

    lines = ["| metric | untrained | trained |", "| --- | --- | --- |"]
    for key, value in trained.items():
        before = None if baseline is None else baseline.get(key)
        lines.append(f"| {key} | {cell(before)} | {cell(value)} |")
    return "\n".join(lines)


def _evaluate(
    model,
    preprocessor,
    records,
    config,
    n_bootstrap,
    quick,
    output_dir=None,
    history=None,
    notes=None,
    probe=True,
):
    return evaluate_records(
        model,
        preprocessor,
        records,
        EvaluationOptions(
            split="test",
            train_split="train",
            n_bootstrap=n_bootstrap,
            seed=config.seed,
            probe_fractions=()
            if not probe
            else ((0.1,) if quick else (0.01, 0.1, 1.0)),
            batch_size=config.batch_size,
            progress=bool(config.verbose),
        ),
        report=None
        if output_dir is None
        else ReportOptions(
            output_dir,
            history=history,
            title="keras_clinclip demo: ClinCLIP on IU X-ray + SynthCXR",
            notes=notes,
        ),
    )


def run_demo(config, quick=False, baseline=True, n_bootstrap=200):
    """Prepare, train, evaluate and report; returns the summary dict.

    Args:
        config: a `TrainingConfig` (the demo's: `TrainingConfig()` with
            `DEMO_DEFAULTS`).
        quick: evaluate with the lighter settings of `--quick`.
        baseline: also evaluate the untrained model.
        n_bootstrap: bootstrap resamples of the confidence intervals.

    Returns:
        A dict with `trained` and `untrained` headline metrics, `timings`
        (seconds per stage), `config`, `steps`, and `report` (the path).
    """
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}

    start = time.time()
    print(
        f"[1/4] Preparing the data ({config.dataset}, "
        f"{config.image_size}px images)...",
        flush=True,
    )
    records = builders.load_records(config)
    preprocessor = builders.build_preprocessor(config)
    data = builders.build_training_data(
        config, records=records, preprocessor=preprocessor
    )
    records = data.records
    counts = {
        s: list(records["split"]).count(s)
        for s in ("train", "validate", "test")
    }
    timings["prepare"] = time.time() - start
    print(f"      {counts} studies in {timings['prepare']:.0f} s", flush=True)

    untrained = None
    untrained_maps = None
    if baseline:
        start = time.time()
        print("[2/4] Evaluating the untrained model (baseline)...", flush=True)
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, data)
        result = _evaluate(
            model,
            preprocessor,
            records,
            config,
            n_bootstrap=0,
            quick=True,
            probe=False,
        )
        untrained = _headline(result)
        untrained_maps = (result.get("localization") or {}).get("scores")
        timings["baseline"] = time.time() - start
        del model

    start = time.time()
    print(f"[3/4] Training ClinCLIP ({config.loss})...", flush=True)
    trained_run = train(config, data=data)
    timings["train"] = time.time() - start

    start = time.time()
    print("[4/4] Evaluating and writing the report...", flush=True)
    notes = (
        f"Trained with `{config.loss}` for {trained_run.steps} steps "
        f"(global batch {config.batch_size}, {config.image_size}px images, "
        f"reports truncated to {config.max_length} tokens) on "
        f"{keras.backend.backend()}. Data: {counts}. Configuration in "
        "`config.json`."
    )
    result = _evaluate(
        trained_run.model,
        preprocessor,
        records,
        config,
        n_bootstrap=n_bootstrap,
        quick=quick,
        output_dir=out,
        history=trained_run.history,
        notes=notes,
    )
    trained = _headline(result)
    if result.get("calibration") and (out / "preset").is_dir():
        save_calibration_to_preset(
            result["calibration"], out / "preset", fitted_on="validate"
        )
    # Empty families: the dataset's own negations (IU, synthetic), the
    # templates'.
    families = cross_family_cxr_align(
        trained_run.model,
        preprocessor,
        records,
        config.negation_families or "templates",
        batch_size=config.batch_size,
        seed=config.seed,
    )
    trained.update(family_headline(families))
    timings["evaluate"] = time.time() - start

    table = summary_table(untrained, trained)
    trained_maps = (result.get("localization") or {}).get("scores")
    report = result.get("report")
    family_table = format_cross_family_table(families)
    rejected = format_rejection_rates(families["rejected"])
    if report:
        with open(report, "a") as handle:
            handle.write(
                "\n## CXR-Align: same-family and cross-family\n\n"
                "The test items negated by every negation family; "
                "training used the families marked yes (see "
                "docs/evaluation.md).\n\n"
                f"{family_table}\n\n{rejected}.\n"
            )
            handle.write(
                "\n## Trained vs untrained (same architecture, "
                "same seed)\n\n" + table + "\n"
            )
            if trained_maps:
                handle.write(
                    "\n## Localisation: trained vs untrained\n\n"
                    "Pointing game and map mass inside the drawn region "
                    "per finding (test split; chance = area share).\n\n"
                    + format_localization_table(
                        trained_maps, untrained_maps or {}
                    )
                    + "\n"
                )
    summary = {
        "trained": trained,
        "untrained": untrained,
        "cxr_align_families": families,
        "localization": {
            "trained": trained_maps,
            "untrained": untrained_maps,
        },
        "timings": timings,
        "steps": trained_run.steps,
        "backend": keras.backend.backend(),
        "config": config.to_dict(),
        "report": str(report) if report else None,
    }
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, default=float) + "\n"
    )
    print("\n" + table)
    print("\n" + family_table + "\n" + rejected)
    print("\nTimes: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(f"Report: {report}")
    return summary


def run(args):
    """Run `clinclip demo`; returns the exit code."""
    config = demo_config(args)
    run_demo(
        config,
        quick=args.quick,
        baseline=args.baseline,
        n_bootstrap=args.n_bootstrap,
    )
    return 0
