"""The label columns of the findings an evaluation names."""

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS


def finding_labels(labels, findings):
    """The label columns of `findings`.

    Records hold the 14 CheXpert columns; a subset of findings (`clinclip
    evaluate --findings`) takes theirs. Labels with exactly one column per
    finding are taken as they are.

    Args:
        labels: `(N, 14)` CheXpert labels, or `(N, len(findings))`.
        findings: finding names (CheXpert spellings).

    Returns:
        `(N, len(findings))` float64 labels.

    Example:
    >>> labels = np.arange(28.0).reshape(2, 14)
    >>> finding_labels(labels, ["Cardiomegaly", "No Finding"]).tolist()
    [[2.0, 0.0], [16.0, 14.0]]
    """
    labels = np.asarray(labels, dtype=np.float64)
    findings = list(findings)
    if labels.ndim == 2 and labels.shape[1] == len(findings):
        return labels
    if labels.ndim != 2 or labels.shape[1] != len(CHEXPERT_OBSERVATIONS):
        raise ValueError(
            f"labels have shape {labels.shape}: expected one column per "
            f"CheXpert observation ({len(CHEXPERT_OBSERVATIONS)}) or per "
            f"named finding ({len(findings)})."
        )
    unknown = [f for f in findings if f not in CHEXPERT_OBSERVATIONS]
    if unknown:
        raise ValueError(
            f"unknown finding(s) {unknown} in `findings`: use the CheXpert "
            f"spellings: {', '.join(CHEXPERT_OBSERVATIONS)}."
        )
    columns = [CHEXPERT_OBSERVATIONS.index(f) for f in findings]
    return labels[:, columns]
