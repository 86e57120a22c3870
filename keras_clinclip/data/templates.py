"""Label-to-report templates (for synthetic pairs and CheXpert).

A report is built as one sentence per mentioned observation: positive
(with side and severity words), negative, or uncertain, so that the
negated and omitted variants are exact: the sentence of the chosen
finding is replaced by a negative one, or dropped.
"""

import math

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS

# Observation -> SynthCXR findings drawn for it (one chosen at random),
# and whether the observation has a side.
OBSERVATION_FINDINGS = {
    "Enlarged Cardiomediastinum": (("widened_mediastinum",), False),
    "Cardiomegaly": (("cardiomegaly",), False),
    "Lung Opacity": (("opacity",), True),
    "Lung Lesion": (("nodule", "mass"), True),
    "Edema": (("edema",), False),
    "Consolidation": (("consolidation",), True),
    "Pneumonia": (("consolidation",), True),
    "Atelectasis": (("atelectasis",), True),
    "Pneumothorax": (("pneumothorax",), True),
    "Pleural Effusion": (("effusion",), True),
    "Pleural Other": (("pleural_thickening",), True),
    "Fracture": (("fracture",), True),
    "Support Devices": (("central_line", "tube", "pacemaker"), False),
}

_SEVERITY_WORDS = ((0.35, "mild"), (0.7, "moderate"), (1.01, "severe"))
_SIZE_WORDS = ((0.35, "small"), (0.7, "moderate"), (1.01, "large"))

_POSITIVE = {
    "Enlarged Cardiomediastinum": [
        "The cardiomediastinal silhouette is {sevly} enlarged.",
        "There is {sev} widening of the mediastinum.",
    ],
    "Cardiomegaly": [
        "The heart is {sevly} enlarged.",
        "There is {sev} cardiomegaly.",
    ],
    "Lung Opacity": [
        "There is a {size} opacity in the {side} {zone} lung.",
        "Patchy {side} {zone} lung opacity is seen.",
    ],
    "Lung Lesion": [
        "A {size} {lesion} is seen in the {side} {zone} lung.",
        "There is a {lesion} in the {side} {zone} lung.",
    ],
    "Edema": [
        "There is {sev} pulmonary edema.",
        "Findings are consistent with {sev} pulmonary edema.",
    ],
    "Consolidation": [
        "There is {side} {zone} lobe consolidation.",
        "Focal consolidation is present in the {side} {zone} lung.",
    ],
    "Pneumonia": [
        "There is {side} {zone} lobe pneumonia.",
        "Findings are compatible with {side} {zone} pneumonia.",
    ],
    "Atelectasis": [
        "There is {side} basilar atelectasis.",
        "Plate-like atelectasis is seen in the {side} {zone} lung.",
    ],
    "Pneumothorax": [
        "There is a {size} {side} pneumothorax.",
        "A {size} {side} apical pneumothorax is present.",
    ],
    "Pleural Effusion": [
        "There is a {size} {side} pleural effusion.",
        "A {size} {side} pleural effusion is present.",
    ],
    "Pleural Other": [
        "There is {side} pleural thickening.",
        "{Side} apical pleural thickening is noted.",
    ],
    "Fracture": [
        "There is an acute {side} rib fracture.",
        "A displaced {side} rib fracture is seen.",
    ],
    "Support Devices": [
        "A {device} is in place.",
        "There is {a_device} in standard position.",
    ],
}

_NEGATIVE = {
    "Enlarged Cardiomediastinum": [
        "The mediastinum is not widened.",
        "The cardiomediastinal silhouette is within normal limits.",
    ],
    "Cardiomegaly": ["The heart is not enlarged.", "No cardiomegaly."],
    "Lung Opacity": ["No focal lung opacity.", "There is no lung opacity."],
    "Lung Lesion": ["No pulmonary nodule or mass.", "No lung lesion is seen."],
    "Edema": ["No pulmonary edema.", "There is no edema."],
    "Consolidation": ["No focal consolidation.", "There is no consolidation."],
    "Pneumonia": ["No evidence of pneumonia.", "There is no pneumonia."],
    "Atelectasis": ["No atelectasis.", "There is no atelectasis."],
    "Pneumothorax": ["No pneumothorax.", "There is no pneumothorax."],
    "Pleural Effusion": [
        "No pleural effusion.",
        "There is no pleural effusion.",
    ],
    "Pleural Other": ["No pleural thickening.", "The pleura is normal."],
    "Fracture": ["No acute fracture.", "There is no rib fracture."],
    "Support Devices": ["No lines or tubes.", "No support devices are seen."],
}

_UNCERTAIN = {
    "Enlarged Cardiomediastinum": ["The mediastinum may be widened."],
    "Cardiomegaly": ["The heart is possibly enlarged."],
    "Lung Opacity": ["There may be a {side} {zone} lung opacity."],
    "Lung Lesion": ["A {side} {zone} lung nodule cannot be excluded."],
    "Edema": ["Possible mild pulmonary edema."],
    "Consolidation": ["Possible {side} {zone} consolidation."],
    "Pneumonia": ["{Side} {zone} pneumonia cannot be excluded."],
    "Atelectasis": ["{Side} basilar opacity may represent atelectasis."],
    "Pneumothorax": ["A small {side} pneumothorax cannot be excluded."],
    "Pleural Effusion": ["There may be a small {side} pleural effusion."],
    "Pleural Other": ["Possible {side} pleural thickening."],
    "Fracture": ["A {side} rib fracture cannot be excluded."],
    "Support Devices": ["There may be {a_device}."],
}

_NORMAL = [
    "The lungs are clear.",
    "No acute cardiopulmonary abnormality.",
    "Normal chest radiograph.",
]

_DEVICES = {
    "central_line": "central venous catheter",
    "tube": "endotracheal tube",
    "pacemaker": "cardiac pacemaker",
}

_ZONE_WORDS = {"upper": "upper", "middle": "mid", "lower": "lower"}


def _word(table, severity):
    for limit, word in table:
        if severity < limit:
            return word
    return table[-1][1]


def _article(noun):
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _is_blank(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def sample_details(labels, rng):
    """Choose side, zone, severity and drawn finding per observation.

    Args:
        labels: a sequence of 14 values in `CHEXPERT_OBSERVATIONS` order.
        rng: a `numpy.random.Generator`.

    Returns:
        A dict observation -> dict(finding, side, zone, severity) for the
        observations that are positive (1) or uncertain (-1).

    Example:
    >>> labels = [float("nan")] * 14
    >>> labels[10] = 1.0
    >>> d = sample_details(labels, np.random.default_rng(0))
    >>> d["Pleural Effusion"]["finding"]
    'effusion'
    """
    details = {}
    for name, value in zip(CHEXPERT_OBSERVATIONS, labels):
        if name not in OBSERVATION_FINDINGS or _is_blank(float(value)):
            continue
        if value not in (1.0, -1.0):
            continue
        choices, lateral = OBSERVATION_FINDINGS[name]
        finding = choices[int(rng.integers(len(choices)))]
        side = None
        if lateral:
            side = ("right", "left", "bilateral")[
                int(rng.choice(3, p=[0.42, 0.42, 0.16]))
            ]
            if finding in ("nodule", "mass", "fracture", "pneumothorax"):
                side = side if side != "bilateral" else "right"
        if finding in ("central_line", "pacemaker"):
            side = ("right", "left")[int(rng.integers(2))]
        zone = None
        if finding in ("opacity", "consolidation", "nodule", "mass"):
            zone = ("upper", "middle", "lower")[int(rng.integers(3))]
        elif finding == "atelectasis":
            zone = "lower"
        elif finding == "fracture":
            zone = ("upper", "middle", "lower")[int(rng.integers(3))]
        severity = float(rng.uniform(0.2, 1.0))
        if value == -1.0:
            severity = float(rng.uniform(0.15, 0.35))
        details[name] = {
            "finding": finding,
            "side": side,
            "zone": zone,
            "severity": severity,
        }
    return details


def _fill(template, detail):
    side = detail.get("side") or "right"
    side_words = {"bilateral": "bilateral"}.get(side, side)
    zone = _ZONE_WORDS.get(detail.get("zone") or "lower", "lower")
    severity = detail.get("severity", 0.5)
    finding = detail.get("finding", "")
    text = template.format(
        side=side_words,
        Side=side_words.capitalize(),
        zone=zone,
        sev=_word(_SEVERITY_WORDS, severity),
        sevly=_word(_SEVERITY_WORDS, severity) + "ly",
        size=_word(_SIZE_WORDS, severity),
        lesion="mass" if finding == "mass" else "nodule",
        device=_DEVICES.get(finding, "support device"),
        a_device=_article(_DEVICES.get(finding, "support device")),
    )
    return text


def report_sentences(labels, details, rng):
    """One sentence per mentioned observation.

    Args:
        labels: 14 values in `CHEXPERT_OBSERVATIONS` order (1, 0, -1, NaN).
        details: the output of `sample_details` (may be empty).
        rng: a `numpy.random.Generator` that picks the phrasings.

    Returns:
        A list of `(observation, sentence)` pairs, in a fixed order.

    Example:
    >>> labels = [float("nan")] * 14
    >>> labels[9] = 0.0
    >>> report_sentences(labels, {}, np.random.default_rng(0))[0][0]
    'Pneumothorax'
    """
    out = []
    for name, value in zip(CHEXPERT_OBSERVATIONS, labels):
        value = float(value)
        if name == "No Finding" or math.isnan(value):
            continue
        detail = details.get(name, {})
        if value == 1.0:
            table = _POSITIVE[name]
        elif value == -1.0:
            table = _UNCERTAIN[name]
        elif value == 0.0:
            table = _NEGATIVE[name]
        else:
            raise ValueError(
                f"Label of {name!r} must be 1, 0, -1 or NaN, got {value}."
            )
        template = table[int(rng.integers(len(table)))]
        out.append((name, _fill(template, detail)))
    if float(labels[0]) == 1.0 or not out:
        out.append(("No Finding", _NORMAL[int(rng.integers(len(_NORMAL)))]))
    return out


def negative_sentence(observation, rng):
    """A negative sentence for `observation` (used for negations).

    Example:
    >>> negative_sentence("Edema", np.random.default_rng(0)).endswith(".")
    True
    """
    table = _NEGATIVE[observation]
    return table[int(rng.integers(len(table)))]


def labels_to_report(labels, seed=0, num_negations=1):
    """Write a report, its negated and omitted variants from labels.

    This is how CheXpert (labels without reports) and the synthetic pairs
    get text, in the spirit of cxr-clip's label-to-prompt templates.

    Args:
        labels: 14 values in `CHEXPERT_OBSERVATIONS` order (1, 0, -1, NaN).
        seed: an int; the same labels and seed give the same text.
        num_negations: the most negated variants to write (one per
            positive finding, in a random order).

    Returns:
        A dict with `report` (str), `negations` (list[str]),
        `negated_findings` (list[str]), `omissions` (list[str]) and
        `details` (from `sample_details`).

    Example:
    >>> labels = [float("nan")] * 14
    >>> labels[2] = 1.0
    >>> out = labels_to_report(labels, seed=0)
    >>> out["negated_findings"]
    ['Cardiomegaly']
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 11])
    details = sample_details(labels, rng)
    sentences = report_sentences(labels, details, rng)
    positives = [
        name
        for name, value in zip(CHEXPERT_OBSERVATIONS, labels)
        if float(value) == 1.0 and name != "No Finding"
    ]
    order = [positives[i] for i in rng.permutation(len(positives))]
    chosen = order[: max(int(num_negations), 0)]
    negations, omissions = [], []
    for finding in chosen:
        negated = [
            negative_sentence(name, rng) if name == finding else text
            for name, text in sentences
        ]
        negations.append(" ".join(negated))
        omitted = [text for name, text in sentences if name != finding]
        omissions.append(" ".join(omitted))
    return {
        "report": " ".join(text for _, text in sentences),
        "negations": negations,
        "negated_findings": chosen,
        "omissions": omissions,
        "details": details,
    }
