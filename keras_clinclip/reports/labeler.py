"""CheXpert-14 labels from report text, with negation and uncertainty.

A rule-based labeler in the manner of NegEx and the CheXpert labeler: each
sentence is scanned once for mentions (the phrases of `data/findings.yaml`)
and once for triggers (`data/triggers.yaml`); the status of a mention comes
from the triggers around it, and the mentions of a report are aggregated per
observation: positive over uncertain over negative.
"""

import bisect
import functools
import math
import re
from typing import NamedTuple

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.chexpert import NEGATIVE
from keras_clinclip.chexpert import POSITIVE
from keras_clinclip.chexpert import UNCERTAIN
from keras_clinclip.reports._lexicon import lexicon
from keras_clinclip.reports._lexicon import lower
from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.sections import report_body
from keras_clinclip.reports.spans import sentence_spans

# A pre-trigger reaches at most this many words forward, a post-trigger
# this many words back.
_PRE_WINDOW = 14
_POST_WINDOW = 8
_ALT_WINDOW = 4
# Triggers further than this many characters from a mention are ignored.
_REACH = 300
_FINDINGS_OBSERVATIONS = CHEXPERT_OBSERVATIONS[1:]

# What an uncertain (-1) label becomes, by the `uncertain=` option of
# `label_report`: the CheXpert convention keeps it; "positive" and
# "negative" are the U-Ones and U-Zeros mappings of Irvin et al. (2019).
UNCERTAIN_POLICIES = {
    "keep": UNCERTAIN,
    "positive": POSITIVE,
    "negative": NEGATIVE,
}


def _uncertain_value(uncertain):
    try:
        return UNCERTAIN_POLICIES[uncertain]
    except (KeyError, TypeError):
        raise ValueError(
            f"uncertain must be one of {sorted(UNCERTAIN_POLICIES)}, got "
            f"{uncertain!r}"
        ) from None


class Mention(NamedTuple):
    """A mention of a finding in a sentence (offsets in the sentence)."""

    start: int
    end: int
    finding: str
    observation: str  # or None for a finer finding without observation
    status: float  # 1.0, 0.0 or -1.0


class _Trigger(NamedTuple):
    start: int
    end: int
    kind: str


def _words(text):
    return text.count(" ") + (1 if text.strip() else 0)


def _scan(regex, payload, text):
    """(start, end, payload) of every match of an alternation."""
    out = []
    for match in regex.finditer(text):
        out.append((match.start(), match.end(), payload[match.lastindex - 1]))
    return out


@functools.lru_cache(maxsize=1 << 16)
def sentence_mentions(sentence):
    """The mentions of one sentence, with their status.

    Args:
        sentence: one sentence (`str`).

    Returns:
        A tuple of `Mention`, in order of appearance.

    Example:
    >>> [(m.finding, m.status) for m in sentence_mentions(
    ...     "No effusion, but mild cardiomegaly.")]
    [('pleural effusion', 0.0), ('cardiomegaly', 1.0)]
    """
    lex = lexicon()
    text = lower(sentence)
    raw = [
        (a, b, payload)
        for a, b, payload in _scan(lex.mention_re, lex.mention_payload, text)
        if payload[1] != "i"
    ]
    if not raw:
        return ()
    triggers = [
        _Trigger(a, b, kind)
        for a, b, kind in _scan(lex.trigger_re, lex.trigger_payload, text)
        if kind != "pseudo"
    ]
    for i, char in enumerate(text):
        if char in lex.punctuation:
            triggers.append(_Trigger(i, i + 1, "terminators"))
    triggers.sort()
    trigger_starts = [t.start for t in triggers]
    mentions = []
    starts = [a for a, _, _ in raw]
    for index, (a, b, (name, kind)) in enumerate(raw):
        spec = lex.findings[name]
        if kind == "n":
            status = NEGATIVE
        else:
            next_start = starts[index + 1] if index + 1 < len(raw) else None
            prev_end = raw[index - 1][1] if index else None
            status = _status(
                text, a, b, triggers, prev_end, next_start, trigger_starts
            )
            if status == POSITIVE and spec.get("uncertain"):
                status = UNCERTAIN
        mentions.append(Mention(a, b, name, spec.get("observation"), status))
        # "the cardiac and mediastinal silhouettes are enlarged" states two
        # observations at once.
        for other in spec.get("also") or ():
            mentions.append(Mention(a, b, name, other, status))
    return tuple(mentions)


# The status a trigger kind gives the mention it governs (phrase class ->
# label; the phrases of each class are in data/triggers.yaml). A post
# trigger that keeps a mention positive or makes it uncertain wins over
# every pre trigger; a negating post trigger only applies when no pre
# trigger or alternative governs the mention.
TRIGGER_STATUS = {
    "negation_pre": NEGATIVE,
    "uncertainty_pre": UNCERTAIN,
    "negation_post": NEGATIVE,
    "uncertainty_post": UNCERTAIN,
    "positive_post": POSITIVE,
}
_DECISIVE_POST = ("uncertainty_post", "positive_post")


def _status(text, a, b, triggers, prev_end, next_start, starts=None):
    """The status of the mention text[a:b] given the sentence's triggers.

    Only the triggers within `_REACH` characters of the mention are looked
    at (found by bisection), so a sentence with many mentions stays linear.
    """
    if starts is None:
        starts = [t.start for t in triggers]
    lo = bisect.bisect_left(starts, a - _REACH)
    hi = bisect.bisect_right(starts, b + _REACH)
    after = bisect.bisect_left(starts, b, lo, hi)
    # After the mention: the nearest post-trigger of the clause.
    post = None
    for trig in triggers[after:hi]:
        if trig.kind == "terminators" or trig.kind.endswith("_pre"):
            break
        if _words(text[b : trig.start]) > _POST_WINDOW:
            break
        if trig.kind.endswith("_post"):
            if (
                trig.kind == "positive_post"
                and next_start is not None
                and next_start < trig.start
            ):
                break  # "no effusion, the tube remains in place": the tube's
            post = trig.kind
            break
    if post in _DECISIVE_POST:
        return TRIGGER_STATUS[post]
    # Before (or inside) the mention: the nearest pre-trigger in scope.
    pre = None
    linked = False
    for index in range(after - 1, lo - 1, -1):
        trig = triggers[index]
        if trig.start >= a:  # inside the mention ("heart is not enlarged")
            if trig.kind.endswith("_pre") or trig.kind == "negation_post":
                pre = trig.kind
                if pre == "negation_post":
                    pre = "negation_pre"
                break
            continue
        if trig.end > a:
            continue
        if trig.kind == "negation_post" and not text[: trig.start].strip():
            # "Resolved right lower lobe pneumonia.": a resolution that
            # opens the sentence governs what follows it.
            if _words(text[trig.end : a]) <= _PRE_WINDOW:
                pre = "negation_pre"
            break
        if trig.kind == "terminators":
            if not _SOFT_TERMINATOR.match(text, trig.start):
                break
            linked = True  # "may be secondary to edema": hedges pass
            continue
        if _words(text[trig.end : a]) > _PRE_WINDOW:
            break
        if trig.kind.endswith("_pre"):
            if linked and trig.kind == "negation_pre":
                break  # "no X, consistent with Y": Y is not negated
            pre = trig.kind
            if pre == "uncertainty_pre" and _LINKING.match(text, trig.start):
                # "no opacity to suggest pneumonia": the negation before
                # the link covers what follows it.
                if _negated_before(text, trig.start, triggers[lo:index]):
                    pre = "negation_pre"
            break
    if pre is not None:
        return TRIGGER_STATUS[pre]
    # "atelectasis or pneumonia": an alternative right next to the mention.
    near = triggers[lo:hi]
    for trig in near:
        if trig.kind != "alternative":
            continue
        if trig.end <= a and (prev_end is None or trig.start >= prev_end):
            if _words(text[trig.end : a]) <= _ALT_WINDOW and not _blocked(
                near, trig.end, a
            ):
                return UNCERTAIN
        if trig.start >= b and (next_start is None or trig.end <= next_start):
            if (
                next_start is not None
                and not _blocked(near, b, trig.start)
                and _words(text[b : trig.start]) <= _ALT_WINDOW
            ):
                return UNCERTAIN
    return TRIGGER_STATUS.get(post, POSITIVE)


# Terminators that end a negation's scope but not a hedge's.
_SOFT_TERMINATOR = re.compile(
    r"(?:compatible with|consistent with|secondary to|due to)"
)
_LINKING = re.compile(
    r"(?:suggest|indicat|concerning|suspicious|suspicion|represent|to "
    r"suggest)"
)


def _negated_before(text, position, triggers):
    """Whether a negation pre-trigger governs `position` (no terminator)."""
    for trig in reversed(triggers):
        if trig.end > position:
            continue
        if trig.kind == "terminators":
            return False
        if trig.kind == "negation_pre":
            return _words(text[trig.end : position]) <= _PRE_WINDOW
    return False


def _blocked(triggers, start, end):
    return any(
        t.kind == "terminators" and t.start >= start and t.end <= end
        for t in triggers
    )


def _aggregate(statuses):
    """Positive over uncertain over negative; NaN when not mentioned."""
    if POSITIVE in statuses:
        return POSITIVE
    if UNCERTAIN in statuses:
        return UNCERTAIN
    if NEGATIVE in statuses:
        return NEGATIVE
    return math.nan


def report_mentions(text):
    """Every mention of a report: a list of `(sentence_span, Mention)`.

    Offsets of a `Mention` are relative to the sentence `text[a:b]` of its
    span `(a, b)`.
    """
    out = []
    for a, b in sentence_spans(text):
        for mention in sentence_mentions(text[a:b]):
            out.append(((a, b), mention))
    return out


def _labels_from_mentions(mentions, mentioned_anything, uncertain=UNCERTAIN):
    statuses = {}
    for mention in mentions:
        if mention.observation:
            statuses.setdefault(mention.observation, set()).add(mention.status)
    labels = {}
    for observation in _FINDINGS_OBSERVATIONS:
        labels[observation] = _aggregate(statuses.get(observation, ()))
    abnormal = any(
        labels[o] in (POSITIVE, UNCERTAIN)
        for o in _FINDINGS_OBSERVATIONS
        if o != "Support Devices"
    )
    no_finding = math.nan if abnormal or not mentioned_anything else 1.0
    if uncertain != UNCERTAIN:
        labels = {
            k: uncertain if v == UNCERTAIN else v for k, v in labels.items()
        }
    return {"No Finding": no_finding, **labels}


def label_report(text, sections="auto", uncertain="keep"):
    """CheXpert-14 labels of one report.

    Each observation gets 1.0 (positive), 0.0 (negative), -1.0 (uncertain)
    or NaN (not mentioned); "No Finding" is 1.0 when no observation other
    than "Support Devices" is positive or uncertain (the CheXpert labeler's
    rule) and NaN otherwise, and NaN for a report without any sentence.

    Args:
        text: the report (`str` or UTF-8 `bytes`). De-identification tokens
            ("XXXX", "___") are kept as words.
        sections: `"auto"` labels FINDINGS and IMPRESSION when the text has
            section headers (the whole text otherwise); `None` labels the
            whole text; a tuple of section names labels those.
        uncertain: what a hedged mention ("possible", "may represent",
            "cannot be excluded", "X versus Y") is labelled: `"keep"`
            (-1.0, the CheXpert convention), `"positive"` (1.0) or
            `"negative"` (0.0); the keys of `UNCERTAIN_POLICIES`. "No
            Finding" follows the CheXpert rule whatever the choice (a hedged
            finding is not "No Finding").

    Returns:
        A `dict` from each of the 14 `CHEXPERT_OBSERVATIONS` (in order) to a
        float.

    Raises:
        TypeError: `text` is not a `str`/`bytes` (e.g. `None`).
        ValueError: `text` is `bytes` that are not UTF-8, or `uncertain` is
            not a known policy.

    Example:
    >>> labels = label_report(
    ...     "Mild cardiomegaly. No pleural effusion. Possible pneumonia.")
    >>> labels["Cardiomegaly"], labels["Pleural Effusion"]
    (1.0, 0.0)
    >>> labels["Pneumonia"], labels["No Finding"]
    (-1.0, nan)
    >>> label_report("Possible pneumonia.", uncertain="positive")["Pneumonia"]
    1.0
    """
    value = _uncertain_value(uncertain)
    text = as_text(text, "report")
    if sections is not None:
        text = report_body(text, None if sections == "auto" else sections)
    spans = sentence_spans(text)
    mentions = []
    for a, b in spans:
        mentions.extend(sentence_mentions(text[a:b]))
    return _labels_from_mentions(mentions, bool(spans), value)


def label_reports(texts, sections="auto", errors="raise", uncertain="keep"):
    """CheXpert-14 labels of many reports.

    Sentences are cached, so the frequent normal sentences of a corpus are
    scanned once.

    Args:
        texts: an iterable of reports.
        sections: as in `label_report`.
        errors: `"raise"` (a bad row raises an error naming its index) or
            `"nan"` (a bad row gets all-NaN labels).
        uncertain: as in `label_report`.

    Returns:
        A list of label dicts, one per report.

    Example:
    >>> rows = label_reports(["No pneumothorax.", "Large pneumothorax."])
    >>> [row["Pneumothorax"] for row in rows]
    [0.0, 1.0]
    """
    if errors not in ("raise", "nan"):
        raise ValueError(f"errors must be 'raise' or 'nan', got {errors!r}")
    _uncertain_value(uncertain)
    out = []
    for index, text in enumerate(texts):
        try:
            out.append(
                label_report(text, sections=sections, uncertain=uncertain)
            )
        except (TypeError, ValueError) as error:
            if errors == "raise":
                raise type(error)(f"row {index}: {error}") from None
            out.append(dict.fromkeys(CHEXPERT_OBSERVATIONS, math.nan))
    return out


def labels_to_array(labels):
    """Stack label dicts into a float32 array `(N, 14)` with NaN.

    Args:
        labels: a list of dicts as returned by `label_report` (missing keys
            become NaN).

    Returns:
        `np.ndarray` of shape `(N, 14)`, dtype float32, columns in
        `CHEXPERT_OBSERVATIONS` order.

    Example:
    >>> labels_to_array([label_report("Cardiomegaly.")]).shape
    (1, 14)
    """
    array = np.full(
        (len(labels), len(CHEXPERT_OBSERVATIONS)), np.nan, np.float32
    )
    for i, row in enumerate(labels):
        if not isinstance(row, dict):
            raise TypeError(
                f"row {i}: expected a dict of labels, got {type(row).__name__}"
            )
        for j, name in enumerate(CHEXPERT_OBSERVATIONS):
            value = row.get(name, math.nan)
            array[i, j] = math.nan if value is None else float(value)
    return array


def positive_findings(report_or_labels):
    """The observations that are positive or uncertain, in CheXpert order.

    "No Finding" is never included.

    Args:
        report_or_labels: a report (`str`) or a label dict.

    Returns:
        A list of observation names.

    Example:
    >>> positive_findings("Small left effusion. Possible pneumonia.")
    ['Pneumonia', 'Pleural Effusion']
    """
    if isinstance(report_or_labels, dict):
        labels = report_or_labels
    else:
        labels = label_report(report_or_labels)
    return [
        name
        for name in _FINDINGS_OBSERVATIONS
        if labels.get(name) in (POSITIVE, UNCERTAIN)
    ]
