"""Zero-shot classification with positive/negative prompt pairs.

For finding c, image i gets the probability

    p_ic = exp(s a_ic) / (exp(s a_ic) + exp(s b_ic))
         = sigmoid(s (a_ic - b_ic)),
    a_ic = cos(v_i, u+_c),  b_ic = cos(v_i, u-_c)

(a softmax over the pair), where u+_c and u-_c are the positive and negative
prompt embeddings and s the logit scale. Several phrasings of a finding are
ensembled either in embedding space (default: mean of the normalised
phrasings, renormalised, as CLIP does:
`keras_clinclip.models.clinclip_prompts.ensemble_prompt_embeddings`) or in
probability space (mean of the per-phrasing-pair probabilities). The
scale s does not change AUROC (it is monotone), only calibration.
"""

import numpy as np

from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.metrics import multilabel_auroc
from keras_clinclip.evaluation.retrieval import l2_normalize
from keras_clinclip.models.clinclip_prompts import ensemble_prompt_embeddings
from keras_clinclip.models.clinclip_prompts import prompt_texts

__all__ = [
    "embed_prompt_pairs",
    "zero_shot_evaluate",
    "zero_shot_scores",
]


def _stack_phrasings(prompt_embeddings, name):
    """(C, P, d) array (all P equal) or a list of C (P_c, d) arrays."""
    if isinstance(prompt_embeddings, (list, tuple)):
        items = [np.asarray(e, dtype=np.float64) for e in prompt_embeddings]
    else:
        array = np.asarray(prompt_embeddings, dtype=np.float64)
        if array.ndim == 2:
            array = array[:, None, :]
        if array.ndim != 3:
            raise ValueError(
                f"{name} must be (C, d), (C, P, d) or a list of (P, d) "
                f"arrays, got shape {array.shape}"
            )
        items = list(array)
    out = []
    for c, item in enumerate(items):
        if item.ndim == 1:
            item = item[None, :]
        if item.ndim != 2 or item.shape[0] == 0:
            raise ValueError(
                f"{name}[{c}] must be a non-empty (P, d) array, got shape "
                f"{item.shape}"
            )
        out.append(item)
    return out


def zero_shot_scores(
    image_embeddings,
    positive_embeddings,
    negative_embeddings,
    logit_scale=100.0,
    ensemble="embedding",
):
    """Zero-shot probabilities from image and prompt-pair embeddings.

    Args:
        image_embeddings: (N, d).
        positive_embeddings: per finding, the positive prompt embeddings:
            (C, d), (C, P, d) or a list of C (P_c, d) arrays.
        negative_embeddings: the negative prompts, same layout (with
            `ensemble="probability"` the same number of phrasings as the
            positives, paired by position).
        logit_scale: the multiplier s of the cosines (CLIP's exp(t)).
        ensemble: `"embedding"` or `"probability"` (see the module doc).

    Returns:
        float64 (N, C) probabilities that each finding is present.

    Example:
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> p = zero_shot_scores(images, [[1.0, 0.0]], [[0.0, 1.0]], 10.0)
    >>> p.round(4).tolist()
    [[1.0], [0.0]]
    """
    images = np.asarray(image_embeddings, dtype=np.float64)
    if images.ndim != 2:
        raise ValueError(
            f"image_embeddings must be (N, d), got shape {images.shape}"
        )
    positives = _stack_phrasings(positive_embeddings, "positive_embeddings")
    negatives = _stack_phrasings(negative_embeddings, "negative_embeddings")
    if len(positives) != len(negatives):
        raise ValueError(
            f"{len(positives)} findings have positive prompts but "
            f"{len(negatives)} have negative prompts"
        )
    d = images.shape[1]
    for c, (pos, neg) in enumerate(zip(positives, negatives)):
        if pos.shape[1] != d or neg.shape[1] != d:
            raise ValueError(
                f"finding {c}: prompt embeddings have d={pos.shape[1]}/"
                f"{neg.shape[1]} but image embeddings d={d}"
            )
    if ensemble not in ("embedding", "probability"):
        raise ValueError(
            f"ensemble must be 'embedding' or 'probability', got {ensemble!r}"
        )
    images = l2_normalize(images)
    scale = float(logit_scale)
    if ensemble == "embedding":
        pos = np.stack([ensemble_prompt_embeddings(p) for p in positives])
        neg = np.stack([ensemble_prompt_embeddings(n) for n in negatives])
        margin = images @ pos.T - images @ neg.T
        return _sigmoid(scale * margin)
    out = np.empty((images.shape[0], len(positives)))
    for c, (pos, neg) in enumerate(zip(positives, negatives)):
        if pos.shape[0] != neg.shape[0]:
            raise ValueError(
                f"finding {c}: {pos.shape[0]} positive but {neg.shape[0]} "
                "negative phrasings; probability ensembling pairs them"
            )
        margin = images @ l2_normalize(pos).T - images @ l2_normalize(neg).T
        out[:, c] = _sigmoid(scale * margin).mean(axis=1)
    return out


def _sigmoid(x):
    # Numerically stable for large |x|.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def zero_shot_evaluate(
    image_embeddings,
    labels,
    positive_embeddings,
    negative_embeddings,
    class_names=None,
    logit_scale=100.0,
    ensemble="embedding",
    uncertain="exclude",
    blank="negative",
    n_bootstrap=1000,
    confidence=0.95,
    seed=0,
):
    """Zero-shot scores and per-class/macro AUROC with bootstrap CIs.

    Args:
        image_embeddings: (N, d).
        labels: (N, C) CheXpert labels (1, 0, -1, NaN) of the C findings
            in the order of the prompt embeddings.
        positive_embeddings: see `zero_shot_scores`.
        negative_embeddings: see `zero_shot_scores`.
        class_names: the C finding names.
        logit_scale: see `zero_shot_scores`.
        ensemble: see `zero_shot_scores`.
        uncertain: -1 handling, see `metrics.binarize_labels`.
        blank: NaN handling, see `metrics.binarize_labels`.
        n_bootstrap: bootstrap resamples (0 for none).
        confidence: interval coverage.
        seed: bootstrap seed.

    Returns:
        The dict of `metrics.multilabel_auroc` plus the arrays `"scores"`
        (N, C) and `"labels"` (N, C).

    Example:
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    >>> labels = np.array([[1.0], [0.0], [1.0]])
    >>> result = zero_shot_evaluate(
    ...     images, labels, [[1.0, 0.0]], [[0.0, 1.0]], ["Edema"],
    ...     n_bootstrap=0)
    >>> result["per_class"]["Edema"]["auroc"]
    1.0
    """
    scores = zero_shot_scores(
        image_embeddings,
        positive_embeddings,
        negative_embeddings,
        logit_scale=logit_scale,
        ensemble=ensemble,
    )
    labels = np.asarray(labels, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(
            f"labels have shape {labels.shape} but there are "
            f"{scores.shape[0]} images and {scores.shape[1]} prompt pairs"
        )
    result = multilabel_auroc(
        labels,
        scores,
        class_names,
        uncertain=uncertain,
        blank=blank,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )
    result["scores"] = scores
    result["labels"] = labels
    return result


def embed_prompt_pairs(backbone, preprocessor, prompts, batch_size=64):
    """Embed every phrasing of a prompt set with a model.

    Args:
        backbone: object with `encode_texts(token_ids, padding_mask)`.
        preprocessor: object with `tokenize(texts)`.
        prompts: `{finding: {"positive": [...], "negative": [...]}}` (from
            `keras_clinclip.models.clinclip_prompts.prompt_pairs`).
        batch_size: texts per model call.

    Returns:
        `(names, positives, negatives)`: the finding names and two lists
        of (P_c, d) float32 arrays, ready for `zero_shot_scores`.

    Example:
    >>> class Tok:
    ...     def tokenize(self, texts):
    ...         ids = np.array([[t.count("no"), 1] for t in texts], "f")
    ...         return {"token_ids": ids, "padding_mask": ids > 0}
    >>> class Fake:
    ...     def encode_texts(self, token_ids, padding_mask):
    ...         return token_ids
    >>> names, pos, neg = embed_prompt_pairs(
    ...     Fake(), Tok(), {"Edema": {"positive": ["edema"],
    ...                               "negative": ["no edema"]}})
    >>> names, pos[0].shape
    (['Edema'], (1, 2))
    """
    texts, spans = prompt_texts(prompts)
    embeddings = embed_texts(backbone, texts, preprocessor, batch_size)
    positives = [embeddings[a:b] for a, b in spans["positive"]]
    negatives = [embeddings[a:b] for a, b in spans["negative"]]
    return list(prompts), positives, negatives
