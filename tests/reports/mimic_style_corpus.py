"""A development corpus of MIMIC-CXR-style sentences and short reports.

Written for this repository (no report text copied from any data set); the
held-out corpus of the issue is measured elsewhere. The entries are the
lines of `mimic_style_corpus.jsonl`: `{"class", "text", "expected"}` where
`class` is the phrase class and `expected` is a space-separated list
of `CODE=label` with label 1 (present), 0 (absent) or -1 (uncertain); an
observation that is not listed is expected "not mentioned" (NaN). `NF` is
"No Finding" and is only checked when listed.

Codes: NF No Finding, EC Enlarged Cardiomediastinum, CM Cardiomegaly, LO Lung
Opacity, LL Lung Lesion, ED Edema, CO Consolidation, PN Pneumonia, AT
Atelectasis, PX Pneumothorax, EF Pleural Effusion, PO Pleural Other, FX
Fracture, SD Support Devices.
"""

import json
import math
import pathlib

CODES = {
    "NF": "No Finding",
    "EC": "Enlarged Cardiomediastinum",
    "CM": "Cardiomegaly",
    "LO": "Lung Opacity",
    "LL": "Lung Lesion",
    "ED": "Edema",
    "CO": "Consolidation",
    "PN": "Pneumonia",
    "AT": "Atelectasis",
    "PX": "Pneumothorax",
    "EF": "Pleural Effusion",
    "PO": "Pleural Other",
    "FX": "Fracture",
    "SD": "Support Devices",
}

PATH = pathlib.Path(__file__).with_suffix(".jsonl")


def corpus():
    """The entries as `(phrase_class, text, {observation: label})`."""
    out = []
    with open(PATH, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            entry = json.loads(line)
            labels = {}
            for item in entry["expected"].split():
                code, _, value = item.partition("=")
                if code not in CODES:
                    raise ValueError(f"{PATH}, line {number}: code {code!r}")
                if value:
                    labels[CODES[code]] = float(value)
            out.append((entry["class"], entry["text"], labels))
    return out


FINDINGS = tuple(CODES.values())[1:]


def same(a, b):
    """Equal labels, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def predictions(entries, **options):
    """Our labels and the reference labels of `entries`, row for row.

    Every finding not listed is expected not mentioned (NaN); "No Finding"
    is only scored where listed. `options` go to `label_report`.
    """
    from keras_clinclip.reports import label_report

    predicted, reference = [], []
    for _, text, expected in entries:
        labels = label_report(text, **options)
        truth = {o: expected.get(o, math.nan) for o in FINDINGS}
        if "No Finding" in expected:
            truth["No Finding"] = expected["No Finding"]
        else:
            labels = {k: v for k, v in labels.items() if k != "No Finding"}
        predicted.append(labels)
        reference.append(truth)
    return predicted, reference


def round_trip(entries):
    """`(ok, total, failures)` of negate-then-relabel over every finding
    the reference states present or uncertain: the finding must become 0.0
    and no other finding's label may change."""
    from keras_clinclip.reports import label_report
    from keras_clinclip.reports import negate_finding

    ok, total, failures = 0, 0, []
    for _, text, expected in entries:
        before = label_report(text)
        for name, value in expected.items():
            if name == "No Finding" or value not in (1.0, -1.0):
                continue
            total += 1
            try:
                new = negate_finding(text, name)
            except ValueError as error:
                failures.append((name, text, str(error)))
                continue
            after = label_report(new)
            others = all(
                same(before[o], after[o]) for o in FINDINGS if o != name
            )
            if after[name] == 0.0 and others:
                ok += 1
            else:
                failures.append((name, text, new))
    return ok, total, failures
