"""Same-family and cross-family CXR-Align.

A model trained with hard negatives from some negation families
(`keras_clinclip.reports.negation_families`) is scored on CXR-Align
benchmarks built from the same test items by every family: a
**same-family** score (a family training used) and a **cross-family**
score (a family training never saw). The gap between the two is how much
of Task A is the generator's surface form rather than negation.
"""

import numpy as np

from keras_clinclip.data import select
from keras_clinclip.evaluation.cxr_align import evaluate_cxr_align
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import images_of
from keras_clinclip.reports.negation import NegationRejectedError
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation_families import FAMILIES
from keras_clinclip.reports.negation_mix import parse_families


def family_benchmarks(records, families=None, seed=0):
    """CXR-Align dicts of the same items, one per negation family.

    Each study's first negated finding (`negated_findings[i][0]`) is
    negated by every family; only the studies that every family negates
    (none rejected) are kept, so that all benchmarks hold the same items.

    Args:
        records: columns `id`, `report`, `negated_findings`, optional
            `omissions` (e.g. the test split of `iu_xray`).
        families: names (default every family).
        seed: the phrasing seed.

    Returns:
        `(benchmarks, rejected)`: `{family: {family: {id: entry}}}` and
        `{family: {"tried", "rejected", "rate"}}` (as
        `keras_clinclip.reports.rejection_rates`).

    Example:
    >>> data, rejected = family_benchmarks(
    ...     {"id": ["a"], "report": ["Mild cardiomegaly."],
    ...      "negated_findings": [["Cardiomegaly"]]},
    ...     ["templates", "resolution"])
    >>> data["resolution"]["resolution"]["a"]["negation"]
    'Interval resolution of the cardiomegaly.'
    >>> rejected["resolution"]
    {'tried': 1, 'rejected': 0, 'rate': 0.0}
    """
    families = parse_families(families or tuple(FAMILIES))
    omissions = records.get("omissions")
    entries = {name: {} for name in families}
    rejected = dict.fromkeys(families, 0)
    tried = 0
    for i, key in enumerate(records["id"]):
        chosen = records["negated_findings"][i]
        if not len(chosen):
            continue
        tried += 1
        texts = {}
        for name in families:
            try:
                texts[name] = negate_finding(
                    records["report"][i], str(chosen[0]), seed=seed, family=name
                )
            except NegationRejectedError:
                rejected[name] += 1
        if len(texts) < len(families):
            continue
        omitted = omissions[i][0] if omissions is not None else ""
        for name, text in texts.items():
            entries[name][str(key)] = {
                "report": records["report"][i],
                "chosen": str(chosen[0]),
                "negation": text,
                "omitted": omitted or "",
                "location": "",
            }
    rates = {
        name: {
            "tried": tried,
            "rejected": count,
            "rate": count / tried if tried else None,
        }
        for name, count in rejected.items()
    }
    return {name: {name: items} for name, items in entries.items()}, rates


def cross_family_cxr_align(
    backbone,
    preprocessor,
    records,
    training_families,
    split="test",
    official=None,
    batch_size=32,
    n_bootstrap=0,
    seed=0,
):
    """CXR-Align Task A/B on every family's benchmark, grouped by whether
    training used the family.

    Args:
        backbone: a `ClinCLIPBackbone` (`encode_images`, `encode_texts`).
        preprocessor: its preprocessor.
        records: records with `negated_findings` (see `family_benchmarks`).
        training_families: the families training used (names or a comma
            string).
        split: the evaluation split.
        official: an official CXR-Align dict or JSON path, scored as a
            third column when given.
        batch_size: model batch size.
        n_bootstrap: bootstrap resamples of the intervals.
        seed: bootstrap and phrasing seed.

    Returns:
        A dict: `families` (`{name: {"A", "B", "n", "training"}}`),
        `same` and `cross` (`{"A", "B"}`: means over the training and the
        held-out families; None when there is none), `official`
        (`{"A", "B", "n"}` or None), `rejected` (per family) and
        `training` (the names).

    Example:
    >>> import numpy as np
    >>> class Fake:
    ...     def convert_images(self, x):
    ...         return np.asarray(x, np.float32).reshape(len(x), -1)
    ...     def encode_images(self, x):
    ...         return x
    ...     def tokenize(self, texts):
    ...         ids = np.array([[len(t), 1.0] for t in texts], np.float32)
    ...         return {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    ...     def encode_texts(self, ids, mask):
    ...         return ids
    >>> records = {"id": ["a"], "split": ["test"],
    ...            "image": np.ones((1, 1, 2), np.uint8),
    ...            "report": ["Mild cardiomegaly."],
    ...            "negated_findings": [["Cardiomegaly"]]}
    >>> out = cross_family_cxr_align(Fake(), Fake(), records, "templates")
    >>> out["training"], out["families"]["resolution"]["training"]
    (('templates',), False)
    """
    training = parse_families(training_families)
    test = records
    if split is not None:  # this module sits under `evaluation.evaluate`
        test = select(records, np.asarray(records["split"]) == split)
    benchmarks, rejected = family_benchmarks(test, seed=seed)
    # The test images are embedded once, for every family's benchmark.
    images, image_preprocessor = images_of(test, preprocessor)
    embedded = embed_images(
        backbone, images, image_preprocessor, batch_size=batch_size
    )
    by_id = dict(zip([str(i) for i in test["id"]], embedded))

    def score(data):
        result = evaluate_cxr_align(
            backbone,
            preprocessor,
            data,
            by_id,
            embedded=True,
            batch_size=batch_size,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
        tasks = result.get("tasks", {})
        return {
            "A": tasks.get("A", {}).get("score"),
            "B": tasks.get("B", {}).get("score"),
            "n": len(result.get("ids", ())),
        }

    rows = {}
    for name, data in benchmarks.items():
        if not data[name]:
            rows[name] = {"A": None, "B": None, "n": 0}
        else:
            rows[name] = score(data)
        rows[name]["training"] = name in training

    def mean(used, task):
        values = [
            r[task]
            for r in rows.values()
            if r["training"] == used and r[task] is not None
        ]
        return float(np.mean(values)) if values else None

    return {
        "families": rows,
        "same": {t: mean(True, t) for t in ("A", "B")},
        "cross": {t: mean(False, t) for t in ("A", "B")},
        "official": None if official is None else score(official),
        "rejected": rejected,
        "training": training,
    }


def family_headline(result):
    """The headline numbers of a `cross_family_cxr_align` result.

    Args:
        result: its dict.

    Returns:
        `{"CXR-Align Task A same-family": ..., "... cross-family": ...,
        "CXR-Align Task A [family]": ...}` for Task A and B.

    Example:
    >>> family_headline({"same": {"A": 0.9, "B": 0.5},
    ...                  "cross": {"A": 0.8, "B": 0.4},
    ...                  "families": {}})["CXR-Align Task A cross-family"]
    0.8
    """
    row = {}
    for task in ("A", "B"):
        row[f"CXR-Align Task {task} same-family"] = result["same"][task]
        row[f"CXR-Align Task {task} cross-family"] = result["cross"][task]
        for name, scores in result["families"].items():
            row[f"CXR-Align Task {task} [{name}]"] = scores[task]
    return row


def format_cross_family_table(result):
    """A Markdown table of `cross_family_cxr_align`'s result.

    Args:
        result: its dict.

    Returns:
        The table (`str`): one row per family, then the same-family and
        cross-family means and the official benchmark when scored.

    Example:
    >>> print(format_cross_family_table({
    ...     "families": {"templates": {"A": 0.9, "B": 0.5, "n": 10,
    ...                                "training": True}},
    ...     "same": {"A": 0.9, "B": 0.5}, "cross": {"A": None, "B": None},
    ...     "official": None, "rejected": {"templates": 0},
    ...     "training": ("templates",)}))
    | CXR-Align benchmark | used in training | items | Task A | Task B |
    | --- | --- | --- | --- | --- |
    | templates | yes | 10 | 0.900 | 0.500 |
    | same-family (mean) | yes |  | 0.900 | 0.500 |
    | cross-family (mean) | no |  | n/a | n/a |
    """

    def cell(value):
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        "| CXR-Align benchmark | used in training | items | Task A | Task B |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in result["families"].items():
        used = "yes" if row["training"] else "no"
        lines.append(
            f"| {name} | {used} | {row['n']} | {cell(row['A'])} | "
            f"{cell(row['B'])} |"
        )
    for key, used in (("same", "yes"), ("cross", "no")):
        row = result[key]
        lines.append(
            f"| {key}-family (mean) | {used} |  | {cell(row['A'])} | "
            f"{cell(row['B'])} |"
        )
    official = result.get("official")
    if official is not None:
        lines.append(
            f"| official cxr-align.json | no | {official['n']} | "
            f"{cell(official['A'])} | {cell(official['B'])} |"
        )
    return "\n".join(lines)
