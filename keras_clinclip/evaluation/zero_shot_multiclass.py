"""Zero-shot multi-class classification by prompt ensembles (CheXpert 5x200).

CheXpert 5x200 (introduced by GLoRIA, Huang et al., ICCV 2021) holds 200
images for each of Atelectasis, Cardiomegaly, Consolidation, Edema and
Pleural Effusion, each positive for exactly one of the five; a model
predicts the class whose prompts the image is most similar to, and the
metric is accuracy. Two conventions build and ensemble the prompts:

- **CXR-CLIP** (You et al., MICCAI 2023): every combination
  `severity x subtype x location` of the class's phrase parts, and the
  class score is the **mean** of the image's cosines with all of them
  (`ensemble="mean"`, `chexpert_5x200_prompts()`);
- **GLoRIA**: five combinations **sampled** per class (seeded here) and
  the **maximum** cosine (`ensemble="max"`,
  `sample_prompts(chexpert_5x200_prompts(), 5, seed)`).

The phrase parts in `CHEXPERT_5X200_PARTS` follow that structure in our
own words (not the published lists); pass `parts=` to use others. The
ensembling itself is `zero_shot.prompt_similarities`.
"""

import itertools

import numpy as np

from keras_clinclip.evaluation.metrics import estimate_with_ci
from keras_clinclip.evaluation.zero_shot import prompt_similarities

SOURCE = {
    "mean": "CXR-CLIP: all severity x subtype x location prompts, mean",
    "max": "GLoRIA: 5 sampled prompts per class, max",
    "embedding": "CLIP: mean prompt embedding",
}

CHEXPERT_5X200_CLASSES = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
)

CHEXPERT_5X200_PARTS = {
    "Atelectasis": {
        "severity": ["", "mild", "minimal"],
        "subtype": [
            "atelectasis",
            "linear atelectasis",
            "plate-like atelectasis",
            "subsegmental atelectasis",
        ],
        "location": [
            "at the left base",
            "at the right base",
            "at both lung bases",
            "in the left lower lobe",
        ],
    },
    "Cardiomegaly": {
        "severity": ["", "mild", "moderate"],
        "subtype": [
            "cardiomegaly",
            "enlargement of the cardiac silhouette",
            "an enlarged heart",
        ],
        "location": [""],
    },
    "Consolidation": {
        "severity": ["", "new", "patchy"],
        "subtype": ["consolidation", "airspace consolidation"],
        "location": [
            "in the right lower lobe",
            "in the left lower lobe",
            "in the right upper lobe",
            "at the lung bases",
        ],
    },
    "Edema": {
        "severity": ["", "mild", "moderate", "severe"],
        "subtype": [
            "pulmonary edema",
            "interstitial edema",
            "vascular congestion with edema",
        ],
        "location": [""],
    },
    "Pleural Effusion": {
        "severity": ["", "small", "moderate", "large"],
        "subtype": ["pleural effusion", "effusion"],
        "location": ["on the left", "on the right", "bilaterally"],
    },
}


def chexpert_5x200_prompts(parts=None):
    """Every `severity subtype location` prompt of each class.

    Args:
        parts: `{class: {"severity": [...], "subtype": [...],
            "location": [...]}}` (default `CHEXPERT_5X200_PARTS`).

    Returns:
        `{class: [prompt, ...]}` (empty parts dropped, spaces collapsed).

    Example:
    >>> prompts = chexpert_5x200_prompts()
    >>> len(prompts["Atelectasis"]), prompts["Cardiomegaly"][0]
    (48, 'cardiomegaly')
    """
    parts = CHEXPERT_5X200_PARTS if parts is None else parts
    out = {}
    for name, entry in parts.items():
        missing = {"severity", "subtype", "location"} - set(entry)
        if missing:
            raise ValueError(
                f"prompt parts of {name!r} have no {sorted(missing)[0]!r} "
                "list (give severity, subtype and location; [''] for none)"
            )
        out[name] = [
            " ".join(" ".join(words).split())
            for words in itertools.product(
                entry["severity"], entry["subtype"], entry["location"]
            )
        ]
    return out


def sample_prompts(prompts, count=5, seed=0):
    """GLoRIA's convention: `count` prompts drawn per class, seeded.

    Args:
        prompts: `{class: [prompt, ...]}`.
        count: prompts per class (all of them when a class has fewer).
        seed: the sampling seed.

    Returns:
        `{class: [prompt, ...]}`.

    Example:
    >>> p = sample_prompts(chexpert_5x200_prompts(), 5, seed=0)
    >>> [len(v) for v in p.values()]
    [5, 5, 5, 5, 5]
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, texts in prompts.items():
        texts = list(texts)
        if len(texts) <= count:
            out[name] = texts
            continue
        chosen = rng.choice(len(texts), size=count, replace=False)
        out[name] = [texts[i] for i in sorted(chosen)]
    return out


def class_indices(labels, num_classes):
    """The class index of each image from indices or one-hot rows.

    Args:
        labels: (N,) ints in [0, K) or (N, K) rows with exactly one 1.
        num_classes: K.

    Returns:
        int64 (N,).

    Example:
    >>> class_indices([[0, 1], [1, 0]], 2).tolist()
    [1, 0]
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        if labels.shape[1] != num_classes:
            raise ValueError(
                f"labels have {labels.shape[1]} columns for {num_classes} "
                "classes"
            )
        positives = np.nan_to_num(labels.astype(np.float64)) == 1
        counts = positives.sum(axis=1)
        bad = np.flatnonzero(counts != 1)
        if bad.size:
            raise ValueError(
                f"row {int(bad[0]) + 1} of the labels has {int(counts[bad[0]])}"
                " positive classes; multi-class needs exactly one"
            )
        return positives.argmax(axis=1).astype(np.int64)
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        row = int(np.flatnonzero((labels < 0) | (labels >= num_classes))[0])
        raise ValueError(
            f"row {row + 1}: class {int(labels[row])} is not in "
            f"[0, {num_classes})"
        )
    return labels


def _accuracy(truth, predicted):
    return float(np.mean(truth == predicted))


def multiclass_zero_shot(
    image_embeddings,
    labels,
    class_prompt_embeddings,
    class_names,
    ensemble="mean",
    n_bootstrap=1000,
    seed=0,
):
    """Accuracy of predicting the class with the most similar prompts.

    Args:
        image_embeddings: (N, d).
        labels: (N,) class indices or (N, K) one-hot rows.
        class_prompt_embeddings: a list of K (P_k, d) prompt embeddings.
        class_names: the K names.
        ensemble: `"mean"` (CXR-CLIP), `"max"` (GLoRIA) or `"embedding"`.
        n_bootstrap: resamples of the accuracy's interval.
        seed: bootstrap seed.

    Returns:
        dict: `"protocol"`, `"source"`, `"metrics"` (`accuracy` with its
        `ci`), `"per_class"` (name -> recall of the class), `"similarity"`
        (N, K) and `"predicted"` (N,).

    Example:
    >>> images = np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 0.0]])
    >>> prompts = [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])]
    >>> r = multiclass_zero_shot(images, [0, 1, 1], prompts, ["a", "b"],
    ...                          n_bootstrap=0)
    >>> round(r["metrics"]["accuracy"]["value"], 3), r["per_class"]["b"]
    (0.667, 0.5)
    """
    names = list(class_names)
    similarity = prompt_similarities(
        image_embeddings, class_prompt_embeddings, ensemble
    )
    if similarity.shape[1] != len(names):
        raise ValueError(
            f"{similarity.shape[1]} classes have prompts but "
            f"{len(names)} class names were given"
        )
    truth = class_indices(labels, len(names))
    if truth.shape[0] != similarity.shape[0]:
        raise ValueError(
            f"{truth.shape[0]} labels for {similarity.shape[0]} images"
        )
    predicted = similarity.argmax(axis=1)
    per_class = {
        name: (
            float(np.mean(predicted[truth == k] == k))
            if np.any(truth == k)
            else float("nan")
        )
        for k, name in enumerate(names)
    }
    return {
        "protocol": "zero-shot multi-class",
        "source": SOURCE[ensemble],
        "ensemble": ensemble,
        "metrics": {
            "accuracy": estimate_with_ci(
                _accuracy, truth, predicted, n_resamples=n_bootstrap, seed=seed
            )
        },
        "per_class": per_class,
        "similarity": similarity,
        "predicted": predicted,
    }
