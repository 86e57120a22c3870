"""Zero-shot binary classification per label with positive/negative prompts.

Source conventions:

- **CheXzero** (Tiu et al., Nature BME 2022): for label c the positive
  prompt is the label itself (`"{}"`) and the negative `"no {}"`; the
  probability is the softmax over the pair of image-prompt similarities,
  `p = exp(a) / (exp(a) + exp(b))` = `sigmoid(a - b)`
  (`chexzero_prompts`). A label whose name is itself a statement of
  normality ("No Finding") needs an override: "no no finding" is the known
  bug; `chexzero_prompts` refuses it unless `overrides` names the pair.
- **CXR-CLIP** (You et al., MICCAI 2023): per-dataset prompt sets, several
  sentences per side, ensembled; RSNA Pneumonia uses one sentence for
  pneumonia and one for its absence (`DATASET_PROMPTS["rsna"]`, our own
  wording of that two-sentence set).

The similarity of an image with a side's prompts is ensembled by
`zero_shot.prompt_similarities` (`"embedding"`, `"mean"` or `"max"`),
scaled by the logit scale s: `logit = s (sim+ - sim-)`. Reported: AUROC
and AUPRC of the probabilities, and accuracy and F1 at the argmax of the
pair (positive when `sim+ > sim-`, i.e. p > 0.5), each per label and
macro-averaged with 95% bootstrap intervals over images.
"""

import numpy as np

from keras_clinclip.evaluation.metrics import auprc
from keras_clinclip.evaluation.metrics import auroc
from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import confusion_at
from keras_clinclip.evaluation.metrics import estimate_with_ci
from keras_clinclip.evaluation.zero_shot import prompt_similarities
from keras_clinclip.models.clinclip_prompts import load_prompts
from keras_clinclip.models.clinclip_prompts import prompt_pairs

SOURCE = "CheXzero pair softmax; CXR-CLIP per-dataset prompts"

# Per-dataset prompt sets (CXR-CLIP's convention of one set per benchmark),
# in our own words. Labels not named here use `prompt_pairs` (prompts.yaml).
DATASET_PROMPTS = {
    "rsna": {
        "Pneumonia": {
            "positive": ["Findings suggesting pneumonia."],
            "negative": ["No evidence of pneumonia."],
        },
    },
    "siim": {
        "Pneumothorax": {
            "positive": ["There is a pneumothorax."],
            "negative": ["There is no pneumothorax."],
        },
    },
}


def chexzero_prompts(class_names, overrides=None):
    """CheXzero's `("{}", "no {}")` pair for each label, lower-cased.

    Args:
        class_names: the label names.
        overrides: `{label: {"positive": [...], "negative": [...]}}` for
            labels the template would garble.

    Returns:
        `{label: {"positive": [text], "negative": [text]}}`.

    Example:
    >>> chexzero_prompts(["Edema"])
    {'Edema': {'positive': ['edema'], 'negative': ['no edema']}}
    >>> chexzero_prompts(["No Finding"])
    Traceback (most recent call last):
    ...
    ValueError: label 'No Finding': "no no finding" is a double negation; ...
    """
    overrides = dict(overrides or {})
    out = {}
    for name in class_names:
        if name in overrides:
            entry = overrides[name]
            out[name] = {
                "positive": list(entry["positive"]),
                "negative": list(entry["negative"]),
            }
            continue
        phrase = str(name).lower()
        if phrase.startswith(("no ", "not ")):
            raise ValueError(
                f'label {name!r}: "no {phrase}" is a double negation; pass '
                f"overrides={{{name!r}: {{'positive': [...], "
                "'negative': [...]}}"
            )
        out[name] = {"positive": [phrase], "negative": [f"no {phrase}"]}
    return out


def dataset_prompts(dataset, class_names, overrides=None):
    """The prompt pairs of a benchmark's labels (CXR-CLIP convention).

    Args:
        dataset: a key of `DATASET_PROMPTS` (e.g. `"rsna"`) or any other
            name (then only the defaults of `prompts.yaml` apply).
        class_names: the labels to prompt for.
        overrides: per-label overrides, applied last.

    Returns:
        `{label: {"positive": [...], "negative": [...]}}` in label order.

    Example:
    >>> dataset_prompts("rsna", ["Pneumonia"])["Pneumonia"]["negative"]
    ['No evidence of pneumonia.']
    >>> dataset_prompts("vindr", ["No finding"])["No finding"]["positive"][0]
    'Normal chest radiograph.'

    A label spelled differently from a `prompts.yaml` finding only in
    case (VinDr's "No finding", ChestX-ray14's "No Finding") takes that
    finding's prompts.
    """
    defaults = load_prompts()
    by_lower = {key.lower(): value for key, value in defaults.items()}
    merged = {
        name: by_lower[name.lower()]
        for name in class_names
        if name not in defaults and name.lower() in by_lower
    }
    merged.update(DATASET_PROMPTS.get(str(dataset).lower(), {}))
    merged.update(overrides or {})
    known = {k: v for k, v in merged.items() if k in class_names}
    return prompt_pairs(list(class_names), overrides=known or None)


def _macro(metric):
    """A macro average over labels of `metric(y, score)`, NaN-safe."""

    def fn(targets, valid, scores):
        values = []
        for j in range(targets.shape[1]):
            y = targets[valid[:, j], j]
            if 0 < y.sum() < y.size:
                values.append(metric(y, scores[valid[:, j], j]))
        return float(np.mean(values)) if values else float("nan")

    return fn


def _accuracy(y, logit):
    return float(np.mean((logit > 0) == (y == 1)))


def _f1(y, logit):
    return confusion_at(y, (logit > 0).astype(float), 0.5)["f1"]


METRICS = {"AUROC": auroc, "AUPRC": auprc, "accuracy": _accuracy, "F1": _f1}


def binary_zero_shot(
    image_embeddings,
    labels,
    positive_embeddings,
    negative_embeddings,
    class_names,
    logit_scale=100.0,
    ensemble="mean",
    uncertain="exclude",
    blank="negative",
    n_bootstrap=1000,
    seed=0,
):
    """Zero-shot binary classification of each label by its prompt pair.

    Args:
        image_embeddings: (N, d).
        labels: (N, C) labels (1, 0, -1, NaN; see `binarize_labels`).
        positive_embeddings: per label, (P_c, d) positive prompt
            embeddings ((C, d), (C, P, d) or a list).
        negative_embeddings: the same for the negative prompts.
        class_names: the C labels.
        logit_scale: s (does not change AUROC, AUPRC or the argmax).
        ensemble: `"embedding"`, `"mean"` or `"max"`
            (`zero_shot.prompt_similarities`).
        uncertain: -1 handling.
        blank: NaN handling.
        n_bootstrap: bootstrap resamples of the macro intervals.
        seed: bootstrap seed.

    Returns:
        dict: `"protocol"`, `"source"`, `"metrics"` (macro `AUROC`,
        `AUPRC`, `accuracy`, `F1`, each `{"value", "ci"}`), `"per_class"`
        (label -> the four values), and the arrays `"logits"`, `"scores"`
        (`sigmoid(logits)`), `"labels"`.

    Example:
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.2], [0.3, 0.7]])
    >>> r = binary_zero_shot(images, [[1], [0], [1], [1]], [[[1.0, 0.0]]],
    ...                      [[[0.0, 1.0]]], ["Edema"], n_bootstrap=0)
    >>> r["per_class"]["Edema"]["accuracy"], r["metrics"]["F1"]["value"]
    (0.75, 0.8)
    """
    names = list(class_names)
    labels = np.asarray(labels, dtype=np.float64)
    positive = prompt_similarities(
        image_embeddings, positive_embeddings, ensemble
    )
    negative = prompt_similarities(
        image_embeddings, negative_embeddings, ensemble
    )
    logits = float(logit_scale) * (positive - negative)
    if labels.shape != logits.shape or len(names) != logits.shape[1]:
        raise ValueError(
            f"labels have shape {labels.shape} for {len(names)} labels and "
            f"{logits.shape[0]} images with {logits.shape[1]} prompt pairs"
        )
    targets, valid = binarize_labels(labels, uncertain, blank)
    per_class = {}
    for j, name in enumerate(names):
        y, z = targets[valid[:, j], j], logits[valid[:, j], j]
        defined = 0 < y.sum() < y.size
        per_class[name] = {
            key: (fn(y, z) if defined else float("nan"))
            for key, fn in METRICS.items()
        }
        per_class[name]["n_positive"] = int(y.sum())
        per_class[name]["n"] = int(y.size)
    metrics = {
        key: estimate_with_ci(
            _macro(fn),
            targets,
            valid,
            logits,
            n_resamples=n_bootstrap,
            seed=seed,
        )
        for key, fn in METRICS.items()
    }
    return {
        "protocol": "zero-shot binary",
        "source": SOURCE,
        "ensemble": ensemble,
        "metrics": metrics,
        "per_class": per_class,
        "logits": logits,
        "scores": 0.5 * (1.0 + np.tanh(0.5 * logits)),
        "labels": labels,
    }
