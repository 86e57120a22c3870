"""CXR-Align: does the model prefer the true report to its negation?

This module scores a model on the benchmark (evaluation layer);
`keras_clinclip.reports.cxr_align_benchmark` builds and loads the
benchmark's file from reports alone (pure Python, no model).

A CXR-Align file (`keras_clinclip.reports.build_cxr_align` writes ours;
`keras_clinclip.reports.load_cxr_align` reads it and the official one)
is `{source: {id: {"report", "chosen", "negation", "omitted",
"location"}}}`: for each image, its true report, the sentence chosen to
alter, the report with that sentence negated, and the report with it
omitted.

The paper's exact definitions were not published with its code. Our
reading, with s(x) the cosine of the image and text x:

- **Task A**: the share of images with s(report) > s(negation): the model
  prefers the true report to the same report with one finding negated;
- **Task B**: the share with s(report) > s(omitted) > s(negation): the
  model also ranks "finding not mentioned" between "present" and
  "absent".

Inequalities are strict (a tie is a failure, so a collapsed model that
gives every text the same score gets 0, not 1) and can demand a `margin`.

Before scoring, `evaluate_cxr_align` cuts each item's report, negation
and omitted report the same way so that the edit fits the preprocessor's
`sequence_length` (`keras_clinclip.data.truncation`), and excludes the
items whose negation still has its report's token ids (no model could
tell them apart): they are counted in `"num_excluded"`, not scored as
failures. An omitted report with the token ids of its report or its
negation is left out of Task B (`"num_excluded_omitted"`).
Both are `tasks` entries, i.e. orderings of text kinds, so other readings
(e.g. `("omitted", "negation")` alone) are one argument away.
"""

import warnings

import numpy as np

from keras_clinclip.data import truncation as trunc
from keras_clinclip.evaluation.embed import _to_numpy
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.metrics.bootstrap import percentile_interval
from keras_clinclip.evaluation.retrieval import l2_normalize
from keras_clinclip.reports import load_cxr_align

DEFAULT_TASKS = {
    "A": ("report", "negation"),
    "B": ("report", "omitted", "negation"),
}
TEXT_KINDS = ("report", "negation", "omitted")


def _rowwise_cosine(images, texts, name):
    texts = np.asarray(texts, dtype=np.float64)
    if texts.shape != images.shape:
        raise ValueError(
            f"{name} embeddings have shape {texts.shape} but image "
            f"embeddings {images.shape}; CXR-Align needs one {name} per image"
        )
    # NaN rows (a missing text) stay NaN.
    return np.sum(images * l2_normalize(texts), axis=1)


def cxr_align_scores(
    image_embeddings,
    report_embeddings,
    negation_embeddings,
    omitted_embeddings=None,
    tasks=None,
    margin=0.0,
    n_bootstrap=1000,
    confidence=0.95,
    seed=0,
):
    """CXR-Align tasks, similarity margins and bootstrap intervals.

    Args:
        image_embeddings: (N, d).
        report_embeddings: (N, d) embeddings of each image's true report.
        negation_embeddings: (N, d) of its negated report.
        omitted_embeddings: optional (N, d) of its finding-omitted report;
            rows of NaN mark images without one (left out of the tasks
            that need it).
        tasks: `{name: ordering}` with orderings of `"report"`,
            `"negation"`, `"omitted"` from most to least similar; default
            `DEFAULT_TASKS` (Task A and, when omitted reports are given,
            Task B).
        margin: how much each similarity must exceed the next one.
        n_bootstrap: resamples for the 95% intervals (0 for none).
        confidence: interval coverage.
        seed: bootstrap seed.

    Returns:
        dict with, per task, `{"score", "ci_low", "ci_high", "num_images"}`
        under `"tasks"`; the per-image similarities under `"similarities"`
        and the margins `"report-negation"`, `"report-omitted"`,
        `"omitted-negation"` under `"margins"` (numpy arrays).

    Example:
    >>> images = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> reports = np.array([[1.0, 0.1], [0.0, 1.0]])
    >>> negations = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> result = cxr_align_scores(images, reports, negations, n_bootstrap=0)
    >>> result["tasks"]["A"]["score"]
    0.5
    """
    images = np.asarray(image_embeddings, dtype=np.float64)
    if images.ndim != 2:
        raise ValueError(
            f"image_embeddings must be (N, d), got shape {images.shape}"
        )
    images = l2_normalize(images)
    similarities = {
        "report": _rowwise_cosine(images, report_embeddings, "report"),
        "negation": _rowwise_cosine(images, negation_embeddings, "negation"),
    }
    if omitted_embeddings is not None:
        similarities["omitted"] = _rowwise_cosine(
            images, omitted_embeddings, "omitted"
        )
    if tasks is None:
        tasks = {
            name: order
            for name, order in DEFAULT_TASKS.items()
            if all(kind in similarities for kind in order)
        }
    results = {}
    rng = np.random.default_rng(seed)
    for name, order in tasks.items():
        order = tuple(order)
        if len(order) < 2:
            raise ValueError(f"task {name!r} must order at least two texts")
        for kind in order:
            if kind not in TEXT_KINDS:
                raise ValueError(
                    f"task {name!r}: unknown text kind {kind!r}; choose "
                    f"from {TEXT_KINDS}"
                )
            if kind not in similarities:
                raise ValueError(
                    f"task {name!r} needs {kind!r} embeddings, which were "
                    "not given"
                )
        values = np.stack([similarities[k] for k in order], axis=1)
        present = np.all(np.isfinite(values), axis=1)
        success = np.all(values[:, :-1] > values[:, 1:] + margin, axis=1)
        success = success[present].astype(np.float64)
        entry = {
            "score": float(success.mean()) if success.size else float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "num_images": int(success.size),
            "order": order,
        }
        if n_bootstrap and success.size:
            index = rng.integers(
                0, success.size, size=(n_bootstrap, success.size)
            )
            entry["ci_low"], entry["ci_high"] = percentile_interval(
                success[index].mean(axis=1), confidence
            )
        results[name] = entry
    margins = {
        "report-negation": similarities["report"] - similarities["negation"]
    }
    if "omitted" in similarities:
        margins["report-omitted"] = (
            similarities["report"] - similarities["omitted"]
        )
        margins["omitted-negation"] = (
            similarities["omitted"] - similarities["negation"]
        )
    return {
        "tasks": results,
        "similarities": similarities,
        "margins": margins,
        "settings": {
            "margin": margin,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
        },
    }


def flatten_cxr_align(data, sources=None):
    """Rows of a CXR-Align dict: a list of dicts with `source` and `id`.

    Args:
        data: `{source: {id: {"report", "negation", "omitted", ...}}}`.
        sources: optional list of sources to keep (default all).

    Returns:
        list of dicts with keys `source`, `id`, `report`, `negation`,
        `omitted` (None when absent), `chosen`, `location`.

    Example:
    >>> rows = flatten_cxr_align({"iu": {"1": {
    ...     "report": "Effusion.", "negation": "No effusion."}}})
    >>> rows[0]["id"], rows[0]["omitted"]
    ('1', None)
    """
    if not isinstance(data, dict):
        raise ValueError(
            "a CXR-Align file must hold {source: {id: {...}}}, got "
            f"{type(data).__name__}"
        )
    rows = []
    for source, entries in data.items():
        if sources is not None and source not in sources:
            continue
        if not isinstance(entries, dict):
            raise ValueError(
                f"CXR-Align source {source!r} must map ids to entries"
            )
        for key, entry in entries.items():
            for field in ("report", "negation"):
                value = entry.get(field) if isinstance(entry, dict) else None
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(
                        f"CXR-Align entry {source}/{key} has no {field!r} text"
                    )
            omitted = entry.get("omitted")
            rows.append(
                {
                    "source": source,
                    "id": str(key),
                    "report": entry["report"],
                    "negation": entry["negation"],
                    "omitted": omitted if omitted else None,
                    "chosen": entry.get("chosen"),
                    "location": entry.get("location"),
                }
            )
    if not rows:
        raise ValueError("the CXR-Align data has no entries")
    return rows


def _token_ids(preprocessor, texts, batch_size):
    out = []
    size = min(batch_size, len(texts))
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        count = len(chunk)
        chunk += chunk[:1] * (size - count)  # one shape: traced once
        ids = _to_numpy(preprocessor.tokenize(chunk)["token_ids"])
        out.append(ids[:count])
    return np.concatenate(out)


def prepare_cxr_align_texts(
    rows, preprocessor, truncation="negation_aware", batch_size=64
):
    """The texts of CXR-Align items as the model sees them, and collisions.

    Each item's report, negation and omitted report are cut the same way
    so that the edits fit the preprocessor's `sequence_length`
    (`keras_clinclip.data.truncation`; preprocessors without `tokenizer`
    and `sequence_length` are left to their `tokenize`). Then items whose
    negation has its report's token ids are marked for exclusion, and an
    omitted report with the token ids of its report or negation is
    dropped (Task B leaves the item out).

    Args:
        rows: the list of `flatten_cxr_align`.
        preprocessor: an object with `tokenize(texts)`.
        truncation: `"negation_aware"` or `"end"` (the preprocessor's own
            cut at the end of each text).
        batch_size: texts per `tokenize` call.

    Returns:
        dict with `report`, `negation`, `omitted` (lists of the texts to
        embed; `omitted` entries None when absent or dropped), `keep`
        (bool numpy array: the negation differs from the report) and
        `num_excluded_omitted`.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> rows = [{"report": "lungs clear . small left effusion . heart "
    ...                    "size normal .",
    ...          "negation": "lungs clear . no left effusion . heart size "
    ...                      "normal .",
    ...          "omitted": "lungs clear . heart size normal ."}]
    >>> texts = prepare_cxr_align_texts(rows, tiny_clinclip_preprocessor(9))
    >>> for key in ("report", "negation", "omitted"):
    ...     print(texts[key][0])
    lungs clear . small left effusion .
    lungs clear . no left effusion .
    lungs clear .
    >>> bool(texts["keep"][0])
    True
    """
    if truncation not in trunc.TRUNCATION_MODES:
        raise ValueError(
            f"truncation must be one of {trunc.TRUNCATION_MODES}, got "
            f"{truncation!r}"
        )
    reports = [r["report"] for r in rows]
    negations = [r["negation"] for r in rows]
    omitted = [r.get("omitted") or None for r in rows]
    given = [text is not None for text in omitted]
    counter = trunc.token_counter(preprocessor)
    if truncation == "negation_aware" and counter is not None:
        groups = [
            (report, [negation] + ([other] if other else []))
            for report, negation, other in zip(reports, negations, omitted)
        ]
        cut = trunc.truncate_groups(groups, *counter)
        reports = [report for report, _ in cut]
        negations = [variants[0] for _, variants in cut]
        omitted = [  # an omitted report cut to nothing is dropped
            variants[1] or None if len(variants) > 1 else None
            for _, variants in cut
        ]
    ids = {
        "report": _token_ids(preprocessor, reports, batch_size),
        "negation": _token_ids(preprocessor, negations, batch_size),
    }
    keep = ~np.all(ids["report"] == ids["negation"], axis=-1)
    with_omitted = [i for i, text in enumerate(omitted) if text]
    if with_omitted:
        other = _token_ids(
            preprocessor, [omitted[i] for i in with_omitted], batch_size
        )
        for row, tokens in zip(with_omitted, other):
            if any(np.array_equal(tokens, ids[k][row]) for k in ids):
                omitted[row] = None
    dropped = sum(
        1
        for row, text in enumerate(omitted)
        if given[row] and keep[row] and not text
    )
    return {
        "report": reports,
        "negation": negations,
        "omitted": omitted,
        "keep": keep,
        "num_excluded_omitted": dropped,
    }


def evaluate_cxr_align(
    backbone,
    preprocessor,
    data,
    images_by_id,
    sources=None,
    batch_size=64,
    progress=False,
    truncation="negation_aware",
    embedded=False,
    **kwargs,
):
    """Run CXR-Align with a model.

    Args:
        backbone: object with `encode_images` and `encode_texts`.
        preprocessor: object with `convert_images` and `tokenize`.
        data: a CXR-Align dict (as `keras_clinclip.reports.load_cxr_align`
            returns) or a path to a CXR-Align JSON file.
        images_by_id: a mapping from id to raw image, or to its image
            embedding with `embedded=True` (entries whose id is missing are
            skipped and counted in `"num_missing_images"`).
        sources: optional list of sources to evaluate.
        batch_size: model batch size.
        progress: show progress bars.
        truncation: how texts longer than the preprocessor's
            `sequence_length` are cut (see `prepare_cxr_align_texts`).
        embedded: the values of `images_by_id` are L2-normalised image
            embeddings already (e.g. of a split embedded once for every
            evaluation section): used as they are.
        **kwargs: passed to `cxr_align_scores` (`tasks`, `margin`,
            `n_bootstrap`, `seed`, ...).

    Returns:
        the dict of `cxr_align_scores`, plus `"ids"` (of the scored
        items), `"num_missing_images"`, `"num_excluded"` and
        `"excluded_ids"` (items whose negation has the token ids of its
        report after preprocessing: left out, not scored) and
        `"num_excluded_omitted"` (scored items left out of Task B).

    Example:
    >>> class Fake:
    ...     def encode_images(self, x):
    ...         return x
    ...     def encode_texts(self, token_ids, padding_mask):
    ...         return token_ids
    >>> class Tok:
    ...     def convert_images(self, x):
    ...         return np.asarray(x, "float32")
    ...     def tokenize(self, texts):
    ...         ids = np.array([[t.count("no"), 1.0] for t in texts], "f")
    ...         return {"token_ids": ids, "padding_mask": ids > 0}
    >>> data = {"s": {"1": {"report": "edema", "negation": "no edema"}}}
    >>> result = evaluate_cxr_align(Fake(), Tok(), data,
    ...                             {"1": np.array([0.0, 1.0])},
    ...                             n_bootstrap=0)
    >>> result["tasks"]["A"]["score"]
    1.0
    """
    if not isinstance(data, dict):
        data = load_cxr_align(data)
    rows = flatten_cxr_align(data, sources)
    kept = [r for r in rows if r["id"] in images_by_id]
    missing = len(rows) - len(kept)
    if not kept:
        raise ValueError(
            f"none of the {len(rows)} CXR-Align ids has an image in "
            f"images_by_id (first id: {rows[0]['id']!r})"
        )
    texts = prepare_cxr_align_texts(kept, preprocessor, truncation, batch_size)
    excluded = [r["id"] for r, ok in zip(kept, texts["keep"]) if not ok]
    excluded_omitted = texts["num_excluded_omitted"]
    scored = np.flatnonzero(texts["keep"])
    if not len(scored):
        raise ValueError(
            f"all {len(kept)} CXR-Align items have a negation with the "
            "token ids of their report after preprocessing (the edits lie "
            "beyond the preprocessor's sequence_length); nothing to score"
        )
    if excluded:
        warnings.warn(
            f"CXR-Align: {len(excluded)} of {len(kept)} items excluded: "
            "their negation has the token ids of their report after "
            "preprocessing (see result['excluded_ids'])",
            UserWarning,
            stacklevel=2,
        )
    kept = [kept[i] for i in scored]
    texts = {
        key: [texts[key][i] for i in scored]
        for key in ("report", "negation", "omitted")
    }
    images = np.stack([np.asarray(images_by_id[r["id"]]) for r in kept])
    image_emb = images
    if not embedded:
        image_emb = embed_images(
            backbone, images, preprocessor, batch_size, progress
        )
    report_emb = embed_texts(
        backbone, texts["report"], preprocessor, batch_size
    )
    negation_emb = embed_texts(
        backbone, texts["negation"], preprocessor, batch_size
    )
    omitted_emb = None
    with_omitted = [i for i, text in enumerate(texts["omitted"]) if text]
    if with_omitted:
        omitted_emb = np.full(report_emb.shape, np.nan, dtype=np.float64)
        omitted_emb[with_omitted] = embed_texts(
            backbone,
            [texts["omitted"][i] for i in with_omitted],
            preprocessor,
            batch_size,
        )
    result = cxr_align_scores(
        image_emb, report_emb, negation_emb, omitted_emb, **kwargs
    )
    result["ids"] = [r["id"] for r in kept]
    result["num_missing_images"] = missing
    result["num_excluded"] = len(excluded)
    result["excluded_ids"] = excluded
    result["num_excluded_omitted"] = excluded_omitted
    return result
