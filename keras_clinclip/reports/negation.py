"""Negated, omitted and affirmed reports (hard negatives, augmentation).

Only the sentences that state the chosen observation are touched; the rest
of the report is kept character for character. Inside a sentence that also
states other findings, the list item ("..., small left effusion, ...") that
holds the observation is cut out and a separate sentence is added. Every
rewritten sentence is checked with the labeler: if cutting would change the
label of another observation, the sentence is rebuilt from templates that
keep every other observation's status.
"""

import math
import random
import re

from keras_clinclip.chexpert import NEGATIVE
from keras_clinclip.chexpert import POSITIVE
from keras_clinclip.chexpert import UNCERTAIN
from keras_clinclip.reports._lexicon import check_observation
from keras_clinclip.reports._lexicon import finding_of as _finding_of
from keras_clinclip.reports._lexicon import lexicon
from keras_clinclip.reports._lexicon import lower
from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.labeler import _aggregate
from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import sentence_mentions
from keras_clinclip.reports.negation_families import DEFAULT_FAMILY
from keras_clinclip.reports.negation_families import _candidates
from keras_clinclip.reports.negation_families import _Site
from keras_clinclip.reports.negation_families import capital as _capital
from keras_clinclip.reports.negation_families import check_family
from keras_clinclip.reports.negation_families import finding_phrase as _phrase
from keras_clinclip.reports.negation_families import sentence_templates
from keras_clinclip.reports.spans import sentence_spans

# List separators inside a sentence.
_SEPARATOR = re.compile(
    r"\s*[,;]\s*(?:and/or\s+|and\s+|or\s+|nor\s+|with\s+)?"
    r"|\s+(?:and/or|and|or|nor|with|versus|vs\.?|as well as|plus)\s+",
    re.IGNORECASE,
)
_MAX_CUT = 2000  # characters

# Words left dangling at the end of a sentence whose last item was cut
# ("consolidation, most consistent with [pneumonia]").
_DANGLING = re.compile(
    r"[\s,;]+(?:consistent|compatible|suggestive|concerning|suspicious|"
    r"likely|most|probably|possibly|representing|reflecting|with|of|to|for|"
    r"the|a|an|and|or|versus|vs\.?|mild|moderate|severe|small|large|"
    r"residual|recurrent|new|early|developing|may|be|could|which|due|"
    r"secondary|as|in|at|and/or)$",
    re.IGNORECASE,
)
_SIDE_WORDS = re.compile(
    r"(?<![a-z])(left|right|bilateral|bibasilar|bibasal|biapical|"
    r"left-sided|right-sided)(?![a-z])"
)


def _sentence_for(finding_name, side, positive, rng):
    """A fluent sentence stating the finding absent (or present)."""
    spec = lexicon().findings[finding_name]
    key = "positive_sentence" if positive else "negative_sentence"
    own = spec.get(key)
    if own and not (side and spec.get("lateral")):
        choices = [own] if isinstance(own, str) else list(own)
        return rng.choice(choices)
    choices = sentence_templates()["positive" if positive else "negative"]
    phrase = _phrase(finding_name, side)
    return rng.choice(choices).format(phrase=phrase, Phrase=_capital(phrase))


def _side(text):
    match = _SIDE_WORDS.search(lower(text))
    if not match:
        return None
    side = match.group(1)
    return side.replace("-sided", "")


def _segments(sentence):
    """(start, end) of the list items of a sentence and its separators."""
    body_end = len(sentence.rstrip(" .!?"))
    segments = []
    start = 0
    for match in _SEPARATOR.finditer(sentence, 0, body_end):
        segments.append((start, match.start()))
        start = match.end()
    segments.append((start, body_end))
    return segments, body_end


def _observation_status(mentions, skip):
    statuses = {}
    for mention in mentions:
        if mention.observation and mention.observation != skip:
            statuses.setdefault(mention.observation, set()).add(mention.status)
    return {k: _aggregate(v) for k, v in statuses.items()}


def _cut(sentence, mentions, finding):
    """The sentence without the list items that mention `finding`.

    Returns None when the items cannot be cut cleanly (another observation
    in the same item, or a change of another observation's status).
    """
    segments, body_end = _segments(sentence)
    targets = [m for m in mentions if m.observation == finding]
    others = [m for m in mentions if m.observation != finding]
    cut = []
    for index, (a, b) in enumerate(segments):
        inside = [m for m in targets if m.start < b and m.end > a]
        if not inside:
            continue
        if any(m.start < b and m.end > a for m in others):
            return None
        if index == 0:
            # Keep a leading negation ("No effusion or pneumothorax").
            first = min(m.start for m in inside)
            lead = lower(sentence[a:first])
            if re.match(r"\s*(?:there (?:is|are) )?(?:no|without)\b", lead):
                a = first
        cut.append((index, a, b))
    if not cut or len(cut) == len(segments):
        return None
    removed = {i: start for i, start, _ in cut}
    pieces = []
    last_kept = None
    for index, (a, b) in enumerate(segments):
        if index in removed:
            if removed[index] > a:  # kept lead words ("No ")
                pieces.append(sentence[a : removed[index]])
            continue
        if last_kept is not None:
            # The separator just before this item.
            pieces.append(sentence[segments[index - 1][1] : a])
        pieces.append(sentence[a:b])
        last_kept = index
    text = "".join(pieces).strip(" ,;")
    text = re.sub(r"\s{2,}", " ", text)
    text = re.sub(r"^(?:and|or|with|nor)\s+", "", text, flags=re.IGNORECASE)
    previous = None
    while previous != text:
        previous = text
        text = _DANGLING.sub("", text).rstrip(" ,;")
    if not any(c.isalnum() for c in text):
        return None
    text = _capital(text) + (sentence[body_end:].strip() or ".")
    new_mentions = sentence_mentions(text)
    if any(m.observation == finding for m in new_mentions):
        return None
    if _observation_status(new_mentions, finding) != _observation_status(
        mentions, finding
    ):
        return None
    return text


def _rebuild(mentions, finding, rng):
    """Template sentences keeping every other observation's status."""
    out = []
    status = _observation_status(mentions, finding)
    seen = set()
    for mention in mentions:
        obs = mention.observation
        if not obs or obs == finding or obs in seen:
            continue
        seen.add(obs)
        value = status[obs]
        name = _finding_of(mention)
        if value == POSITIVE:
            out.append(_sentence_for(name, None, True, rng))
        elif value == UNCERTAIN:
            out.append(f"Possible {_phrase(name, None)}.")
        else:
            out.append(_sentence_for(name, None, False, rng))
    return out


class FindingNotStatedError(ValueError):
    """`negate_finding` was asked to negate a finding the report does not
    state as positive or uncertain (so there is nothing to negate).

    Pass `if_absent="keep"` to `negate_finding` to get the report back
    unchanged instead.

    Example:
    >>> try:
    ...     negate_finding("The lungs are clear.", "Pleural Effusion")
    ... except FindingNotStatedError as error:
    ...     print(type(error).__name__, isinstance(error, ValueError))
    FindingNotStatedError True
    """


class NegationRejectedError(ValueError):
    """The negation family could not negate the finding so that the
    labeler reads it absent with every other label unchanged: the text is
    rejected rather than used as a hard negative.

    Example:
    >>> issubclass(NegationRejectedError, ValueError)
    True
    """


def _keep(text, finding):
    return text


def _refuse(text, finding):
    raise FindingNotStatedError(
        f"the report does not state {finding!r} as positive or uncertain, so "
        "there is nothing to negate (label_report gives "
        f"{_current_label(text, finding)}); pass if_absent='keep' to get the "
        "report back unchanged"
    )


def _current_label(text, finding):
    return label_report(text, sections=None)[finding]


# What `negate_finding` does with a report that does not state the finding.
IF_ABSENT = {"raise": _refuse, "keep": _keep}


def _edit(report, finding, mode, seed, if_absent=_keep, family=None):
    check_observation(finding)
    if finding == "No Finding":
        raise ValueError(
            f"finding {finding!r} cannot be {mode}d: it is derived from the "
            "other observations; choose one of them instead"
        )
    text = as_text(report)
    rng = random.Random(f"{seed}|{finding}|{mode}")
    pieces = []
    position = 0
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        mentions = sentence_mentions(sentence)
        mine = [m for m in mentions if m.observation == finding]
        if mode == "negate":
            target = [m for m in mine if m.status != NEGATIVE]
        elif mode == "omit":
            target = mine
        else:
            target = [m for m in mine if m.status == NEGATIVE]
        if not target:
            continue
        if mode == "negate":
            new = _negated(sentence, mentions, target[0], finding, family, rng)
        else:
            new = _rewrite(sentence, mentions, target, finding, mode, rng)
        pieces.append(text[position:a])
        if new:
            pieces.append(new)
        elif pieces and pieces[-1].endswith(" ") and b < len(text):
            # Dropped sentence: do not leave a double space behind.
            b = b + len(text[b:]) - len(text[b:].lstrip(" "))
        position = b
    if not pieces:
        return if_absent(text, finding)
    pieces.append(text[position:])
    return (
        "".join(pieces).strip() if not text[:1].isspace() else "".join(pieces)
    )


def _main_side(sentence, main, others):
    if others:
        return _side(sentence[max(0, main.start - 40) : main.end])
    return _side(sentence)


def _kept(sentence, mentions, finding, rng):
    """The sentence without the finding, or None (it stated nothing else)."""
    if not any(m.observation != finding for m in mentions):
        return None
    # Cutting list items is quadratic in the items of a sentence: a
    # pathological run-on sentence is rebuilt from templates instead.
    kept = (
        _cut(sentence, mentions, finding) if len(sentence) <= _MAX_CUT else None
    )
    if kept is None:
        kept = " ".join(_rebuild(mentions, finding, rng)) or None
    return kept


def _same_labels(labels, reference, finding):
    """`labels` read `finding` absent and every other label as in
    `reference` ("No Finding", which follows from the others, aside)."""
    if labels[finding] != NEGATIVE:
        return False
    for name, value in reference.items():
        if name in (finding, "No Finding"):
            continue
        other = labels[name]
        if not (other == value or (math.isnan(other) and math.isnan(value))):
            return False
    return True


def _negated(sentence, mentions, main, finding, family, rng):
    """The sentence negated by `family`: one of its candidates that the
    labeler reads as intended, or None when there is none."""
    others = [m for m in mentions if m.observation != finding]
    kept = _kept(sentence, mentions, finding, rng)
    site = _Site(
        sentence,
        main.start,
        main.end,
        finding,
        _finding_of(main),
        _main_side(sentence, main, others),
        kept,
    )
    reference = label_report(sentence, sections=None)
    good = [
        text
        for text in _candidates(site, family)
        if _same_labels(label_report(text, sections=None), reference, finding)
    ]
    if not good:
        raise NegationRejectedError(
            f"negation family {family!r} has no sentence that the labeler "
            f"reads as {finding!r} absent with the other labels unchanged "
            f"for {sentence!r}; use another family"
        )
    return rng.choice(good)


def _rewrite(sentence, mentions, target, finding, mode, rng):
    main = target[0]
    others = [m for m in mentions if m.observation != finding]
    side = _main_side(sentence, main, others)
    if mode == "omit":
        addition = None
    else:
        addition = _sentence_for(_finding_of(main), side, mode == "affirm", rng)
    if not others:
        return addition
    kept = _kept(sentence, mentions, finding, rng)
    parts = [p for p in (kept, addition) if p]
    return " ".join(parts)


def negate_finding(
    report, finding, seed=0, if_absent="raise", family=DEFAULT_FAMILY
):
    """The report with every positive or uncertain statement of `finding`
    turned into a negative one.

    The rewritten sentences take the surface form of a negation `family`
    (`keras_clinclip.reports.negation_families.FAMILIES`). Every candidate
    sentence, and then the whole new report, is read by the labeler: the
    finding must read absent and every other label unchanged, or the text
    is rejected (`NegationRejectedError`).

    Args:
        report: the report text.
        finding: one of `CHEXPERT_OBSERVATIONS` (not "No Finding").
        seed: picks among several phrasings; the same seed gives the same
            text.
        if_absent: what to do when the report does not state `finding` as
            positive or uncertain (it is negative or not mentioned, so a
            "negation" would be the report itself): `"raise"` (default) a
            `FindingNotStatedError`, or `"keep"` to return the report
            unchanged. The choices are the keys of `IF_ABSENT`.
        family: the negation family: `"templates"` (default),
            `"in_place"`, `"resolution"`, `"vocabulary"` or `"synonyms"`.

    Returns:
        The new report (`str`). The side (left / right / bilateral) of the
        original statement is kept.

    Raises:
        ValueError: `finding` is not one of the 14 observations,
            `if_absent` is not a key of `IF_ABSENT` or `family` is unknown.
        FindingNotStatedError: (a `ValueError`) the report does not state
            `finding` as positive or uncertain, with `if_absent="raise"`.
        NegationRejectedError: (a `ValueError`) the family's text does not
            read as intended.

    Example:
    >>> negate_finding("Small left pleural effusion. Mild cardiomegaly.",
    ...                "Pleural Effusion")
    'There is no left pleural effusion. Mild cardiomegaly.'
    >>> negate_finding("Small left pleural effusion. Mild cardiomegaly.",
    ...                "Pleural Effusion", family="resolution")
    'Interval resolution of the left pleural effusion. Mild cardiomegaly.'
    >>> negate_finding("No pneumothorax.", "Pneumothorax", if_absent="keep")
    'No pneumothorax.'
    """
    try:
        policy = IF_ABSENT[if_absent]
    except (KeyError, TypeError):
        raise ValueError(
            f"if_absent must be one of {sorted(IF_ABSENT)}, got {if_absent!r}"
        ) from None
    check_family(family)
    text = as_text(report)
    new = _edit(text, finding, "negate", seed, policy, family=family)
    if new != text and not _same_labels(
        label_report(new), label_report(text), finding
    ):
        raise NegationRejectedError(
            f"negation family {family!r}: the negated report does not read "
            f"{finding!r} absent with the other labels unchanged; use "
            "another family"
        )
    return new


def omit_finding(report, finding):
    """The report with every statement of `finding` removed.

    Positive, uncertain and negative statements are all removed, so that
    the observation is no longer mentioned (label NaN).

    Args:
        report: the report text.
        finding: one of `CHEXPERT_OBSERVATIONS` (not "No Finding").

    Returns:
        The new report (`str`).

    Raises:
        ValueError: `finding` is not one of the 14 observations.

    Example:
    >>> omit_finding("Cardiomegaly and small left effusion. No pneumothorax.",
    ...              "Pleural Effusion")
    'Cardiomegaly. No pneumothorax.'
    """
    return _edit(report, finding, "omit", 0)


def affirm_finding(report, finding, seed=0):
    """The report with a negative statement of `finding` turned positive.

    Args:
        report: the report text.
        finding: one of `CHEXPERT_OBSERVATIONS` (not "No Finding").
        seed: picks among several phrasings.

    Returns:
        The new report (`str`): every negative statement of `finding` becomes
        positive; when no statement is left positive (the report did not
        mention `finding`), a positive sentence is appended.

    Raises:
        ValueError: `finding` is not one of the 14 observations.

    Example:
    >>> affirm_finding("No pneumothorax. Heart size is normal.",
    ...                "Pneumothorax")
    'Pneumothorax is seen. Heart size is normal.'
    """
    text = _edit(report, finding, "affirm", seed)
    if label_report(text, sections=None)[finding] != POSITIVE:
        rng = random.Random(f"{seed}|{finding}|append")
        name = lexicon().by_observation[finding][0]
        text = f"{text.rstrip()} {_sentence_for(name, None, True, rng)}".strip()
    return text
