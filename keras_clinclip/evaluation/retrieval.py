"""Image-report retrieval: Recall@K and ranks, with relevance by groups.

A retrieval benchmark is only correct if it knows which candidates are
right. Two things make "the diagonal" wrong on chest X-ray data:

- several studies have **identical reports** ("No acute cardiopulmonary
  abnormality." is common): retrieving any of them is right;
- an image may have **several reports** (or a report several images).

So relevance is defined by *groups*: each report belongs to one image
(`text_to_image`) and to one group of interchangeable reports
(`text_groups`, by default identical texts after normalising case and
white space, see `group_identical_texts`). Report j is relevant to image i
when j's group is the group of one of i's own reports; image i is
relevant to report j by the same relation.
"""

import re

import numpy as np

from keras_clinclip.evaluation.metrics import estimate_with_ci
from keras_clinclip.evaluation.metrics import first_relevant_ranks
from keras_clinclip.evaluation.metrics import recall_at_k
from keras_clinclip.reports.sections import split_sections


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """Divide `x` by its L2 norm along `axis` (numpy).

    Example:
    >>> l2_normalize([[3.0, 4.0]]).tolist()
    [[0.6, 0.8]]
    """
    x = np.asarray(x, dtype=np.float64)
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x / np.maximum(norm, epsilon)


def cosine_similarity(a, b):
    """(N, M) cosine similarities of the rows of `a` (N, d) and `b` (M, d).

    Example:
    >>> cosine_similarity([[1.0, 0.0]], [[2.0, 0.0], [0.0, 1.0]]).tolist()
    [[1.0, 0.0]]
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"expected (N, d) and (M, d) embeddings, got {a.shape} and "
            f"{b.shape}"
        )
    return l2_normalize(a) @ l2_normalize(b).T


def normalize_text(text):
    """Lower-case a report and collapse its white space (for grouping).

    Example:
    >>> normalize_text("  No acute\\n disease. ")
    'no acute disease.'
    """
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def group_identical_texts(texts):
    """Group ids of reports: equal ids for texts equal after normalising.

    Args:
        texts: a list of report strings.

    Returns:
        int64 array of group ids, numbered in order of first appearance.

    Example:
    >>> group_identical_texts(["Clear.", "Effusion.", "clear. "]).tolist()
    [0, 1, 0]
    """
    ids = {}
    return np.array(
        [ids.setdefault(normalize_text(t), len(ids)) for t in texts],
        dtype=np.int64,
    )


def relevance_matrix(num_images, text_to_image=None, text_groups=None):
    """(I, T) booleans: is report j a right answer for image i?

    Args:
        num_images: I.
        text_to_image: (T,) index of the image each report belongs to;
            default `arange(I)` (one report per image).
        text_groups: (T,) group labels (any hashable values) of
            interchangeable reports; default each report its own group.

    Returns:
        bool (I, T) array.

    Example:
    >>> relevance_matrix(3, text_groups=["a", "b", "a"]).astype(int).tolist()
    [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    """
    if text_to_image is None:
        text_to_image = np.arange(num_images)
    text_to_image = np.asarray(text_to_image)
    if text_to_image.ndim != 1:
        raise ValueError(
            f"text_to_image must be 1-D, got shape {text_to_image.shape}"
        )
    num_texts = text_to_image.shape[0]
    if num_texts and (
        text_to_image.min() < 0 or text_to_image.max() >= num_images
    ):
        bad = int(
            np.flatnonzero((text_to_image < 0) | (text_to_image >= num_images))[
                0
            ]
        )
        raise ValueError(
            f"text_to_image[{bad}] = {text_to_image[bad]} is not an image "
            f"index in [0, {num_images})"
        )
    if text_groups is None:
        group_ids = np.arange(num_texts)
    else:
        if len(text_groups) != num_texts:
            raise ValueError(
                f"text_groups has {len(text_groups)} entries for "
                f"{num_texts} reports"
            )
        lookup = {}
        group_ids = np.array(
            [lookup.setdefault(g, len(lookup)) for g in text_groups],
            dtype=np.int64,
        )
    num_groups = int(group_ids.max()) + 1 if num_texts else 0
    image_has_group = np.zeros((num_images, num_groups), dtype=bool)
    image_has_group[text_to_image, group_ids] = True
    return image_has_group[:, group_ids]


def retrieval_metrics(
    image_embeddings,
    text_embeddings,
    text_to_image=None,
    text_groups=None,
    ks=(1, 5, 10),
    ties="pessimistic",
    chunk_size=1024,
):
    """Image->report and report->image Recall@K, mean and median rank.

    Similarities are cosines of the embeddings (normalised here).

    Args:
        image_embeddings: (I, d).
        text_embeddings: (T, d).
        text_to_image: (T,) image index of each report (default: report i
            belongs to image i, which needs T == I).
        text_groups: (T,) group labels of interchangeable reports, e.g.
            `group_identical_texts(reports)`; default none shared.
        ks: Recall@K cut-offs.
        ties: tie handling of `first_relevant_ranks`.
        chunk_size: queries scored at a time (memory O(chunk * T)).

    Returns:
        dict with `"image_to_text"` and `"text_to_image"`, each a dict of
        `"R@k"` floats, `"mean_rank"`, `"median_rank"`, `"num_queries"`;
        and the per-query `"ranks"` arrays under `"image_to_text_ranks"`,
        `"text_to_image_ranks"`.

    Example:
    >>> images = np.eye(3)
    >>> texts = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    >>> result = retrieval_metrics(images, texts, ks=(1,))
    >>> result["image_to_text"]["R@1"]
    0.3333333333333333
    """
    image_embeddings = np.asarray(image_embeddings)
    text_embeddings = np.asarray(text_embeddings)
    if image_embeddings.ndim != 2 or text_embeddings.ndim != 2:
        raise ValueError(
            f"expected (I, d) image and (T, d) text embeddings, got "
            f"{image_embeddings.shape} and {text_embeddings.shape}"
        )
    if image_embeddings.shape[1] != text_embeddings.shape[1]:
        raise ValueError(
            f"image embeddings have d={image_embeddings.shape[1]} but text "
            f"embeddings d={text_embeddings.shape[1]}"
        )
    num_images = image_embeddings.shape[0]
    num_texts = text_embeddings.shape[0]
    if text_to_image is None and num_texts != num_images:
        raise ValueError(
            f"{num_images} images and {num_texts} reports: pass "
            "text_to_image to say which image each report belongs to"
        )
    relevance = relevance_matrix(num_images, text_to_image, text_groups)
    if num_texts:
        orphans = ~relevance.any(axis=1)
        if orphans.any():
            raise ValueError(
                f"image {int(np.flatnonzero(orphans)[0])} has no report "
                "(every image needs at least one in text_to_image)"
            )
    images = l2_normalize(image_embeddings)
    texts = l2_normalize(text_embeddings)

    def ranks(queries, candidates, rel):
        out = []
        for start in range(0, queries.shape[0], chunk_size):
            stop = start + chunk_size
            sim = queries[start:stop] @ candidates.T
            out.append(first_relevant_ranks(sim, rel[start:stop], ties))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    i2t = ranks(images, texts, relevance)
    t2i = ranks(texts, images, relevance.T)

    def summary(r):
        result = {f"R@{k}": v for k, v in recall_at_k(r, ks).items()}
        result["mean_rank"] = float(np.mean(r))
        result["median_rank"] = float(np.median(r))
        result["num_queries"] = int(r.size)
        return result

    return {
        "image_to_text": summary(i2t),
        "text_to_image": summary(t2i),
        "image_to_text_ranks": i2t,
        "text_to_image_ranks": t2i,
    }


def report_text(report):
    """The retrieval text of a report: the longer of FINDINGS and IMPRESSION.

    The convention of the image-report retrieval benchmarks that follow
    CXR-CLIP (MIMIC-CXR / CheXpert 5x200 retrieval): a report without
    either section is used whole.

    Args:
        report: the report text.

    Returns:
        The chosen section's text (stripped).

    Example:
    >>> report_text("FINDINGS: Clear lungs.\\nIMPRESSION: Normal.")
    'Clear lungs.'
    >>> report_text("No acute disease.")
    'No acute disease.'
    """
    sections = split_sections(report or "")
    findings = sections.get("FINDINGS", "")
    impression = sections.get("IMPRESSION", "")
    if not findings and not impression:
        return str(report or "").strip()
    return findings if len(findings) >= len(impression) else impression


def image_to_text_retrieval(
    image_embeddings,
    text_embeddings,
    texts,
    ks=(1, 5, 10),
    n_bootstrap=0,
    seed=0,
):
    """Image->report retrieval with identical reports collapsed to one.

    Source convention: the candidate pool holds each distinct report text
    once (case and white space normalised, `normalize_text`), so a common
    normal report repeated 500 times is one candidate, not 500 that push
    the right answer down; image i's answer is the candidate of its own
    report. Recall@K and the mean rank (1 = first) are reported, with
    bootstrap intervals over images when `n_bootstrap > 0`.

    Args:
        image_embeddings: (N, d).
        text_embeddings: (N, d) embeddings of the N reports (of image i's
            report at row i); the first of identical texts is kept.
        texts: the N report texts (e.g. `report_text` of each report).
        ks: Recall@K cut-offs.
        n_bootstrap: resamples of the intervals.
        seed: bootstrap seed.

    Returns:
        dict: `"protocol"`, `"source"`, `"metrics"` (`R@k` and
        `mean_rank`, each `{"value", "ci"}`), `"num_candidates"`,
        `"ranks"` (N,).

    Example:
    >>> images = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> texts = ["Normal.", "normal. ", "Effusion."]
    >>> r = image_to_text_retrieval(images, images, texts, ks=(1,))
    >>> r["num_candidates"], r["ranks"].tolist()
    (2, [1, 1, 1])
    """
    images = np.asarray(image_embeddings, dtype=np.float64)
    embeddings = np.asarray(text_embeddings, dtype=np.float64)
    if len(texts) != images.shape[0] or embeddings.shape[0] != len(texts):
        raise ValueError(
            f"{images.shape[0]} images, {embeddings.shape[0]} text "
            f"embeddings and {len(texts)} texts: give one report per image"
        )
    groups = group_identical_texts(texts)
    first = np.unique(groups, return_index=True)[1]
    candidates = embeddings[first]
    similarity = cosine_similarity(images, candidates)
    relevance = groups[:, None] == np.arange(len(first))[None, :]
    ranks = first_relevant_ranks(similarity, relevance)
    metrics = {
        f"R@{k}": estimate_with_ci(
            lambda r, k=k: float(np.mean(r <= k)),
            ranks,
            n_resamples=n_bootstrap,
            seed=seed,
        )
        for k in ks
    }
    metrics["mean_rank"] = estimate_with_ci(
        lambda r: float(np.mean(r)), ranks, n_resamples=n_bootstrap, seed=seed
    )
    return {
        "protocol": "image-to-text retrieval",
        "source": "identical reports collapsed; longer of FINDINGS and "
        "IMPRESSION",
        "metrics": metrics,
        "num_candidates": int(len(first)),
        "ranks": ranks,
    }
