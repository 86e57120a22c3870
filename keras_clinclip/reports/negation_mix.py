"""Negations from several families: training mixes and rejection rates.

`family_negations` writes the negated reports of a training set with a mix
of families (`keras_clinclip.reports.negation_families`), each study and
slot taking the next family in turn; `rejection_rates` counts, per family,
the negations that the labeler check rejected (see `negate_finding`).
"""

import zlib

from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import positive_findings
from keras_clinclip.reports.negation import NegationRejectedError
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation_families import FAMILIES
from keras_clinclip.reports.negation_families import check_family


def parse_families(value):
    """A tuple of family names from a comma-separated string or a list.

    Args:
        value: `"templates,in_place"`, `"all"` (every family) or a list.

    Returns:
        The names, checked, in the given order, without repeats.

    Raises:
        ValueError: an unknown name or an empty list.

    Example:
    >>> parse_families("templates, resolution")
    ('templates', 'resolution')
    >>> len(parse_families("all"))
    5
    """
    if isinstance(value, str):
        if value.strip() == "all":
            return tuple(FAMILIES)
        value = value.split(",")
    names = tuple(
        dict.fromkeys(str(v).strip() for v in value if str(v).strip())
    )
    if not names:
        raise ValueError(
            "negation families: give at least one of " + ", ".join(FAMILIES)
        )
    return tuple(check_family(name) for name in names)


def held_out_families(training):
    """The families a model trained on `training` never saw.

    Args:
        training: the training families (names or a comma string).

    Returns:
        A tuple of names, in `FAMILIES` order.

    Example:
    >>> held_out_families("templates,in_place,vocabulary,synonyms")
    ('resolution',)
    """
    training = set(parse_families(training))
    return tuple(name for name in FAMILIES if name not in training)


def _start(key):
    return zlib.crc32(str(key).encode("utf-8"))


def negate_with_families(report, finding, families, seed=0, start=0):
    """Negate with the first family (from `start`, in turn) that succeeds.

    Args:
        report: the report text.
        finding: the observation to negate.
        families: family names, tried in turn from `families[start % n]`.
        seed: the phrasing seed.
        start: where in `families` to begin.

    Returns:
        `(text, family)`, or `(None, None)` when every family was rejected.

    Example:
    >>> negate_with_families("Mild cardiomegaly.", "Cardiomegaly",
    ...                      ("resolution", "templates"))
    ('Interval resolution of the cardiomegaly.', 'resolution')
    """
    families = parse_families(families)
    for step in range(len(families)):
        family = families[(start + step) % len(families)]
        try:
            text = negate_finding(report, finding, seed=seed, family=family)
        except NegationRejectedError:
            continue
        return text, family
    return None, None


def family_negations(reports, findings, families, ids=None, seed=0):
    """Negated reports of a training set, the families taken in turn.

    Study `i` slot `k` starts at family `(hash(id) + k) % len(families)`
    and falls back on the next family when that one is rejected; when all
    are rejected the slot is `""` (masked by `make_dataset`).

    Args:
        reports: the report texts.
        findings: per report, the list of observations to negate (e.g.
            the records' `negated_findings`).
        families: family names or a comma string.
        ids: study ids (the turn of each study; default the row number).
        seed: the phrasing seed.

    Returns:
        A list (per report) of lists of negated texts.

    Example:
    >>> family_negations(["Mild cardiomegaly."], [["Cardiomegaly"]],
    ...                  "vocabulary")
    [['Cardiomegaly is absent.']]
    """
    families = parse_families(families)
    ids = range(len(reports)) if ids is None else ids
    out = []
    for report, chosen, key in zip(reports, findings, ids):
        start = _start(key)
        texts = []
        for k, finding in enumerate(chosen):
            text, _ = negate_with_families(
                report, str(finding), families, seed=seed, start=start + k
            )
            texts.append(text or "")
        out.append(texts)
    return out


def rejection_rates(reports, families=None, seed=0):
    """Per family, the share of negations the labeler check rejected.

    Every positive finding of every report is negated by every family.

    Args:
        reports: report texts.
        families: names (default every family).
        seed: the phrasing seed.

    Returns:
        `{family: {"tried": n, "rejected": r, "rate": r / n}}` (rate None
        when nothing was tried).

    Example:
    >>> rejection_rates(["Mild cardiomegaly."], ["templates"])
    {'templates': {'tried': 1, 'rejected': 0, 'rate': 0.0}}
    """
    families = parse_families(families or tuple(FAMILIES))
    counts = {name: [0, 0] for name in families}
    for report in reports:
        for finding in positive_findings(label_report(report)):
            for family in families:
                counts[family][0] += 1
                try:
                    negate_finding(report, finding, seed=seed, family=family)
                except NegationRejectedError:
                    counts[family][1] += 1
    return {
        name: {
            "tried": tried,
            "rejected": rejected,
            "rate": rejected / tried if tried else None,
        }
        for name, (tried, rejected) in counts.items()
    }


def format_rejection_rates(rates):
    """One line: each family's rejection rate.

    Args:
        rates: the dict of `rejection_rates`.

    Returns:
        A `str`.

    Example:
    >>> format_rejection_rates({"templates": {"tried": 4, "rejected": 1,
    ...                                       "rate": 0.25}})
    'negations rejected by the labeler check: templates 1/4 (25.0%)'
    """
    parts = []
    for name, row in rates.items():
        rate = "n/a" if row["rate"] is None else f"{100 * row['rate']:.1f}%"
        parts.append(f"{name} {row['rejected']}/{row['tried']} ({rate})")
    return "negations rejected by the labeler check: " + ", ".join(parts)
