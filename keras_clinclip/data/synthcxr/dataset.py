"""Template report + SynthCXR image pairs with CheXpert's label frequencies.

Example:
>>> from keras_clinclip.data.synthcxr import synthetic_pairs
>>> synthetic_pairs(2, image_size=32)["image"].shape
(2, 32, 32)
"""

import numpy as np

from keras_clinclip import chexpert
from keras_clinclip import tables
from keras_clinclip.data import records as rec
from keras_clinclip.data import templates
from keras_clinclip.data.synthcxr.findings import Finding
from keras_clinclip.data.synthcxr.renderer import SynthCXR

# P(1), P(0), P(-1) per observation, used without torchxrayvision.
FALLBACK_FREQUENCIES = chexpert.LABEL_FREQUENCIES


def sample_chexpert_labels(n, seed=0):
    """Label sets with CheXpert's real frequencies.

    Whole rows of the real CheXpert label table
    (`keras_clinclip.chexpert.chexpert_label_table`) are drawn, so the
    joint frequencies (co-occurrences) are real too. Without
    `torchxrayvision`, each observation is drawn independently from
    `FALLBACK_FREQUENCIES` and "No Finding" is set by the CheXpert rule.

    Args:
        n: the number of label sets.
        seed: an int.

    Returns:
        float32 (n, 14) in `CHEXPERT_OBSERVATIONS` order.

    Example:
    >>> sample_chexpert_labels(3, seed=0).shape
    (3, 14)
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 5])
    table = chexpert.chexpert_label_table()
    if table is not None:
        return table[rng.integers(0, len(table), size=int(n))].copy()
    out = np.full((int(n), 14), np.nan, np.float32)
    observations = chexpert.CHEXPERT_OBSERVATIONS
    for j, name in enumerate(observations[1:], start=1):
        p1, p0, pu = FALLBACK_FREQUENCIES[name]
        u = rng.random(int(n))
        out[u < p1, j] = 1.0
        out[(u >= p1) & (u < p1 + p0), j] = 0.0
        out[(u >= p1 + p0) & (u < p1 + p0 + pu), j] = -1.0
    others = out[:, 1:13]
    normal = ~np.any((others == 1.0) | (others == -1.0), axis=1)
    out[normal, 0] = 1.0
    return out


def synthetic_pairs(
    n,
    seed=0,
    image_size=64,
    num_negations=1,
    graphs=True,
    split_fractions=(0.8, 0.1, 0.1),
):
    """Template report + SynthCXR image pairs, in the records format.

    Label sets are drawn with CheXpert's real label frequencies
    (`sample_chexpert_labels`); each report has one sentence per mentioned
    observation (positive with side and severity, negative, or uncertain);
    the image is rendered from the positive and uncertain observations
    (uncertain ones faintly). Negated variants replace one positive
    finding's sentence with a negative one (`negation_labels` = the labels
    with that finding set to 0); omitted variants drop it. For unit tests
    and for machines without the IU package.

    Args:
        n: the number of pairs.
        seed: an int; the same arguments give the same records.
        image_size: the side of the square images.
        num_negations: K, the most negated (and omitted) variants per
            report.
        graphs: whether to add the graph arrays
            (`keras_clinclip.reports.report_graph`).
        split_fractions: train/validate/test shares (by hash of the id).

    Returns:
        A records dict (see `docs/architecture.md`), plus `findings`
        (the SynthCXR findings drawn for each image).

    Example:
    >>> records = synthetic_pairs(4, seed=0, image_size=32)
    >>> records["image"].shape, records["labels"].shape
    ((4, 32, 32), (4, 14))
    """
    n = int(n)
    labels = sample_chexpert_labels(n, seed)
    renderer = SynthCXR(image_size)
    ids, reports, negations, omissions, findings = [], [], [], [], []
    negation_labels = np.zeros((n, num_negations, 14), np.float32)
    images = np.zeros((n, image_size, image_size), np.uint8)
    for i in range(n):
        study_seed = (int(seed) * 1_000_003 + i) & 0x7FFFFFFF
        text = templates.labels_to_report(
            labels[i], seed=study_seed, num_negations=num_negations
        )
        drawn = [
            Finding(d["finding"], d["side"], d["zone"], d["severity"])
            for d in text["details"].values()
        ]
        images[i] = renderer.render(drawn, seed=study_seed)
        ids.append(f"synth-{seed}-{i}")
        reports.append(text["report"])
        negations.append(text["negations"])
        omissions.append(text["omissions"])
        findings.append(drawn)
        negation_labels[i] = rec.negation_labels_for(
            labels[i],
            text["negated_findings"],
            templates.CHEXPERT_OBSERVATIONS,
            num_negations,
        )
    records = {
        "id": ids,
        "image": images,
        "report": reports,
        "labels": labels,
        "split": [tables.hash_split(i, split_fractions) for i in ids],
        "negations": negations,
        "negation_labels": negation_labels,
        "omissions": omissions,
        "findings": findings,
    }
    if graphs:
        records.update(rec.graph_columns(reports))
    return records
