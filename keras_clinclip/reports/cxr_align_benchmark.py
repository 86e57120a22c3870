"""CXR-Align-format benchmarks: build ours, load the official file.

The schema (that of the released CXR-Align benchmark):

    {"<source>": {"<id>": {"report": str, "chosen": str, "negation": str,
                           "omitted": str, "location": str}}}

`chosen` is the observation that was negated/omitted, `location` the side
and site of its statement in the report ("" when none is named).
"""

import json
import logging
import random

from keras_clinclip.chexpert import POSITIVE
from keras_clinclip.reports._lexicon import lexicon
from keras_clinclip.reports._lexicon import lower
from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.labeler import _scan
from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import positive_findings
from keras_clinclip.reports.labeler import sentence_mentions
from keras_clinclip.reports.negation import NegationRejectedError
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation import omit_finding
from keras_clinclip.reports.spans import sentence_spans

logger = logging.getLogger("keras_clinclip.reports")

REQUIRED_KEYS = ("report", "negation", "omitted")
ALL_KEYS = ("report", "chosen", "negation", "omitted", "location")


def _location(report, finding):
    lex = lexicon()
    for a, b in sentence_spans(report):
        sentence = report[a:b]
        for mention in sentence_mentions(sentence):
            if mention.observation != finding or mention.status == 0.0:
                continue
            low = lower(sentence)
            words = []
            for start, end, (kind, _) in _scan(
                lex.anatomy_re, lex.anatomy_payload, low
            ):
                inside = start < mention.end and end > mention.start
                if kind in ("s", "a") and not inside:
                    words.append(sentence[start:end].lower())
            return " ".join(dict.fromkeys(words))
    return ""


def build_cxr_align(
    reports,
    ids=None,
    source="keras_clinclip",
    seed=0,
    positive_only=True,
    family="templates",
):
    """A CXR-Align-format benchmark from reports.

    For each report with at least one positive finding, one finding is
    chosen (seeded), and the negated and omitted reports are made with
    `negate_finding` and `omit_finding`. Reports without a positive finding
    (or bad rows) are skipped, and so are those whose negated report is the
    report itself (no model could tell them apart; counted in the log,
    logger `keras_clinclip.reports`), and so are those whose negation the
    labeler check rejects (`NegationRejectedError`, also counted). Items
    that become identical only after a model's truncation are excluded by
    `evaluate_cxr_align`.

    Args:
        reports: an iterable of report texts.
        ids: their ids (default "0", "1", ...).
        source: the top-level key.
        seed: chooses the finding and the phrasing.
        positive_only: choose among findings labelled 1.0 only (else also
            uncertain ones).
        family: the negation family that writes the negated reports
            (`keras_clinclip.reports.negation_families.FAMILIES`); score a
            model on a family its training did not use for a
            cross-family score (docs/evaluation.md).

    Returns:
        `{source: {id: {"report", "chosen", "negation", "omitted",
        "location"}}}`.

    Example:
    >>> data = build_cxr_align(["Small left pleural effusion."])
    >>> entry = data["keras_clinclip"]["0"]
    >>> entry["chosen"], entry["location"]
    ('Pleural Effusion', 'left')
    >>> entry["negation"]
    'There is no left pleural effusion.'
    >>> build_cxr_align(["Small left pleural effusion."], family="vocabulary"
    ...                 )["keras_clinclip"]["0"]["negation"]
    'The left costophrenic angle is clear.'
    """
    reports = list(reports)
    ids = (
        [str(i) for i in range(len(reports))]
        if ids is None
        else [str(i) for i in ids]
    )
    if len(ids) != len(reports):
        raise ValueError(
            f"ids has {len(ids)} entries but reports has {len(reports)}"
        )
    rng = random.Random(seed)
    out = {}
    unchanged = rejected = 0
    for report_id, report in zip(ids, reports):
        try:
            text = as_text(report, f"report {report_id!r}")
        except (TypeError, ValueError):
            continue
        labels = label_report(text)
        choices = [
            f
            for f in positive_findings(labels)
            if not positive_only or labels[f] == POSITIVE
        ]
        if not choices:
            continue
        chosen = rng.choice(choices)
        try:
            negation = negate_finding(
                text, chosen, seed=rng.randrange(1 << 30), family=family
            )
        except NegationRejectedError:
            rejected += 1
            continue
        if negation == text:
            unchanged += 1
            continue
        out[report_id] = {
            "report": text,
            "chosen": chosen,
            "negation": negation,
            "omitted": omit_finding(text, chosen),
            "location": _location(text, chosen),
        }
    if unchanged:
        logger.warning(
            "build_cxr_align: %d report(s) left out: negating the chosen "
            "finding did not change the text",
            unchanged,
        )
    if rejected:
        logger.warning(
            "build_cxr_align: %d report(s) left out: the labeler check "
            "rejected the %r negation",
            rejected,
            family,
        )
    return {source: out}


def load_cxr_align(path):
    """Load and check a CXR-Align JSON file (ours or the official one).

    Args:
        path: the JSON file.

    Returns:
        The dict `{source: {id: entry}}`; every entry has at least
        "report", "negation" and "omitted" (strings); "chosen" and
        "location" default to "".

    Raises:
        ValueError: the file is not JSON or an entry lacks a key; the
            message names the source, the id and the key.

    Example:
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "align.json")
    >>> _ = open(path, "w").write(json.dumps(
    ...     build_cxr_align(["Mild cardiomegaly."])))
    >>> load_cxr_align(path)["keras_clinclip"]["0"]["chosen"]
    'Cardiomegaly'
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of sources at the top")
    for source, entries in data.items():
        if not isinstance(entries, dict):
            raise ValueError(
                f"{path}: source {source!r} must map ids to entries"
            )
        for entry_id, entry in entries.items():
            if not isinstance(entry, dict):
                raise ValueError(
                    f"{path}: {source!r}/{entry_id!r} is not an object"
                )
            for key in REQUIRED_KEYS:
                if not isinstance(entry.get(key), str):
                    raise ValueError(
                        f"{path}: {source!r}/{entry_id!r} lacks the string "
                        f"key {key!r} (keys: {sorted(entry)})"
                    )
            entry.setdefault("chosen", "")
            entry.setdefault("location", "")
    return data
