"""Negation generator families: the same edit in disjoint surface forms.

A negated report is a hard negative; if every negation in training and in
the benchmark comes from one generator, a model can learn that generator's
phrasing instead of negation. Each family here rewrites the sentence that
states a finding in its own surface form:

- `templates`: today's sentence templates ("There is no left pleural
  effusion.");
- `in_place`: the report's own sentence edited where it stands ("Small
  left effusion, unchanged." -> "No left effusion."; a list item dropped
  and a ", but no ..." clause added);
- `resolution`: resolution and temporal forms ("has resolved", "is no
  longer seen", "interval clearing of");
- `vocabulary`: negative words beyond "no" ("negative for", "absent", "not
  identified", "without", "free of", "clear", "unremarkable");
- `synonyms`: other names of the finding from the lexicon ("pleural
  fluid", "enlarged heart", "heart size is not enlarged").

A family is a function from a `_Site` (the sentence, the mention, the
finding, its side and the rest of the sentence once the finding is cut)
to candidate sentences; `FAMILIES` maps its name to it, in priority order.
A family never uses a sentence that a family before it in `FAMILIES`
proposes for the same site (so two families never give the same text),
and `keras_clinclip.reports.negate_finding` keeps only candidates that the
labeler reads as intended.
"""

import functools
import re
from typing import NamedTuple

import yaml

from keras_clinclip.reports._lexicon import DATA_DIR
from keras_clinclip.reports._lexicon import lexicon


class _Site(NamedTuple):
    """Where a finding is stated: what a family rewrites.

    `sentence`: the whole sentence; `start`/`end`: the offsets of the
    finding's (first) mention in it; `finding`: the observation; `name`:
    the lexicon finding of the mention; `side`: "left", "right",
    "bilateral", ... or None; `kept`: the sentence with the finding's list
    items cut (None when it stated nothing else).
    """

    sentence: str
    start: int
    end: int
    finding: str
    name: str
    side: str
    kept: str


@functools.cache
def sentence_templates():
    """The sentence templates of the `templates` family (templates.yaml).

    Returns:
        A dict: "negative" and "positive" lists of format strings.

    Example:
    >>> sentence_templates()["negative"][0]
    'No {phrase}.'
    """
    with open(DATA_DIR / "templates.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def capital(text):
    """The text with a capital first letter.

    Args:
        text: a string.

    Returns:
        The string with its first character upper-cased.

    Example:
    >>> capital("no effusion.")
    'No effusion.'
    """
    return text[:1].upper() + text[1:] if text else text


def finding_phrase(finding_name, side=None):
    """The lexicon phrase of a finding, with its side when it takes one.

    Args:
        finding_name: a finding of the lexicon (findings.yaml).
        side: "left", "right", ... or None.

    Returns:
        The phrase (`str`).

    Example:
    >>> finding_phrase("pleural effusion", "left")
    'left pleural effusion'
    """
    spec = lexicon().findings[finding_name]
    phrase = spec.get("phrase") or finding_name
    if side and spec.get("lateral"):
        phrase = f"{side} {phrase}"
    return phrase


def _join(kept, addition):
    return " ".join(p for p in (kept, addition) if p)


def _lateral(site):
    return bool(site.side and lexicon().findings[site.name].get("lateral"))


def _phrases(site, texts, certain=True):
    name = site.name
    if certain and lexicon().findings[name].get("uncertain"):
        # "borderline cardiomegaly" is a hedge: negate the finding itself.
        name = lexicon().by_observation[site.finding][0]
    phrase = finding_phrase(name, site.side)
    return [
        _join(site.kept, t.format(phrase=phrase, Phrase=capital(phrase)))
        for t in texts
    ]


def _templates(site):
    spec = lexicon().findings[site.name]
    own = spec.get("negative_sentence")
    if own and not _lateral(site):
        own = [own] if isinstance(own, str) else own
        return [_join(site.kept, t) for t in own]
    return _phrases(site, sentence_templates()["negative"], certain=False)


# --- in_place ---------------------------------------------------------------
# Words in front of a mention that go when it is negated ("a small new").
_MODIFIERS = frozenset(
    "a an the some small large tiny trace minimal mild moderate marked "
    "severe slight new increasing increased persistent residual stable "
    "unchanged chronic acute subtle patchy focal minimally mildly "
    "moderately markedly slightly severely mild-to-moderate "
    "moderate-to-large small-to-moderate".split()
)
_SIDES = frozenset(
    "left right bilateral bibasilar bibasal biapical left-sided "
    "right-sided basilar basal apical".split()
)
# Status words after a mention that go with it ("..., unchanged").
_TAIL = re.compile(
    r"^(?:,?\s*(?:(?:is|are|has|have)\s+)?(?:again\s+)?(?:unchanged|stable|"
    r"persistent|persists|redemonstrated|present|noted|seen|identified|"
    r"appreciated|demonstrated|visualized|increased|decreased|worsened|"
    r"improved)\b)+",
    re.IGNORECASE,
)
# Measurements in front of a mention ("a 5 mm nodule") go with it.
_MEASURE = re.compile(
    r"^(?:\d+(?:\.\d+)?(?:-?(?:mm|cm))?|mm|cm|x|by)$", re.IGNORECASE
)
# The words after which "no <finding>" reads as English ("there is no",
# "with no", "and no"); after any other the sentence starts afresh
# ("A vague nodular like opacity" -> "No opacity", not "... like no ...").
_BEFORE_NO = frozenset(
    "is are was were with of and or there but shows show showing "
    "demonstrates demonstrating reveals revealing".split()
)
_COPULA = re.compile(
    r"\b(is|are|appears?|remains?)\s+(?:(?:mildly|moderately|markedly|"
    r"slightly|minimally|severely|again|now|still|somewhat)\s+)*",
    re.IGNORECASE,
)


def _in_place(site):
    sentence, start, end = site.sentence, site.start, site.end
    mention = sentence[start:end]
    out = []
    copula = _COPULA.search(mention)
    if copula:
        # "heart size is mildly enlarged" -> "heart size is not enlarged"
        edited = (
            mention[: copula.start()]
            + copula.group(1)
            + " not "
            + mention[copula.end() :]
        )
        out.append(sentence[:start] + edited + sentence[end:])
    else:
        words = sentence[:start].split(" ")
        side_words = []
        while words and words[-1] == "":
            words.pop()
        while words and (
            words[-1].lower().strip(",") in _MODIFIERS | _SIDES
            or _MEASURE.match(words[-1])
        ):
            word = words.pop()
            if word.lower() in _SIDES:
                side_words.insert(0, word.lower())
        lead = " ".join(words)
        if (
            lead
            and lead[-1] not in ",;:"
            and words[-1].lower() not in (_BEFORE_NO)
        ):
            # Start afresh, keeping the side ("Left lung opacity" -> "No
            # left opacity").
            lead = ""
            dropped = [w.lower().strip(",") for w in words]
            side_words = [w for w in dropped if w in _SIDES] + side_words
        tail = _TAIL.sub("", sentence[end:])
        core = " ".join([*side_words, mention.lower()])
        negated = f"{lead} no {core}" if lead else f"No {core}"
        out.append(negated + tail)
        if not tail.strip(" .") and not lead:
            out.append(f"{capital(core)} is not present.")
    if site.kept:
        body = site.kept.rstrip(" .")
        side = f"{site.side} " if _lateral(site) else ""
        noun = mention.lower() if not copula else site.name
        if side and noun.startswith(site.side):
            side = ""
        out.append(f"{body}, but no {side}{noun}.")
    return out


# --- resolution -------------------------------------------------------------
_RESOLUTION = (
    "The {phrase} has resolved.",
    "Interval resolution of the {phrase}.",
    "Interval clearing of the {phrase}.",
    "The previously seen {phrase} is no longer seen.",
)
_RESOLUTION_BY_OBSERVATION = {
    "Support Devices": (
        "The {phrase} has been removed.",
        "Interval removal of the {phrase}.",
    ),
    "Fracture": ("The previously seen {phrase} is no longer seen.",),
}


def _resolution(site):
    texts = _RESOLUTION_BY_OBSERVATION.get(site.finding, _RESOLUTION)
    return _phrases(site, texts)


# --- vocabulary -------------------------------------------------------------
_VOCABULARY = (
    "Negative for {phrase}.",
    "{Phrase} is absent.",
    "{Phrase} is not identified.",
    "The chest is without {phrase}.",
)
_LUNG = ("Lung Opacity", "Consolidation", "Pneumonia", "Atelectasis")


def _vocabulary(site):
    texts = list(_VOCABULARY)
    if site.finding in _LUNG:
        lung = f"The {site.side} lung is" if _lateral(site) else "The lungs are"
        texts.append(lung + " free of {phrase}.")
    if site.finding == "Pleural Effusion":
        if site.side in ("left", "right"):
            texts.append(f"The {site.side} costophrenic angle is clear.")
        elif site.side:
            texts.append("The costophrenic angles are clear bilaterally.")
        else:
            texts.append("The costophrenic angles are clear.")
    if site.finding == "Enlarged Cardiomediastinum":
        texts.append("The mediastinum is unremarkable.")
    if site.finding == "Cardiomegaly":
        texts.append("The cardiac silhouette is unremarkable.")
    return _phrases(site, texts)


# --- synonyms ---------------------------------------------------------------
# Other names of each observation that the lexicon reads ({side} is the
# side and a space for a lateral finding stated with a side).
_SYNONYMS = {
    "Enlarged Cardiomediastinum": (
        "No widened mediastinum is seen.",
        "There is no mediastinal widening.",
        "The mediastinum is not widened.",
    ),
    "Cardiomegaly": (
        "No cardiac enlargement is seen.",
        "There is no enlarged heart.",
        "Heart size is not enlarged.",
        "The cardiac silhouette is not enlarged.",
    ),
    "Lung Opacity": (
        "There is no {side}airspace disease.",
        "No {side}pulmonary infiltrate is seen.",
        "There is no {side}parenchymal opacity.",
    ),
    "Lung Lesion": (
        "No {side}nodule is seen.",
        "There is no {side}mass lesion.",
        "No {side}nodular density is seen.",
    ),
    "Edema": (
        "No vascular congestion is seen.",
        "There is no interstitial edema.",
    ),
    "Consolidation": (
        "No {side}airspace consolidation is seen.",
        "There is no {side}consolidative change.",
    ),
    "Pneumonia": (
        "No {side}infectious process is seen.",
        "There is no {side}bronchopneumonia.",
    ),
    "Atelectasis": (
        "No {side}atelectatic change is seen.",
        "There is no {side}subsegmental atelectasis.",
    ),
    "Pneumothorax": (
        "No visible {side}pneumothorax is seen.",
        "There is no appreciable {side}pneumothorax.",
    ),
    "Pleural Effusion": (
        "No {side}pleural fluid is seen.",
        "There is no fluid in the {side}pleural space.",
    ),
    "Pleural Other": (
        "No {side}pleural scarring is seen.",
        "There is no {side}pleural plaque.",
    ),
    "Fracture": (
        "No {side}osseous fracture is seen.",
        "There is no {side}fractured rib.",
    ),
    "Support Devices": (
        "No indwelling lines or tubes are seen.",
        "There is no catheter.",
    ),
}


def _synonyms(site):
    side = f"{site.side} " if _lateral(site) else ""
    texts = _SYNONYMS.get(site.finding, ())
    return [_join(site.kept, t.replace("{side}", side)) for t in texts]


# name -> candidates(site), in priority order (see the module doc).
FAMILIES = {
    "templates": _templates,
    "in_place": _in_place,
    "resolution": _resolution,
    "vocabulary": _vocabulary,
    "synonyms": _synonyms,
}
DEFAULT_FAMILY = "templates"
# The families training rewrites its negations with by default: all but
# `templates`, the family of the library's CXR-Align benchmark
# (`build_cxr_align`), so that the headline Task A is scored on a
# generator training never saw (cross-family; docs/results.md, the
# rotation that chose it).
TRAINING_FAMILIES = "in_place,resolution,vocabulary,synonyms"


def check_family(family):
    """The family name, checked against `FAMILIES`.

    Args:
        family: a name.

    Returns:
        The name.

    Raises:
        ValueError: an unknown name; the message lists the known ones.

    Example:
    >>> check_family("resolution")
    'resolution'
    """
    if family not in FAMILIES:
        raise ValueError(
            f"unknown negation family {family!r}; choose one of "
            f"{', '.join(FAMILIES)}"
        )
    return family


def _candidates(site, family):
    """The sentences `family` proposes for a site, without any that a
    family before it in `FAMILIES` proposes (so families stay disjoint).
    """
    taken = set()
    for name, candidates in FAMILIES.items():
        if name == family:
            break
        taken.update(candidates(site))
    out = []
    for text in FAMILIES[family](site):
        text = re.sub(r"\s{2,}", " ", text).strip()
        if text not in taken and text not in out:
            out.append(text)
    return out
