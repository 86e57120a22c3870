"""Temperature scaling of zero-shot probabilities (Guo et al., 2017).

Source convention: "On Calibration of Modern Neural Networks" (Guo, Pleiss,
Sun and Weinberger, ICML 2017), section 4.2: one scalar T > 0 divides the
logits, `p = sigmoid(z / T)`, and T minimises the negative log-likelihood
on a held-out **validation** split; the test split is only scored. Here
`z` is the zero-shot logit `s (cos(v, u+) - cos(v, u-))`
(`evaluation.zero_shot.zero_shot_logits`), and T is fitted either once per
finding (`"per_finding"`) or once for all findings (`"shared"`).

Since z -> z / T is strictly increasing for T > 0, every ranking, hence
every AUROC and AUPRC, is unchanged by construction (as long as float64
does not round `sigmoid(z)` to exactly 0 or 1, i.e. |z| < ~36: work with
the logits, never with saturated probabilities); only the expected
calibration error (ECE) and the reliability diagrams move.

The fit: with a = 1/T the NLL `sum log(1 + exp(a z)) - y a z` is convex
in a, and its derivative `sum (sigmoid(a z) - y) z` is increasing, so the
optimum is found by bisection on log a in [1e-6, 1e6] (60 halvings give
relative precision ~1e-17 on that bracket). A bracket end is the answer
when the optimum lies beyond it (perfectly separated validation data: the
smallest temperature; scores that are anti-correlated with the labels:
the largest, p -> 0.5).
"""

import numpy as np

from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import expected_calibration_error
from keras_clinclip.evaluation.metrics import multilabel_auroc
from keras_clinclip.evaluation.metrics import reliability_curve

MODES = ("per_finding", "shared")
_LOG_BRACKET = (np.log(1e-6), np.log(1e6))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _nll_slope(inverse_temperature, logits, targets):
    """d NLL / d a at a = inverse_temperature (increasing in a)."""
    return float(
        np.sum((_sigmoid(inverse_temperature * logits) - targets) * logits)
    )


def fit_temperature(logits, targets):
    """The temperature T > 0 minimising the NLL of `sigmoid(logits / T)`.

    Args:
        logits: 1-D float logits of one or more findings (flattened).
        targets: 0/1 labels of the same length.

    Returns:
        float T (1.0 when there are no examples or every logit is 0).

    Example:
    >>> z = np.array([-4.0, -2.0, 2.0, 4.0, 2.0, -2.0])
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> round(fit_temperature(z, y), 3)  # over-confident: T > 1
    2.644
    """
    logits = np.asarray(logits, dtype=np.float64).ravel()
    targets = np.asarray(targets, dtype=np.float64).ravel()
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits have {logits.size} entries but targets {targets.size}"
        )
    if not logits.size or not np.any(logits):
        return 1.0
    low, high = _LOG_BRACKET
    if _nll_slope(np.exp(high), logits, targets) <= 0.0:
        return float(np.exp(-high))
    if _nll_slope(np.exp(low), logits, targets) >= 0.0:
        return float(np.exp(-low))
    for _ in range(60):
        middle = 0.5 * (low + high)
        if _nll_slope(np.exp(middle), logits, targets) > 0.0:
            high = middle
        else:
            low = middle
    return float(np.exp(-0.5 * (low + high)))


def fit_temperatures(
    logits, labels, mode="per_finding", uncertain="exclude", blank="negative"
):
    """Temperatures of (N, C) logits on CheXpert-convention labels.

    Args:
        logits: (N, C) validation logits.
        labels: (N, C) validation labels (1, 0, -1, NaN).
        mode: `"per_finding"` (one T per column) or `"shared"` (one T for
            every column, fitted on all valid entries together).
        uncertain: -1 handling (`metrics.binarize_labels`).
        blank: NaN handling.

    Returns:
        float64 (C,) temperatures (all equal in `"shared"` mode).

    Example:
    >>> z = np.array([[4.0, 1.0], [-4.0, -1.0], [3.0, 1.0], [-3.0, 2.0]])
    >>> y = np.array([[1, 1], [0, 0], [0, 1], [1, 0]])
    >>> fit_temperatures(z, y, "shared").round(3).tolist()
    [9.393, 9.393]
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if logits.ndim != 2 or logits.shape != labels.shape:
        raise ValueError(
            f"logits and labels must both be (N, C); got logits "
            f"{logits.shape} and labels {labels.shape}"
        )
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    targets, valid = binarize_labels(labels, uncertain, blank)
    if mode == "shared":
        t = fit_temperature(logits[valid], targets[valid])
        return np.full(logits.shape[1], t)
    return np.array(
        [
            fit_temperature(logits[valid[:, j], j], targets[valid[:, j], j])
            for j in range(logits.shape[1])
        ]
    )


def apply_temperature(logits, temperature):
    """Calibrated probabilities `sigmoid(logits / T)`.

    Args:
        logits: (N, C) (or (N,)) logits.
        temperature: a float or (C,) temperatures.

    Returns:
        float64 probabilities of the logits' shape.

    Example:
    >>> apply_temperature([[2.0, 2.0]], [1.0, 2.0]).round(3).tolist()
    [[0.881, 0.731]]
    """
    temperature = np.asarray(temperature, dtype=np.float64)
    if np.any(~(temperature > 0.0)):
        raise ValueError(
            f"temperatures must be > 0, got {temperature.tolist()}"
        )
    return _sigmoid(np.asarray(logits, dtype=np.float64) / temperature)


def calibration_summary(
    labels,
    probabilities,
    class_names,
    n_bins=10,
    uncertain="exclude",
    blank="negative",
):
    """ECE and reliability curve per finding, and the macro ECE.

    Args:
        labels: (N, C) CheXpert labels.
        probabilities: (N, C) probabilities.
        class_names: the C names.
        n_bins: equal-width bins (`metrics.reliability_curve`).
        uncertain: -1 handling.
        blank: NaN handling.

    Returns:
        `{"per_class": {name: {"ece", "reliability"}}, "macro": {"ece"}}`
        (the layout `plots.plot_reliability_diagram` reads); a finding
        without examples has ECE NaN and is left out of the macro mean.

    Example:
    >>> r = calibration_summary([[1], [0]], [[0.8], [0.4]], ["Edema"], 2)
    >>> round(r["macro"]["ece"], 3)
    0.3
    """
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    targets, valid = binarize_labels(labels, uncertain, blank)
    per_class = {}
    for j, name in enumerate(class_names):
        y = targets[valid[:, j], j]
        p = probabilities[valid[:, j], j]
        per_class[name] = {
            "ece": expected_calibration_error(y, p, n_bins),
            "reliability": reliability_curve(y, p, n_bins),
        }
    values = [e["ece"] for e in per_class.values() if np.isfinite(e["ece"])]
    macro = float(np.mean(values)) if values else float("nan")
    return {"per_class": per_class, "macro": {"ece": macro}}


def temperature_scaling(
    validation_logits,
    validation_labels,
    test_logits,
    test_labels,
    class_names,
    n_bins=10,
    uncertain="exclude",
    blank="negative",
):
    """Temperature scaling fitted on validation, reported on test.

    Args:
        validation_logits: (M, C) zero-shot logits of the validation split.
        validation_labels: (M, C) its labels.
        test_logits: (N, C) zero-shot logits of the test split.
        test_labels: (N, C) its labels.
        class_names: the C finding names.
        n_bins: calibration bins.
        uncertain: -1 handling.
        blank: NaN handling.

    Returns:
        dict with `"before"` (`calibration_summary` of `sigmoid(z)`) and,
        for each mode in `MODES`, `{"temperature": {name: T},
        "calibration": calibration_summary, "probabilities": (N, C)}`;
        `"auroc"`: `{"before", mode...: {name: AUROC}}` (identical by
        construction; reported so that a reader can check).

    Example:
    >>> z = np.array([[6.0], [-6.0], [6.0], [-6.0], [6.0], [-6.0]])
    >>> y = np.array([[1], [0], [0], [1], [1], [0]])
    >>> result = temperature_scaling(z, y, z, y, ["Edema"])
    >>> round(result["before"]["macro"]["ece"], 3)
    0.331
    >>> round(result["shared"]["calibration"]["macro"]["ece"], 3)
    0.0
    """
    names = list(class_names)
    before = apply_temperature(test_logits, 1.0)
    result = {
        "before": calibration_summary(
            test_labels, before, names, n_bins, uncertain, blank
        )
    }
    aurocs = {"before": _aurocs(test_labels, before, names, uncertain, blank)}
    for mode in MODES:
        temperatures = fit_temperatures(
            validation_logits, validation_labels, mode, uncertain, blank
        )
        probabilities = apply_temperature(test_logits, temperatures)
        result[mode] = {
            "temperature": dict(zip(names, map(float, temperatures))),
            "calibration": calibration_summary(
                test_labels, probabilities, names, n_bins, uncertain, blank
            ),
            "probabilities": probabilities,
        }
        aurocs[mode] = _aurocs(
            test_labels, probabilities, names, uncertain, blank
        )
    result["auroc"] = aurocs
    return result


def _aurocs(labels, scores, names, uncertain, blank):
    per_class = multilabel_auroc(
        labels, scores, names, uncertain, blank, n_bootstrap=0
    )["per_class"]
    return {name: per_class[name]["auroc"] for name in names}


def format_calibration_table(result, digits=3):
    """Markdown: ECE before and after each temperature, and the AUROCs.

    Args:
        result: a `temperature_scaling` result.
        digits: decimals.

    Returns:
        A Markdown table, one row per finding and a macro row.

    Example:
    >>> z = np.array([[6.0], [-6.0], [6.0], [-6.0]])
    >>> y = np.array([[1], [0], [0], [1]])
    >>> table = format_calibration_table(temperature_scaling(z, y, z, y, ["A"]))
    >>> print(table.splitlines()[2])
    | A | 0.498 | 1e+06 | 0.000 | 1e+06 | 0.000 | 0.500 |
    """

    def num(value):
        return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"

    def temp(value):
        return f"{value:.3g}"

    per = result["per_finding"]
    shared = result["shared"]
    rows = [
        "| finding | ECE before | T (per finding) | ECE after | T (shared) "
        "| ECE after (shared) | AUROC before = after |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["before"]["per_class"].items():
        same = all(
            result["auroc"][mode][name] == result["auroc"]["before"][name]
            or not np.isfinite(result["auroc"]["before"][name])
            for mode in MODES
        )
        auroc = num(result["auroc"]["before"][name])
        rows.append(
            f"| {name} | {num(entry['ece'])} | "
            f"{temp(per['temperature'][name])} | "
            f"{num(per['calibration']['per_class'][name]['ece'])} | "
            f"{temp(shared['temperature'][name])} | "
            f"{num(shared['calibration']['per_class'][name]['ece'])} | "
            f"{auroc if same else auroc + ' (changed!)'} |"
        )
    rows.append(
        f"| **macro** | {num(result['before']['macro']['ece'])} | | "
        f"{num(per['calibration']['macro']['ece'])} | | "
        f"{num(shared['calibration']['macro']['ece'])} | |"
    )
    return "\n".join(rows)
