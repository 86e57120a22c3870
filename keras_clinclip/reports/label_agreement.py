"""Agreement between two sets of CheXpert-14 labels (ours and a reference).

The reference is typically the official `mimic-cxr-2.0.0-chexpert.csv` or
`mimic-cxr-2.0.0-negbio.csv` of MIMIC-CXR, or a hand-labelled table. Each
label is 1 (present), 0 (absent), -1 (uncertain) or NaN (not mentioned); for
every observation the agreement is split by the reference's state:

- `present`: the share of reference positives that we label present or
  uncertain (`mention_recall`) and exactly present (`exact`);
- `absent`: the share of reference negatives we label 0 (`accuracy`);
- `uncertain`: the share of reference uncertains we label -1 (`accuracy`);
- `not_mentioned`: the share of reference NaNs we leave NaN (`accuracy`).
"""

import json
import math
import re

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.tables import parse_label
from keras_clinclip.tables import read_rows

STATES = ("present", "absent", "uncertain", "not_mentioned")
_STATE_OF = {1.0: "present", 0.0: "absent", -1.0: "uncertain"}


def _state(value):
    if value is None:
        return "not_mentioned"
    value = float(value)
    if math.isnan(value):
        return "not_mentioned"
    try:
        return _STATE_OF[value]
    except KeyError:
        raise ValueError(
            f"label {value!r} is not 1, 0, -1 or NaN (not mentioned)"
        ) from None


def _rows(labels, what):
    if isinstance(labels, np.ndarray):
        if labels.ndim != 2 or labels.shape[1] != len(CHEXPERT_OBSERVATIONS):
            raise ValueError(
                f"{what}: expected an array (N, 14), got shape {labels.shape}"
            )
        return [dict(zip(CHEXPERT_OBSERVATIONS, row)) for row in labels]
    rows = list(labels)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(
                f"{what}, row {index}: expected a dict of labels, got "
                f"{type(row).__name__}"
            )
    return rows


def _ratio(good, total):
    return good / total if total else math.nan


def label_agreement(predicted, reference, classes=None):
    """Per-class agreement of `predicted` with `reference` labels.

    Args:
        predicted: label dicts (as `label_report` returns) or an array
            `(N, 14)` in `CHEXPERT_OBSERVATIONS` order.
        reference: the same, row for row. A class missing from a reference
            dict counts as not mentioned.
        classes: the observations to score (default all 14 present in the
            reference rows).

    Returns:
        A dict from observation to a dict with, for each state of the
        reference (`STATES`), `n` and the counts of our labels
        (`"present"`, `"absent"`, `"uncertain"`, `"not_mentioned"`), plus the
        rates `mention_recall`, `present_exact`, `absent_accuracy`,
        `uncertain_accuracy`, `not_mentioned_accuracy` (NaN without cases);
        and under `"all"` the same figures over every class.

    Raises:
        ValueError: the two lists differ in length, or a label is not
            1 / 0 / -1 / NaN (naming the row and class).

    Example:
    >>> result = label_agreement(
    ...     [{"Edema": 1.0}, {"Edema": -1.0}, {"Edema": 0.0}],
    ...     [{"Edema": 1.0}, {"Edema": 1.0}, {"Edema": 0.0}],
    ...     classes=["Edema"])
    >>> result["Edema"]["mention_recall"], result["Edema"]["present_exact"]
    (1.0, 0.5)
    >>> result["Edema"]["absent_accuracy"]
    1.0
    """
    predicted = _rows(predicted, "predicted")
    reference = _rows(reference, "reference")
    if len(predicted) != len(reference):
        raise ValueError(
            f"predicted has {len(predicted)} rows but reference has "
            f"{len(reference)}"
        )
    names = list(classes or CHEXPERT_OBSERVATIONS)
    counts = {
        name: {s: dict.fromkeys(STATES, 0) for s in STATES}
        for name in [*names, "all"]
    }
    for index, (ours, theirs) in enumerate(zip(predicted, reference)):
        for name in names:
            try:
                truth = _state(theirs.get(name))
                guess = _state(ours.get(name))
            except (TypeError, ValueError) as error:
                raise ValueError(f"row {index}, {name!r}: {error}") from None
            counts[name][truth][guess] += 1
            counts["all"][truth][guess] += 1
    return {name: _summary(table) for name, table in counts.items()}


def _summary(table):
    out = {
        state: {"n": sum(table[state].values()), **table[state]}
        for state in STATES
    }
    present = out["present"]
    out["mention_recall"] = _ratio(
        present["present"] + present["uncertain"], present["n"]
    )
    out["present_exact"] = _ratio(present["present"], present["n"])
    for state in ("absent", "uncertain", "not_mentioned"):
        out[f"{state}_accuracy"] = _ratio(out[state][state], out[state]["n"])
    return out


def _key(value):
    """An id as a join key: "s50414267" and "50414267" are the same."""
    text = str(value).strip()
    if re.fullmatch(r"[sp]\d+", text):
        text = text[1:]
    if re.fullmatch(r"\d+\.0", text):
        text = text[:-2]
    return text


def read_reference_labels(path, id_column=None):
    """A reference label table as `{id: {observation: label}}`.

    The table has one row per report and a column per observation (the
    CheXpert names; missing columns count as not mentioned), with 1, 0, -1
    or a blank cell, like MIMIC-CXR's `mimic-cxr-2.0.0-chexpert.csv(.gz)`
    and `mimic-cxr-2.0.0-negbio.csv(.gz)`.

    Args:
        path: the CSV (`.csv`, `.csv.gz`) or JSONL file.
        id_column: the id column; default `study_id` when present, else
            `id`. Ids "s123" and "123" match each other.

    Returns:
        A dict from id (without a leading "s"/"p") to a label dict.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no id column, no observation column, a duplicate id
            or a bad label, naming the file, row and column.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.csv")
    >>> _ = open(path, "w").write("study_id,Edema\\n5001,1.0\\n5002,\\n")
    >>> read_reference_labels(path)["5001"]["Edema"]
    1.0
    """
    columns, rows = read_rows(path)
    if id_column is None:
        id_column = "study_id" if "study_id" in columns else "id"
    if id_column not in columns:
        raise ValueError(
            f"{path}: no id column {id_column!r}; columns: {columns}"
        )
    present = [name for name in CHEXPERT_OBSERVATIONS if name in columns]
    if not present:
        raise ValueError(
            f"{path}: none of the CheXpert columns "
            f"{list(CHEXPERT_OBSERVATIONS)} is present; columns: {columns}"
        )
    out = {}
    for number, row in enumerate(rows, start=1):
        key = _key(row.get(id_column))
        if key in out:
            raise ValueError(f"{path}, row {number}: duplicate id {key!r}")
        out[key] = {
            name: parse_label(row.get(name), f"{path}, row {number}, {name}")
            for name in present
        }
    return out


def agreement_with_reference(records, reference, classes=None):
    """Agreement of labelled records with a reference table, joined by id.

    Args:
        records: an iterable of dicts with `id` and `labels` (a label dict;
            `None` for a row that failed), as `clinclip prepare` writes.
        reference: `{id: label dict}` (`read_reference_labels`).
        classes: as in `label_agreement` (default: the reference columns).

    Returns:
        `(result, matched, unmatched)`: the `label_agreement` result over the
        records whose id is in the reference, and the counts of records
        matched and not matched.

    Example:
    >>> result, matched, unmatched = agreement_with_reference(
    ...     [{"id": "s1", "labels": {"Edema": 0.0}}, {"id": "s9",
    ...      "labels": {}}], {"1": {"Edema": 0.0}})
    >>> result["Edema"]["absent_accuracy"], matched, unmatched
    (1.0, 1, 1)
    """
    ours, theirs = [], []
    unmatched = 0
    for record in records:
        labels = record.get("labels")
        truth = reference.get(_key(record.get("id")))
        if truth is None or labels is None:
            unmatched += 1
            continue
        ours.append(
            {k: math.nan if v is None else v for k, v in labels.items()}
        )
        theirs.append(truth)
    if classes is None:
        classes = [
            name
            for name in CHEXPERT_OBSERVATIONS
            if any(name in row for row in theirs)
        ]
    return label_agreement(ours, theirs, classes), len(ours), unmatched


def format_agreement(result):
    """A plain-text table of a `label_agreement` result.

    Args:
        result: the dict `label_agreement` returns.

    Returns:
        A `str`, one line per class: the number of reference present /
        absent / uncertain labels and our mention recall, absent accuracy
        and uncertain accuracy.

    Example:
    >>> result = label_agreement([{"Edema": 1.0}], [{"Edema": 1.0}],
    ...                          classes=["Edema"])
    >>> print(format_agreement(result).splitlines()[1])
    Edema                            1  1.000       0      -         0      -
    """

    def rate(value):
        return "-" if math.isnan(value) else f"{value:.3f}"

    lines = [
        f"{'observation':<26} {'present':>7} {'recall':>6} {'absent':>7} "
        f"{'acc':>6} {'uncertain':>9} {'acc':>6}"
    ]
    for name, row in result.items():
        lines.append(
            f"{name:<26} {row['present']['n']:>7} "
            f"{rate(row['mention_recall']):>6} {row['absent']['n']:>7} "
            f"{rate(row['absent_accuracy']):>6} {row['uncertain']['n']:>9} "
            f"{rate(row['uncertain_accuracy']):>6}"
        )
    return "\n".join(lines)


def read_prepared_labels(path):
    """The `id` and `labels` of each line of a `clinclip prepare` output.

    Args:
        path: the JSONL file `clinclip prepare` wrote.

    Returns:
        A list of `{"id", "labels"}` dicts (`labels` None for a row with an
        error), in file order.

    Raises:
        ValueError: a line is not JSON, naming the file and line.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "prepared.jsonl")
    >>> _ = open(path, "w").write('{"id": "s1", "labels": {"Edema": 1.0}}\\n')
    >>> read_prepared_labels(path)
    [{'id': 's1', 'labels': {'Edema': 1.0}}]
    """
    out = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}, line {number}: not JSON ({error})"
                ) from None
            out.append({"id": record.get("id"), "labels": record.get("labels")})
    return out


def agreement_report(prepared_path, reference):
    """The text `clinclip prepare --reference-labels` prints.

    Args:
        prepared_path: the JSONL file `clinclip prepare` wrote.
        reference: `{id: label dict}` (`read_reference_labels`).

    Returns:
        A `str`: how many rows were matched by id, then the
        `format_agreement` table (or a line saying no id matched).

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "prepared.jsonl")
    >>> _ = open(path, "w").write('{"id": "s1", "labels": {"Edema": 1.0}}\\n')
    >>> print(agreement_report(path, {"1": {"Edema": 1.0}}).splitlines()[0])
    agreement with the reference labels: 1 row(s) matched by id, 0 not
    """
    records = read_prepared_labels(prepared_path)
    result, matched, unmatched = agreement_with_reference(records, reference)
    head = (
        f"agreement with the reference labels: {matched} row(s) matched by "
        f"id, {unmatched} not"
    )
    if not matched:
        return (
            f"{head}; no prepared id is in the reference (ids 's123' and "
            "'123' match; check --id-column and --reference-id-column)"
        )
    return f"{head}\n{format_agreement(result)}"
