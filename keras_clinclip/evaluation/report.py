"""Markdown evaluation reports: tables, figures and a JSON of the numbers.

`write_report(output_dir, ...)` takes the result dicts of
`zero_shot_evaluate`, `clinical_metrics`, `retrieval_metrics`,
`cxr_align_scores`, `linear_probe` and `evaluate_localization` (any
subset), draws the figures with
`keras_clinclip.evaluation.plots`, and writes `report.md`, the PNGs and
`results.json` into `output_dir`. The `format_*_table` functions return
the Markdown tables alone (the CLI prints them); they live in
`evaluation.report_tables`.
"""

import json
import math
import pathlib
import time

import numpy as np

from keras_clinclip.evaluation import plots
from keras_clinclip.evaluation.calibration import DEFAULT_MODE
from keras_clinclip.evaluation.calibration import format_calibration_table
from keras_clinclip.evaluation.report_tables import format_clinical_table
from keras_clinclip.evaluation.report_tables import format_cxr_align_table
from keras_clinclip.evaluation.report_tables import format_linear_probe_table
from keras_clinclip.evaluation.report_tables import format_localization_table
from keras_clinclip.evaluation.report_tables import format_retrieval_table
from keras_clinclip.evaluation.report_tables import format_zero_shot_table

__all__ = ["write_report"]


def _jsonable(value):
    if isinstance(value, dict):
        # Per-example arrays (scores, ranks, margins) stay out of the JSON.
        return {
            str(k): _jsonable(v)
            for k, v in value.items()
            if not isinstance(v, np.ndarray)
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    return value


def _summary(result):
    """A result dict without its per-example arrays (for results.json)."""
    if result is None:
        return None
    return _jsonable(result)


def write_report(
    output_dir,
    zero_shot=None,
    retrieval=None,
    cxr_align=None,
    linear_probe=None,
    history=None,
    similarity_batch=None,
    title="keras_clinclip evaluation",
    notes=None,
    figures=True,
    messages=None,
    clinical=None,
    localization=None,
    calibration=None,
):
    """Write `report.md`, its PNG figures and `results.json`.

    Args:
        output_dir: the directory (created).
        zero_shot: a `zero_shot_evaluate` result; with `"labels"` and
            `"scores"` in it, the ROC curves are drawn.
        retrieval: a `retrieval_metrics` result.
        cxr_align: a `cxr_align_scores` result (the margin histogram).
        linear_probe: a `linear_probe` result.
        history: a Keras History, its dict or a CSVLogger path (curves).
        similarity_batch: `(image_embeddings, text_embeddings)` of a few
            pairs for the similarity heat-map.
        title: the report's title.
        notes: optional Markdown text placed under the title (model,
            data, command).
        figures: draw the PNGs (needs matplotlib).
        messages: optional notes on undefined metrics (e.g. the
            `warnings` of `evaluate_records`), listed at the end.
        clinical: a `clinical_metrics` result (the operating points
            table and the reliability diagram).
        localization: an `evaluate_localization` result (the pointing
            game table and example maps).
        calibration: a `calibration.temperature_scaling` result (ECE
            before/after and the reliability diagram after).

    Returns:
        the `pathlib.Path` of `report.md`.

    Example:
    >>> import tempfile
    >>> from keras_clinclip.evaluation.retrieval import retrieval_metrics
    >>> out = tempfile.mkdtemp()
    >>> path = write_report(
    ...     out, retrieval=retrieval_metrics(np.eye(3), np.eye(3)),
    ...     figures=False)
    >>> path.name, "R@1" in path.read_text()
    ('report.md', True)
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", ""]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    lines.append(f"Written {stamp}.")
    lines.append("")
    if notes:
        lines += [notes.strip(), ""]

    def figure(name, draw, caption):
        if not figures:
            return
        draw(output_dir / name)
        lines.extend([f"![{caption}]({name})", ""])

    if zero_shot is not None:
        settings = zero_shot.get("settings", {})
        lines += [
            "## Zero-shot classification",
            "",
            "Positive/negative prompt pairs per finding, probability = "
            "softmax over the pair; AUROC on positive (1) vs negative "
            f"(uncertain: {settings.get('uncertain', '?')}, blank: "
            f"{settings.get('blank', '?')}); percentile bootstrap "
            f"{settings.get('n_bootstrap', 0)} resamples, seed "
            f"{settings.get('seed', '?')}.",
            "",
            format_zero_shot_table(zero_shot),
            "",
        ]
        if "labels" in zero_shot and "scores" in zero_shot:
            names = list(zero_shot["per_class"])
            figure(
                "roc_curves.png",
                lambda p: plots.plot_roc_curves(
                    zero_shot["labels"],
                    zero_shot["scores"],
                    names,
                    p,
                    uncertain=settings.get("uncertain", "exclude"),
                    blank=settings.get("blank", "negative"),
                ),
                "Zero-shot ROC curves per finding",
            )
    if clinical is not None:
        settings = clinical["settings"]
        chosen_on = {
            "validation": "on the validation split",
            "test": "on the test split itself (no usable validation "
            "split: optimistic)",
            "mixed": "on the validation split (on the test split for "
            "the findings without validation positives and negatives)",
        }[settings["selected_on"]]
        lines += [
            "## Operating points and calibration",
            "",
            "Zero-shot probabilities at two thresholds per finding, chosen "
            f"{chosen_on} and applied to the "
            "test split: Youden's J maximum and the lowest threshold with "
            f"specificity >= {settings['specificity']:g}; AUPRC (chance = "
            "prevalence) and expected calibration error over "
            f"{settings['n_bins']} equal-width bins; percentile bootstrap "
            f"{settings['n_bootstrap']} resamples of the test studies "
            "(thresholds held fixed).",
            "",
            format_clinical_table(clinical),
            "",
        ]
        figure(
            "reliability.png",
            lambda p: plots.plot_reliability_diagram(clinical, p),
            "Reliability diagrams of the zero-shot probabilities",
        )
    if calibration is not None:
        lines += [
            "## Calibration (temperature scaling, and with a bias)",
            "",
            "Zero-shot logits divided by a temperature fitted on the "
            "validation split (NLL; one per finding, one shared, and one "
            "per finding with a bias b: sigmoid(z / T + b), Platt scaling "
            "with a positive slope), as in Guo et al. (2017); ECE on the "
            "test split. The ranking, hence every AUROC, is unchanged by "
            "construction. The default, which the preset carries, is the "
            "temperature and bias per finding: a temperature alone keeps "
            "every positive logit above 0.5, so a rare finding that the "
            "prompts call present in most images stays miscalibrated.",
            "",
            format_calibration_table(calibration),
            "",
        ]
        figure(
            "reliability_calibrated.png",
            lambda p: plots.plot_reliability_diagram(
                calibration[DEFAULT_MODE]["calibration"],
                p,
                title="Reliability after calibration (T and b per finding)",
            ),
            "Reliability diagrams after calibration (the default: a "
            "temperature and a bias per finding)",
        )
    if localization is not None:
        lines += [
            "## Localisation",
            "",
            "Similarity of each image position (projected tower features) "
            "with the finding's prompt, on SynthCXR test images whose "
            "drawn regions are known: pointing game (the map's maximum "
            "inside the region, tolerance "
            f"{localization['tolerance']} px) and the share of the map's "
            "mass inside; the region's area share is what a map that knows "
            f"nothing scores. {localization['num_cases']} cases.",
            "",
            format_localization_table(localization["scores"]),
            "",
        ]
        examples = localization["examples"]
        figure(
            "localization.png",
            lambda p: plots.plot_localization_maps(
                examples["images"],
                examples["maps"],
                examples["masks"],
                examples["titles"],
                p,
            ),
            "Localisation maps; white outline: the drawn region, x: maximum",
        )
    if retrieval is not None:
        lines += [
            "## Retrieval",
            "",
            "Relevance by groups: identical reports are interchangeable; "
            "ties count against the model.",
            "",
            format_retrieval_table(retrieval),
            "",
        ]
    if similarity_batch is not None:
        images, texts = similarity_batch
        figure(
            "similarity.png",
            lambda p: plots.plot_similarity_heatmap(images, texts, p),
            "Cosine similarity of a batch of image-report pairs",
        )
    if cxr_align is not None:
        lines += [
            "## CXR-Align",
            "",
            "Task A: s(report) > s(negation); Task B: s(report) > "
            "s(omitted) > s(negation) (strict; see docs/evaluation.md).",
            "",
            format_cxr_align_table(cxr_align),
            "",
        ]
        if cxr_align.get("margins"):
            figure(
                "cxr_align_margins.png",
                lambda p: plots.plot_margin_histogram(cxr_align["margins"], p),
                "CXR-Align similarity margins",
            )
    if linear_probe is not None:
        lines += [
            "## Linear probe",
            "",
            "Logistic regression per finding on frozen image embeddings; "
            "test AUROC by training fraction.",
            "",
            format_linear_probe_table(linear_probe),
            "",
        ]
    if history is not None:
        lines += ["## Training", ""]
        figure(
            "training_curves.png",
            lambda p: plots.plot_training_curves(history, p),
            "Training curves",
        )
    if messages:
        lines += ["## Notes", ""]
        lines += [f"- {message}" for message in messages]
        lines.append("")
    path = output_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    results = {
        "zero_shot": _summary(zero_shot),
        "clinical": _summary(clinical),
        "calibration": _summary(
            None
            if calibration is None
            else {
                "before": calibration["before"]["macro"],
                **{
                    mode: {
                        "temperature": calibration[mode]["temperature"],
                        "ece": calibration[mode]["calibration"]["macro"],
                    }
                    for mode in ("per_finding", "shared", "per_finding_bias")
                },
                "auroc": calibration["auroc"],
            }
        ),
        "localization": _summary(
            None
            if localization is None
            else {k: v for k, v in localization.items() if k != "examples"}
        ),
        "retrieval": _summary(retrieval),
        "cxr_align": _summary(cxr_align),
        "linear_probe": _summary(
            None
            if linear_probe is None
            else {str(k): v for k, v in linear_probe.items()}
        ),
    }
    (output_dir / "results.json").write_text(
        json.dumps(
            {k: v for k, v in results.items() if v is not None}, indent=2
        ),
        encoding="utf-8",
    )
    return path
