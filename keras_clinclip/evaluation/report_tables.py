"""Markdown tables of evaluation results (the CLI prints them).

One `format_*_table` per result dict: zero-shot AUROC, clinical operating
points, localisation, retrieval, CXR-Align and the linear probe. Each
returns the table as a string; `evaluation.report.write_report` puts
them into `report.md` with the figures.
"""

import math


def _number(value, digits=3):
    if value is None:
        return "n/a"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _interval(low, high, digits=3):
    if low is None or high is None:
        return "n/a"
    if math.isnan(float(low)) or math.isnan(float(high)):
        return "n/a"
    return f"[{_number(low, digits)}, {_number(high, digits)}]"


def _table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_zero_shot_table(result):
    """Per-finding and macro AUROC with 95% CI, as a Markdown table.

    Args:
        result: the dict of `zero_shot_evaluate` / `multilabel_auroc`.

    Example:
    >>> from keras_clinclip.evaluation.metrics import multilabel_auroc
    >>> r = multilabel_auroc([[1], [0]], [[0.9], [0.1]], ["Edema"],
    ...                      n_bootstrap=0)
    >>> print(format_zero_shot_table(r).splitlines()[2])
    | Edema | 1 | 1 | 1.000 | n/a |
    """
    rows = []
    for name, entry in result["per_class"].items():
        rows.append(
            [
                name,
                entry["n_positive"],
                entry["n_negative"],
                _number(entry["auroc"]),
                _interval(entry["ci_low"], entry["ci_high"]),
            ]
        )
    macro = result["macro"]
    rows.append(
        [
            f"**Macro** ({macro['n_classes']} findings)",
            "",
            "",
            f"**{_number(macro['auroc'])}**",
            _interval(macro["ci_low"], macro["ci_high"]),
        ]
    )
    return _table(["Finding", "n+", "n-", "AUROC", "95% CI"], rows)


def format_clinical_table(result):
    """AUPRC, operating points and calibration per finding (Markdown).

    Args:
        result: the dict of `metrics.clinical_metrics`.

    Example:
    >>> from keras_clinclip.evaluation.metrics import clinical_metrics
    >>> r = clinical_metrics([[1], [0], [1], [0]], [[0.9], [0.2], [0.7],
    ...                      [0.4]], ["Edema"], n_bootstrap=0)
    >>> format_clinical_table(r).splitlines()[2].split(" | ")[2:4]
    ['1.000 n/a', '1.000 / 1.000']
    """

    def cell(value, interval):
        return f"{_number(value)} {_interval(*interval)}"

    spec = result["settings"]["specificity"]
    rows = []
    for name, e in result["per_class"].items():
        youden, fixed = e["youden"], e["fixed_specificity"]
        rows.append(
            [
                name,
                e["n_positive"],
                cell(e["auprc"], e["auprc_ci"]),
                "n/a"
                if youden is None
                else f"{_number(youden['sensitivity'])} / "
                f"{_number(youden['specificity'])}",
            ]
            + (
                ["n/a"] * 3
                if fixed is None
                else [
                    cell(fixed[k], fixed[f"{k}_ci"])
                    for k in ("sensitivity", "specificity", "f1")
                ]
            )
            + [cell(e["ece"], e["ece_ci"])]
        )
    macro = result["macro"]
    rows.append(
        [
            "**Macro**",
            "",
            f"**{_number(macro['auprc'])}**",
            "",
            "",
            "",
            "",
            f"**{_number(macro['ece'])}**",
        ]
    )
    return _table(
        [
            "Finding",
            "n+",
            "AUPRC (95% CI)",
            "Youden sens / spec",
            f"sens @ spec {spec:g} (CI)",
            "spec (CI)",
            "F1 (CI)",
            "ECE (CI)",
        ],
        rows,
    )


def format_localization_table(scores, baseline=None):
    """Pointing game and mass inside per finding (Markdown).

    Args:
        scores: `evaluate_localization(...)["scores"]`.
        baseline: the same for another model (e.g. untrained), shown in
            its own columns.

    Example:
    >>> s = {"Edema": {"n": 2, "pointing": 0.5, "mass": 0.4, "area": 0.3}}
    >>> print(format_localization_table(s).splitlines()[2])
    | Edema | 2 | 0.300 | 0.500 | 0.400 |
    """
    header = ["Finding", "cases", "area share (chance)"]
    if baseline is None:
        header += ["pointing game", "mass inside"]
    else:
        header += [
            "pointing (untrained)",
            "pointing (trained)",
            "mass (untrained)",
            "mass (trained)",
        ]
    rows = []
    for name, e in scores.items():
        label = "**all**" if name == "all" else name
        row = [label, e["n"], _number(e["area"])]
        if baseline is None:
            row += [
                f"{_number(e[k])} {_interval(*e[f'{k}_ci'])}"
                if f"{k}_ci" in e
                else _number(e[k])
                for k in ("pointing", "mass")
            ]
        else:
            b = baseline.get(name, {})
            row += [
                _number(b.get("pointing")),
                _number(e["pointing"]),
                _number(b.get("mass")),
                _number(e["mass"]),
            ]
        rows.append(row)
    return _table(header, rows)


def format_retrieval_table(result):
    """Recall@K and ranks in both directions, as a Markdown table.

    Args:
        result: the dict of `retrieval_metrics`.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.evaluation.retrieval import retrieval_metrics
    >>> r = retrieval_metrics(np.eye(2), np.eye(2), ks=(1,))
    >>> print(format_retrieval_table(r).splitlines()[2])
    | image -> report | 1.000 | 1.0 | 1.0 | 2 |
    """
    first = result["image_to_text"]
    ks = [key for key in first if key.startswith("R@")]
    rows = []
    for key, label in (
        ("image_to_text", "image -> report"),
        ("text_to_image", "report -> image"),
    ):
        entry = result[key]
        rows.append(
            [label]
            + [_number(entry[k]) for k in ks]
            + [
                _number(entry["mean_rank"], 1),
                _number(entry["median_rank"], 1),
                entry["num_queries"],
            ]
        )
    return _table(
        ["Direction", *ks, "mean rank", "median rank", "queries"], rows
    )


def format_cxr_align_table(result):
    """CXR-Align task scores with 95% CI, as a Markdown table.

    Args:
        result: the dict of `cxr_align_scores` / `evaluate_cxr_align`.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.evaluation.cxr_align import cxr_align_scores
    >>> r = cxr_align_scores(np.eye(2), np.eye(2), np.eye(2)[::-1],
    ...                      n_bootstrap=0)
    >>> print(format_cxr_align_table(r).splitlines()[2])
    | A | report > negation | 1.000 | n/a | 2 |
    """
    rows = []
    for name, entry in result["tasks"].items():
        rows.append(
            [
                name,
                " > ".join(entry["order"]),
                _number(entry["score"]),
                _interval(entry["ci_low"], entry["ci_high"]),
                entry["num_images"],
            ]
        )
    table = _table(["Task", "ordering", "score", "95% CI", "images"], rows)
    if result.get("num_excluded"):
        table += (
            f"\n\nExcluded: {result['num_excluded']} item(s) whose "
            "negation has the token ids of their report after "
            "preprocessing (not scored)."
        )
    return table


def format_linear_probe_table(results):
    """Linear-probe AUROC per finding and training fraction.

    Args:
        results: the dict `{fraction: result}` of `linear_probe`.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.evaluation.probe import linear_probe
    >>> x = np.array([[0.0], [1.0], [0.1], [0.9]])
    >>> y = np.array([[0.0], [1.0], [0.0], [1.0]])
    >>> table = format_linear_probe_table(
    ...     linear_probe(x, y, x, y, ["a"], fractions=(1.0,)))
    >>> print(table.splitlines()[2])
    | a | 1.000 |
    """
    fractions = list(results)
    names = list(results[fractions[0]]["per_class"])
    header = ["Finding"] + [
        f"{f:.0%} (n={results[f]['num_train']})" for f in fractions
    ]
    rows = [
        [name]
        + [_number(results[f]["per_class"][name]["auroc"]) for f in fractions]
        for name in names
    ]
    rows.append(
        ["**Macro**"]
        + [f"**{_number(results[f]['macro']['auroc'])}**" for f in fractions]
    )
    return _table(header, rows)
