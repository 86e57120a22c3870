"""Section splitting for free-text radiology reports (MIMIC-CXR style)."""

import re

from keras_clinclip.reports._text import as_text

# Known section names (upper case); any upper-case heading at the start of
# a line followed by a colon is also a section.
KNOWN_SECTIONS = (
    "EXAMINATION",
    "EXAM",
    "INDICATION",
    "CLINICAL INDICATION",
    "CLINICAL INFORMATION",
    "CLINICAL HISTORY",
    "HISTORY",
    "REASON FOR EXAM",
    "REASON FOR EXAMINATION",
    "TECHNIQUE",
    "COMPARISON",
    "COMPARISONS",
    "FINDINGS",
    "FINDING",
    "IMPRESSION",
    "IMPRESSIONS",
    "CONCLUSION",
    "CONCLUSIONS",
    "RECOMMENDATION",
    "RECOMMENDATIONS",
    "NOTIFICATION",
    "ADDENDUM",
    "WET READ",
    "FINAL REPORT",
)
_CANONICAL = {
    "FINDING": "FINDINGS",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
    "CONCLUSIONS": "IMPRESSION",
    "COMPARISONS": "COMPARISON",
    "EXAM": "EXAMINATION",
    "RECOMMENDATIONS": "RECOMMENDATION",
}
_KNOWN = "|".join(
    re.escape(name) for name in sorted(KNOWN_SECTIONS, key=len, reverse=True)
)
# A known heading anywhere (case-insensitive, followed by ":"), or any
# upper-case heading at the start of a line followed by ":".
_HEADING = re.compile(
    rf"(?:(?<![A-Za-z])(?i:{_KNOWN})\s*:|(?m:^)[ \t]*[A-Z][A-Z /&()-]{{2,40}}:)"
    r"|(?m:^)[ \t]*FINAL REPORT(?=[ \t]*(?:\n|$))"
)
BODY_SECTIONS = ("FINDINGS", "IMPRESSION")
# Sections that say why and how the exam was done, not what it shows: a
# report without FINDINGS or IMPRESSION is labelled without them (their
# first paragraph; MIMIC-CXR reports often go on without a heading).
CONTEXT_SECTIONS = (
    "EXAMINATION",
    "INDICATION",
    "CLINICAL INDICATION",
    "CLINICAL INFORMATION",
    "CLINICAL HISTORY",
    "HISTORY",
    "REASON FOR EXAM",
    "REASON FOR EXAMINATION",
    "TECHNIQUE",
    "COMPARISON",
    "NOTIFICATION",
    "RECOMMENDATION",
)
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


def split_sections(text):
    """Split a report into its sections.

    Args:
        text: the report (`str` or UTF-8 `bytes`).

    Returns:
        A `dict` from upper-case section name to its stripped text, in order
        of appearance. Synonyms are merged ("IMPRESSIONS", "CONCLUSION" ->
        "IMPRESSION"; "FINDING" -> "FINDINGS"); a repeated section is
        joined with a space. Text before the first heading goes under
        "PREAMBLE"; a report without any heading is returned whole under
        "TEXT". Empty sections are kept as "".

    Example:
    >>> sections = split_sections(
    ...     "INDICATION: cough.\\nFINDINGS: Clear lungs.\\nIMPRESSION: Normal.")
    >>> sections["FINDINGS"], sections["IMPRESSION"]
    ('Clear lungs.', 'Normal.')
    >>> list(sections)
    ['INDICATION', 'FINDINGS', 'IMPRESSION']
    >>> split_sections("Clear lungs.")
    {'TEXT': 'Clear lungs.'}
    """
    text = as_text(text, "text")
    matches = list(_HEADING.finditer(text))
    if not matches:
        return {"TEXT": text.strip()} if text.strip() else {}
    sections = {}
    preamble = text[: matches[0].start()].strip()
    if preamble:
        sections["PREAMBLE"] = preamble
    for i, match in enumerate(matches):
        name = " ".join(match.group().strip().rstrip(":").upper().split())
        name = _CANONICAL.get(name, name)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        if name in sections and sections[name]:
            sections[name] = f"{sections[name]} {body}".strip()
        else:
            sections[name] = body
    return sections


def report_body(text, sections=None):
    """The part of a report to label: FINDINGS and IMPRESSION.

    Args:
        text: the report.
        sections: section names to keep (default FINDINGS, IMPRESSION).

    Returns:
        The kept sections joined by a blank line. A text without any section
        heading is returned whole; a text with headings but none of the
        wanted sections is returned without its `CONTEXT_SECTIONS`
        (indication, history, technique, comparison, notification, ...):
        their first paragraph is dropped and any paragraph after it kept.

    Example:
    >>> report_body("INDICATION: r/o pneumonia. FINDINGS: No effusion.")
    'No effusion.'
    >>> report_body("HISTORY: r/o pneumonia.\\n\\nThe lungs are clear.")
    'The lungs are clear.'
    """
    text = as_text(text, "text")
    if not _HEADING.search(text):
        return text
    wanted = tuple(sections or BODY_SECTIONS)
    parts = split_sections(text)
    kept = [parts[name] for name in wanted if parts.get(name)]
    if kept:
        return "\n\n".join(kept)
    for name, body in parts.items():
        if name in CONTEXT_SECTIONS:
            pieces = _PARAGRAPH.split(body, maxsplit=1)
            body = pieces[1].strip() if len(pieces) > 1 else ""
        if body:
            kept.append(body)
    return "\n\n".join(kept)
