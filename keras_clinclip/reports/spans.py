"""Sentence boundaries in report text: the offsets of each sentence.

The lowest layer of the report toolkit after `sections`: the labeler,
negation and graph code find sentences here, and `sentences` builds the
one-finding sentences on top of the labeler.
"""

import re

from keras_clinclip.reports.sections import _HEADING

# A sentence ends at ".", "!" or "?" followed by white space (or the end),
# at a blank line, at a section heading ("FINDINGS:"), or before a numbered
# item ("1. ", "2) ").
_BOUNDARY = re.compile(
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
    }
)
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)$")


def _boundaries(text):
    """(start, end, is_period) of every boundary, in order."""
    found = [
        (m.start(), m.end(), m.group() == ".") for m in _BOUNDARY.finditer(text)
    ]
    if ":" in text or "FINAL REPORT" in text:
        found.extend(
            (m.start(), m.end(), False) for m in _HEADING.finditer(text)
        )
        found.sort()
    return found


def sentence_spans(text):
    """`(start, end)` offsets of the sentences of `text`.

    Each span excludes surrounding white space, list markers and section
    headings; the final punctuation is kept inside the span. Linear in the
    length of the text.

    Example:
    >>> sentence_spans("No effusion. Mild cardiomegaly.")
    [(0, 12), (13, 31)]
    """
    spans = []
    start = 0
    for b_start, b_end, is_period in _boundaries(text):
        if b_start < start:  # overlaps the boundary before (a heading)
            start = max(start, b_end)
            continue
        if is_period:
            word = _WORD_BEFORE.search(text[max(0, b_start - 12) : b_start])
            # "vs." or "Dr." do not end a sentence.
            if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
                continue
            _add(text, start, b_end, spans)
        else:
            punct = text[b_start] in ".!?"
            _add(text, start, b_end if punct else b_start, spans)
        start = b_end
    _add(text, start, len(text), spans)
    return spans


def _add(text, start, end, spans):
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(c.isalnum() for c in text[start:end]):
        spans.append((start, end))
