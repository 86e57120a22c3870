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

Why the default is a temperature **and a bias** per finding
(`DEFAULT_MODE = "per_finding_bias"`, Platt scaling with a positive
slope, Guo et al. 2017 section 4.1, of which temperature scaling is the
b = 0 case). A pair softmax has its own base rate: `sigmoid(z) > 0.5`
whenever the image is closer to the positive prompt than to the negative
one. On `clinclip demo` 94-100% of the test logits of 12 of the 14
findings are positive while their prevalence is 0.3-19%. For any T > 0,
`sigmoid(z / T)` keeps the sign of z, so every probability stays above
0.5, and since the ECE is at least |mean probability - prevalence| (the
bins' gaps cannot cancel below their weighted sum), no temperature brings
such a finding below 0.5 - prevalence: the NLL fit goes to the bracket
end (T = 1e6, p -> 0.5) and even a temperature chosen on the test split
to minimise the ECE stalls at the same value (measured: 0.43 macro, see
docs/evaluation.md). The optimiser, the bracket and NLL-vs-ECE are not
the cause; the missing offset is. `z / T + b` with T > 0 is still
strictly increasing in z, so the ranking and every AUROC stay as they
were. The temperature-only modes are reported next to it.
"""

import numpy as np

from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import expected_calibration_error
from keras_clinclip.evaluation.metrics import multilabel_auroc
from keras_clinclip.evaluation.metrics import reliability_curve
from keras_clinclip.models.clinclip_zero_shot_classifier import (
    save_zero_shot_temperature,
)

MODES = ("per_finding", "shared", "per_finding_bias")
# The calibration a preset carries and `clinclip classify` applies.
DEFAULT_MODE = "per_finding_bias"
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


def _best_bias(a, logits, targets, bracket=(-60.0, 60.0)):
    """argmin_b of the NLL of sigmoid(a z + b) (its slope rises with b)."""
    low, high = bracket
    for _ in range(60):
        middle = 0.5 * (low + high)
        slope = np.sum(_sigmoid(a * logits + middle) - targets)
        if slope > 0.0:
            high = middle
        else:
            low = middle
    return 0.5 * (low + high)


def _nll(a, b, logits, targets):
    z = a * logits + b
    return float(np.sum(np.logaddexp(0.0, z) - targets * z))


def fit_temperature_and_bias(logits, targets):
    """T > 0 and b minimising the NLL of `sigmoid(logits / T + b)`.

    Platt scaling with the slope kept positive (Guo et al. 2017, section
    4.1, of which temperature scaling is the b = 0 case): the bias
    corrects logits that are shifted as a whole (a finding that the
    prompts call present in most images while few have it), which no
    temperature can; the ranking is still unchanged. The NLL is jointly
    convex in (1/T, b): golden-section search on log(1/T) over the NLL
    minimised in b by bisection.

    Args:
        logits: 1-D logits.
        targets: 0/1 labels.

    Returns:
        `(T, b)` floats (`(1.0, 0.0)` without examples).

    Example:
    >>> z = np.array([4.0, 5.0, 6.0, 7.0, 4.5, 5.5])
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> t, b = fit_temperature_and_bias(z, y)
    >>> bool(b < 0), bool(t > 0)
    (True, True)
    """
    logits = np.asarray(logits, dtype=np.float64).ravel()
    targets = np.asarray(targets, dtype=np.float64).ravel()
    if not logits.size:
        return 1.0, 0.0
    low, high = _LOG_BRACKET
    ratio = (np.sqrt(5.0) - 1.0) / 2.0

    def cost(log_a):
        a = np.exp(log_a)
        return _nll(a, _best_bias(a, logits, targets), logits, targets)

    x1 = high - ratio * (high - low)
    x2 = low + ratio * (high - low)
    f1, f2 = cost(x1), cost(x2)
    for _ in range(80):
        if f1 <= f2:
            high, x2, f2 = x2, x1, f1
            x1 = high - ratio * (high - low)
            f1 = cost(x1)
        else:
            low, x1, f1 = x1, x2, f2
            x2 = low + ratio * (high - low)
            f2 = cost(x2)
    a = float(np.exp(0.5 * (low + high)))
    return 1.0 / a, float(_best_bias(a, logits, targets))


def _binarized(logits, labels, uncertain, blank):
    """float64 (N, C) logits, 0/1 targets and the valid-entry mask."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if logits.ndim != 2 or logits.shape != labels.shape:
        raise ValueError(
            f"logits and labels must both be (N, C); got logits "
            f"{logits.shape} and labels {labels.shape}"
        )
    return (logits, *binarize_labels(labels, uncertain, blank))


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
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    logits, targets, valid = _binarized(logits, labels, uncertain, blank)
    if mode == "shared":
        t = fit_temperature(logits[valid], targets[valid])
        return np.full(logits.shape[1], t)
    return np.array(
        [
            fit_temperature(logits[valid[:, j], j], targets[valid[:, j], j])
            for j in range(logits.shape[1])
        ]
    )


def apply_temperature(logits, temperature, bias=0.0):
    """Calibrated probabilities `sigmoid(logits / T + b)`.

    Args:
        logits: (N, C) (or (N,)) logits.
        temperature: a float or (C,) temperatures.
        bias: a float or (C,) biases (0: temperature scaling alone).

    Returns:
        float64 probabilities of the logits' shape.

    Example:
    >>> apply_temperature([[2.0, 2.0]], [1.0, 2.0]).round(3).tolist()
    [[0.881, 0.731]]
    >>> apply_temperature([[2.0]], 1.0, -2.0).round(3).tolist()
    [[0.5]]
    """
    temperature = np.asarray(temperature, dtype=np.float64)
    if np.any(~(temperature > 0.0)):
        raise ValueError(
            f"temperatures must be > 0, got {temperature.tolist()}"
        )
    logits = np.asarray(logits, dtype=np.float64)
    return _sigmoid(logits / temperature + np.asarray(bias, np.float64))


def fit_calibration(
    logits, labels, mode=DEFAULT_MODE, uncertain="exclude", blank="negative"
):
    """Per-finding temperatures and biases of one calibration mode.

    Args:
        logits: (N, C) validation logits.
        labels: (N, C) validation labels (1, 0, -1, NaN).
        mode: one of `MODES`; `"per_finding_bias"` (the default) fits
            `sigmoid(z / T + b)` per finding, the other two fit T alone
            (`fit_temperatures`) and return zero biases.
        uncertain: -1 handling (`metrics.binarize_labels`).
        blank: NaN handling.

    Returns:
        `(temperatures, biases)`, two float64 (C,) arrays.

    Example:
    >>> z = np.array([[0.0], [0.0], [0.0], [0.0], [2.0], [2.0], [2.0],
    ...               [2.0]])
    >>> y = np.array([[1], [0], [0], [0], [1], [1], [1], [0]])
    >>> t, b = fit_calibration(z, y)  # sigmoid(b) = 1/4, sigmoid(2/T+b) = 3/4
    >>> round(float(t[0]), 4), round(float(b[0]), 4)  # 1/ln 3, -ln 3
    (0.9102, -1.0986)
    """
    if mode != "per_finding_bias":
        temperatures = fit_temperatures(logits, labels, mode, uncertain, blank)
        return temperatures, np.zeros_like(temperatures)
    logits, targets, valid = _binarized(logits, labels, uncertain, blank)
    fitted = [
        fit_temperature_and_bias(
            logits[valid[:, j], j], targets[valid[:, j], j]
        )
        for j in range(logits.shape[1])
    ]
    return np.array([t for t, _ in fitted]), np.array([b for _, b in fitted])


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
        for each mode in `MODES` (`"per_finding_bias"`: a temperature and
        a bias per finding, `fit_temperature_and_bias`), `{"temperature":
        {name: T}, "bias": {name: b},
        "calibration": calibration_summary, "probabilities": (N, C)}`;
        `"auroc"`: `{"before", mode...: {name: AUROC}}` of the logits
        and of the logits / T (identical by construction; reported so
        that a reader can check); `"default"`: `DEFAULT_MODE`, the mode
        a preset carries (`save_calibration_to_preset`).

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
    logits = np.asarray(test_logits, dtype=np.float64)
    result = {
        "before": calibration_summary(
            test_labels, before, names, n_bins, uncertain, blank
        )
    }
    # AUROCs of the logits the probabilities are increasing functions of:
    # float64 rounds sigmoid(z) to exactly 1 for z > ~36, which would add
    # ties that are not in the model's ranking.
    aurocs = {"before": _aurocs(test_labels, logits, names, uncertain, blank)}
    for mode in MODES:
        temperatures, biases = fit_calibration(
            validation_logits, validation_labels, mode, uncertain, blank
        )
        probabilities = apply_temperature(logits, temperatures, biases)
        result[mode] = {
            "temperature": dict(zip(names, map(float, temperatures))),
            "bias": dict(zip(names, map(float, biases))),
            "calibration": calibration_summary(
                test_labels, probabilities, names, n_bins, uncertain, blank
            ),
            "probabilities": probabilities,
        }
        aurocs[mode] = _aurocs(
            test_labels, logits / temperatures + biases, names, uncertain, blank
        )
    result["auroc"] = aurocs
    result["default"] = DEFAULT_MODE
    return result


def save_calibration_to_preset(
    result, preset_dir, mode=DEFAULT_MODE, fitted_on=None
):
    """Write one mode of a `temperature_scaling` result into a preset.

    The preset's `zero_shot_calibration.json` then holds that mode's
    temperature and bias per finding, which
    `ClinCLIPZeroShotClassifier.from_preset` and `clinclip classify`
    apply (`models.clinclip_zero_shot_classifier.save_zero_shot_temperature`).

    Args:
        result: a `temperature_scaling` result.
        preset_dir: the preset directory.
        mode: one of `MODES` (default `DEFAULT_MODE`).
        fitted_on: a note (data set and split) stored with it.

    Returns:
        the `pathlib.Path` written.

    Example:
    >>> import json, tempfile
    >>> z = np.array([[0.0], [0.0], [2.0], [2.0]])
    >>> y = np.array([[1], [0], [1], [1]])
    >>> fitted = temperature_scaling(z, y, z, y, ["Edema"])
    >>> path = save_calibration_to_preset(fitted, tempfile.mkdtemp())
    >>> json.loads(path.read_text())["mode"]
    'per_finding_bias'
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return save_zero_shot_temperature(
        preset_dir,
        result[mode]["temperature"],
        fitted_on=fitted_on,
        bias=result[mode]["bias"],
        mode=mode,
    )


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
    >>> table.splitlines()[2].split(" | ")[:4]
    ['| A', '0.498', '1e+06', '0.000']
    """

    def num(value):
        return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"

    def temp(value):
        return f"{value:.3g}"

    per = result["per_finding"]
    shared = result["shared"]
    biased = result["per_finding_bias"]
    rows = [
        "| finding | ECE before | T | ECE after | T shared | ECE after "
        "(shared) | T, b | ECE after (T, b; default) | AUROC (all equal) |",
        "|---|---|---|---|---|---|---|---|---|",
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
            f"{temp(biased['temperature'][name])}, "
            f"{biased['bias'][name]:.2f} | "
            f"{num(biased['calibration']['per_class'][name]['ece'])} | "
            f"{auroc if same else auroc + ' (changed!)'} |"
        )
    rows.append(
        f"| **macro** | {num(result['before']['macro']['ece'])} | | "
        f"{num(per['calibration']['macro']['ece'])} | | "
        f"{num(shared['calibration']['macro']['ece'])} | | "
        f"{num(biased['calibration']['macro']['ece'])} | |"
    )
    return "\n".join(rows)
