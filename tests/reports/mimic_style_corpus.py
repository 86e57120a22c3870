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
