"""Sentence splitting for radiology reports, one finding per sentence.

`sentence_spans` (the boundaries) lives in `keras_clinclip.reports.spans`
and is re-exported here; `split_sentences` expands negated lists with the
labeler's mentions.
"""

import re

from keras_clinclip.reports._lexicon import lexicon
from keras_clinclip.reports._lexicon import lower
from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.labeler import NEGATIVE
from keras_clinclip.reports.labeler import _scan
from keras_clinclip.reports.labeler import _words
from keras_clinclip.reports.labeler import sentence_mentions
from keras_clinclip.reports.spans import sentence_spans

__all__ = ["expand_negated_list", "sentence_spans", "split_sentences"]


def split_sentences(text, expand_lists=True):
    """Split a report into sentences.

    A negated list ("No focal consolidation, pleural effusion, or
    pneumothorax.") becomes one negative sentence per finding, so that each
    sentence states one finding, unless `expand_lists=False`.

    Args:
        text: the report (`str`, or UTF-8 `bytes`).
        expand_lists: split negated lists into one sentence per finding.

    Returns:
        A list of `str`, in order, stripped, with their final punctuation.

    Example:
    >>> split_sentences("Heart size is normal. No effusion or pneumothorax.")
    ['Heart size is normal.', 'No effusion.', 'No pneumothorax.']
    >>> split_sentences("1. Cardiomegaly. 2. Small left effusion.")
    ['Cardiomegaly.', 'Small left effusion.']
    """
    text = as_text(text, "text")
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    if not expand_lists:
        return sentences
    out = []
    for sentence in sentences:
        out.extend(expand_negated_list(sentence))
    return out


_LIST_SPLIT = re.compile(r"\s*,\s*(?:and |or |nor )?|\s+(?:and|or|nor)\s+")


def expand_negated_list(sentence):
    """Split "No A, B, or C." into "No A.", "No B.", "No C.".

    Only a sentence that is a negation followed by a plain list of negative
    mentions, one per item, is expanded; any other sentence is returned as
    the only element of the list.
    """
    mentions = sentence_mentions(sentence)
    if len(mentions) < 2 or any(m.status != NEGATIVE for m in mentions):
        return [sentence]
    body = sentence.rstrip(" .!?")
    lex = lexicon()
    low = lower(body)
    first = None
    for a, b, kind in _scan(lex.trigger_re, lex.trigger_payload, low):
        if a >= mentions[0].start:
            break
        if kind == "negation_pre":
            first = b
    if first is None or low[:first].split()[0] not in (
        "no",
        "there",
        "without",
        "negative",
        "not",
    ):
        return [sentence]
    prefix = body[:first]
    while first < len(body) and body[first] == " ":
        first += 1
    # Items: split the rest at commas / and / or.
    rest = body[first:]
    pieces = []
    position = first
    for part in _LIST_SPLIT.split(rest):
        pieces.append((position, part))
        position = sentence.find(part, position) + len(part)
    items = []
    mention_index = 0
    for _, part in pieces:
        if not part.strip():
            return [sentence]
        items.append(part.strip())
    if len(items) != len(mentions):
        return [sentence]
    # Each item must hold exactly one mention and nothing clause-like.
    for item in items:
        found = sentence_mentions(item)
        if len(found) != 1 or _words(item) > 6:
            return [sentence]
        mention_index += 1
    prefix = prefix.rstrip() + " "
    # The first word of each item keeps its case except the first letter.
    return [f"{prefix}{item}." for item in items]
