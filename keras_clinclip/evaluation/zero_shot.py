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
    "SIMILARITY_ENSEMBLES",
    "embed_prompt_pairs",
    "prompt_similarities",
    "zero_shot_evaluate",
    "zero_shot_logits",
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
    return _sigmoid(
        zero_shot_logits(
            image_embeddings,
            positive_embeddings,
            negative_embeddings,
            logit_scale,
            ensemble,
        )
    )


def _checked_inputs(images, positive_embeddings, negative_embeddings, ensemble):
    """The validated (N, d) images and per-finding (P_c, d) prompts."""
    images = np.asarray(images, dtype=np.float64)
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
        if ensemble == "probability" and pos.shape[0] != neg.shape[0]:
            raise ValueError(
                f"finding {c}: {pos.shape[0]} positive but {neg.shape[0]} "
                "negative phrasings; probability ensembling pairs them"
            )
    if ensemble not in ("embedding", "probability"):
        raise ValueError(
            f"ensemble must be 'embedding' or 'probability', got {ensemble!r}"
        )
    return l2_normalize(images), positives, negatives


def zero_shot_logits(
    image_embeddings,
    positive_embeddings,
    negative_embeddings,
    logit_scale=100.0,
    ensemble="embedding",
):
    """The logits whose sigmoid is `zero_shot_scores`, never saturated.

    With `ensemble="embedding"` the logit is `s (cos(v, u+) - cos(v, u-))`;
    with `"probability"` it is the log-odds of the mean probability,
    computed in log space. Temperature scaling
    (`keras_clinclip.evaluation.calibration`) divides these: a probability
    of exactly 1.0 in float64 would have lost its ranking.

    Args:
        image_embeddings: see `zero_shot_scores`.
        positive_embeddings: see `zero_shot_scores`.
        negative_embeddings: see `zero_shot_scores`.
        logit_scale: see `zero_shot_scores`.
        ensemble: see `zero_shot_scores`.

    Returns:
        float64 (N, C) logits.

    Example:
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> zero_shot_logits(images, [[1.0, 0.0]], [[0.0, 1.0]], 10.0).tolist()
    [[10.0], [-10.0]]
    """
    images, positives, negatives = _checked_inputs(
        image_embeddings, positive_embeddings, negative_embeddings, ensemble
    )
    scale = float(logit_scale)
    if ensemble == "embedding":
        pos = np.stack([ensemble_prompt_embeddings(p) for p in positives])
        neg = np.stack([ensemble_prompt_embeddings(n) for n in negatives])
        return scale * (images @ pos.T - images @ neg.T)
    out = np.empty((images.shape[0], len(positives)))
    for c, (pos, neg) in enumerate(zip(positives, negatives)):
        logit = scale * (
            images @ l2_normalize(pos).T - images @ l2_normalize(neg).T
        )
        # log mean sigmoid(x) - log mean sigmoid(-x), in log space.
        log_p = np.logaddexp.reduce(-np.logaddexp(0.0, -logit), axis=1)
        log_q = np.logaddexp.reduce(-np.logaddexp(0.0, logit), axis=1)
        out[:, c] = log_p - log_q
    return out


SIMILARITY_ENSEMBLES = ("embedding", "mean", "max")


def prompt_similarities(image_embeddings, prompt_embeddings, ensemble="mean"):
    """(N, C) cosine of each image with each class's prompt ensemble.

    The one home of prompt ensembling in similarity space, used by the
    binary (`zero_shot_binary`) and multi-class (`zero_shot_multiclass`)
    protocols:

    - `"embedding"`: the cosine with the ensembled prompt embedding (CLIP,
      `ensemble_prompt_embeddings`);
    - `"mean"`: the mean over the class's prompts of the cosines
      (CXR-CLIP's CheXpert 5x200 convention);
    - `"max"`: the largest cosine over the class's prompts (GLoRIA's).

    Args:
        image_embeddings: (N, d).
        prompt_embeddings: (C, d), (C, P, d) or a list of C (P_c, d).
        ensemble: one of `SIMILARITY_ENSEMBLES`.

    Returns:
        float64 (N, C).

    Example:
    >>> images = np.array([[1.0, 0.0]])
    >>> prompts = [np.array([[1.0, 0.0], [0.0, 1.0]])]
    >>> [float(prompt_similarities(images, prompts, e)[0, 0].round(4))
    ...  for e in ("embedding", "mean", "max")]
    [0.7071, 0.5, 1.0]
    """
    if ensemble not in SIMILARITY_ENSEMBLES:
        raise ValueError(
            f"ensemble must be one of {SIMILARITY_ENSEMBLES}, got {ensemble!r}"
        )
    images = np.asarray(image_embeddings, dtype=np.float64)
    if images.ndim != 2:
        raise ValueError(
            f"image_embeddings must be (N, d), got shape {images.shape}"
        )
    images = l2_normalize(images)
    prompts = _stack_phrasings(prompt_embeddings, "prompt_embeddings")
    out = np.empty((images.shape[0], len(prompts)))
    for c, phrasings in enumerate(prompts):
        if phrasings.shape[1] != images.shape[1]:
            raise ValueError(
                f"class {c}: prompt embeddings have d={phrasings.shape[1]} "
                f"but image embeddings d={images.shape[1]}"
            )
        if ensemble == "embedding":
            out[:, c] = images @ ensemble_prompt_embeddings(phrasings)
            continue
        cosines = images @ l2_normalize(phrasings).T
        out[:, c] = (
            cosines.mean(axis=1)
            if ensemble == "mean"
            else (cosines.max(axis=1))
        )
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
        (N, C), their `"logits"` (`zero_shot_logits`) and `"labels"`.

    Example:
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    >>> labels = np.array([[1.0], [0.0], [1.0]])
    >>> result = zero_shot_evaluate(
    ...     images, labels, [[1.0, 0.0]], [[0.0, 1.0]], ["Edema"],
    ...     n_bootstrap=0)
    >>> result["per_class"]["Edema"]["auroc"]
    1.0
    """
    logits = zero_shot_logits(
        image_embeddings,
        positive_embeddings,
        negative_embeddings,
        logit_scale=logit_scale,
        ensemble=ensemble,
    )
    scores = _sigmoid(logits)
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
    result["logits"] = logits
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
