"""Sentence splitting for radiology reports."""

import re

from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.sections import _HEADING

# A sentence ends at ".", "!" or "?" followed by white space (or the end),
# at a blank line, at a section heading ("FINDINGS:"), or before a numbered
# item ("1. ", "2) ").
_BOUNDARY = re.compile(
    _HEADING.pattern + "|"  # section heading
    r"[.!?]+(?=\s|$)"  # end punctuation
    r"|\n[ \t]*\n\s*"  # blank line
    r"|(?:(?<=\s)|^)\d{1,2}[.)](?=\s)"  # numbered item marker
)
_ABBREVIATIONS = frozenset(
    {
        "dr",
        "vs",
        "e.g",
        "i.e",
        "approx",
        "mr",
        "mrs",
        "ms",
        "st",
        "fig",
        "ref",
        "etc",
        "cf",
        "no",
    }
)
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)$")


def sentence_spans(text):
    """`(start, end)` offsets of the sentences of `text`.

    Each span excludes surrounding white space, list markers and the final
    punctuation is kept inside the span. Text between spans (white space,
    "1." markers) is never part of a sentence.
    """
    spans = []
    start = 0
    n = len(text)
    for match in _BOUNDARY.finditer(text):
        token = match.group()
        if token[0] in ".!?":
            if token == ".":
                word = _WORD_BEFORE.search(text, 0, match.start())
                if word:
                    before = word.group(1).lower().rstrip(".")
                    # "vs." or "Dr." do not end a sentence; "No." does only
                    # when it is the whole sentence.
                    if before in _ABBREVIATIONS and before != "no":
                        continue
            end = match.end()
            _add(text, start, end, spans)
            start = end
        else:
            _add(text, start, match.start(), spans)
            start = match.end()
    _add(text, start, n, spans)
    return spans


def _add(text, start, end, spans):
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(c.isalnum() for c in text[start:end]):
        spans.append((start, end))


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
    from keras_clinclip.reports.labeler import expand_negated_list

    out = []
    for sentence in sentences:
        out.extend(expand_negated_list(sentence))
    return out
