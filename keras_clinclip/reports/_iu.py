"""A small private reader of the IU X-ray reports, for benchmarks and tests.

The 3,955 Indiana University chest X-ray reports (Demner-Fushman et al.,
2016; CC BY-NC-ND 4.0) are read at run time from the `torchxrayvision`
package (`data/NLMCXR_reports.tgz`); nothing derived from them is stored.
The archive is read by `keras_clinclip.reports.iu_archive` (the one reader,
also behind `keras_clinclip.data.iu_xray`); this module only serves
`benchmarks/bench_reports.py` and `tests/reports`.

It also holds the MeSH -> CheXpert mapping used to score the labeler
against the radiologists' MeSH tags (documented in docs/reports.md).
"""

import collections
import math

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports.iu_archive import read_iu_archive
from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import positive_findings
from keras_clinclip.reports.labeler import sentence_mentions
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation import omit_finding
from keras_clinclip.reports.spans import sentence_spans


def iu_reports():
    """All IU reports: `keras_clinclip.reports.iu_archive.read_iu_archive`.

    A tuple of dicts sorted by id with `id`, `findings`, `impression`,
    `report`, `mesh` (the major MeSH tags) and `mesh_automatic`.
    """
    return read_iu_archive()


# MeSH heading (the part before the first "/") -> CheXpert observation.
MESH_HEADINGS = {
    "Cardiomegaly": "Cardiomegaly",
    "Opacity": "Lung Opacity",
    "Density": "Lung Opacity",
    "Airspace Disease": "Lung Opacity",
    "Infiltrate": "Lung Opacity",
    "Lung Diseases, Interstitial": "Lung Opacity",
    "Cicatrix": "Lung Opacity",
    "Nodule": "Lung Lesion",
    "Mass": "Lung Lesion",
    "Pulmonary Edema": "Edema",
    "Pulmonary Congestion": "Edema",
    "Heart Failure": "Edema",
    "Consolidation": "Consolidation",
    "Pneumonia": "Pneumonia",
    "Pulmonary Atelectasis": "Atelectasis",
    "Pneumothorax": "Pneumothorax",
    "Hydropneumothorax": "Pneumothorax",
    "Hemopneumothorax": "Pneumothorax",
    "Pleural Effusion": "Pleural Effusion",
    "Hemothorax": "Pleural Effusion",
    "Fractures, Bone": "Fracture",
    "Catheters, Indwelling": "Support Devices",
    "Implanted Medical Device": "Support Devices",
    "Tube, Inserted": "Support Devices",
    "Medical Device": "Support Devices",
    "Stents": "Support Devices",
}
_ENLARGED = {"enlarged", "prominent", "widened", "wide", "large"}


def mesh_observations(tags):
    """The set of CheXpert observations that MeSH tags state positive.

    Rules beyond `MESH_HEADINGS`: a tag with the subheading "borderline"
    is a hedge, not a positive; "Mass/mediastinum" -> Enlarged
    Cardiomediastinum; "Cardiac Shadow/.../enlarged" -> Cardiomegaly;
    "Mediastinum/..." enlarged, prominent or widened -> Enlarged
    Cardiomediastinum; "Thickening/pleura..." and "Cicatrix/pleura..." ->
    Pleural Other (not Lung Opacity); "Pleura/..." -> Pleural Other;
    "Markings/.../interstitial" -> Lung Opacity. "No Finding" follows the
    CheXpert rule on the mapped observations (no observation other than
    Support Devices).
    """
    found = set()
    for tag in tags:
        parts = [p.strip() for p in tag.split("/")]
        head, rest = parts[0], {p.lower() for p in parts[1:]}
        if "borderline" in rest:
            continue  # an explicit hedge: not a positive
        if head == "Mass" and "mediastinum" in rest:
            found.add("Enlarged Cardiomediastinum")
        elif head in ("Cicatrix", "Thickening") and "pleura" in rest:
            found.add("Pleural Other")
        elif head == "Pleura":
            found.add("Pleural Other")
        elif head in MESH_HEADINGS:
            found.add(MESH_HEADINGS[head])
        elif head == "Cardiac Shadow" and rest & _ENLARGED:
            found.add("Cardiomegaly")
        elif head == "Mediastinum" and rest & _ENLARGED:
            found.add("Enlarged Cardiomediastinum")
        elif head == "Markings" and "interstitial" in rest:
            found.add("Lung Opacity")
    if not found - {"Support Devices"}:
        found.add("No Finding")
    assert found <= set(CHEXPERT_OBSERVATIONS)
    return found


def agreement(rows, labels, uncertain_as_positive=False, min_positives=20):
    """Per-class precision/recall/F1 of labels against the MeSH tags.

    Args:
        rows: IU rows (from `iu_reports`).
        labels: the labeler's label dicts for those rows.
        uncertain_as_positive: count the labeler's -1 as positive (the
            default counts only 1.0: "positive vs not").
        min_positives: classes with fewer MeSH positives are listed but
            left out of the macro-F1.

    Returns:
        `(per_class, macro_f1)`; `per_class[name]` holds `tp, fp, fn,
        positives, precision, recall, f1`.
    """
    hits = (1.0, -1.0) if uncertain_as_positive else (1.0,)
    per_class = {}
    for name in CHEXPERT_OBSERVATIONS:
        tp = fp = fn = 0
        for row, label in zip(rows, labels):
            truth = name in mesh_observations(row["mesh"])
            predicted = label[name] in hits
            tp += truth and predicted
            fp += predicted and not truth
            fn += truth and not predicted
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        per_class[name] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "positives": tp + fn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    kept = [
        v["f1"] for v in per_class.values() if v["positives"] >= min_positives
    ]
    return per_class, sum(kept) / len(kept)


def negative_mentions(rows):
    """Mention-level accuracy on statements of absence.

    The statements of absence are the mentions of the 13 findings (Support
    Devices excepted) in the reports whose only MeSH tag is "normal": the
    radiologists found nothing, so every such mention states an absence.

    Returns:
        `(accuracy, total, errors)` where `errors` lists `(sentence,
        finding, status)` of the mentions not labelled negative.
    """
    total = correct = 0
    errors = []
    for row in rows:
        if row["mesh"] != ("normal",):
            continue
        text = row["report"]
        for a, b in sentence_spans(text):
            for mention in sentence_mentions(text[a:b]):
                if mention.observation in (None, "Support Devices"):
                    continue
                total += 1
                if mention.status == 0.0:
                    correct += 1
                else:
                    errors.append((text[a:b], mention.finding, mention.status))
    return correct / max(total, 1), total, errors


def round_trip(rows, seed=0):
    """Negate / omit every positive finding of every report and re-label.

    Returns a dict with `cases`, `negate_ok`, `omit_ok` (shares) and
    `failures`: a `collections.Counter` of failure categories.
    """

    def same(a, b):
        return (math.isnan(a) and math.isnan(b)) or a == b

    others = CHEXPERT_OBSERVATIONS[1:]
    cases = negate_ok = omit_ok = 0
    failures = collections.Counter()
    for row in rows:
        text = row["report"]
        before = label_report(text)
        for finding in positive_findings(before):
            cases += 1
            after = label_report(negate_finding(text, finding, seed=seed))
            changed = [
                o
                for o in others
                if o != finding and not same(before[o], after[o])
            ]
            if after[finding] != 0.0:
                failures[f"negate: {finding} left {after[finding]}"] += 1
            elif changed:
                failures[f"negate: changed {', '.join(changed)}"] += 1
            else:
                negate_ok += 1
            after = label_report(omit_finding(text, finding))
            changed = [
                o
                for o in others
                if o != finding and not same(before[o], after[o])
            ]
            if not math.isnan(after[finding]):
                failures[f"omit: {finding} left {after[finding]}"] += 1
            elif changed:
                failures[f"omit: changed {', '.join(changed)}"] += 1
            else:
                omit_ok += 1
    return {
        "cases": cases,
        "negate_ok": negate_ok / max(cases, 1),
        "omit_ok": omit_ok / max(cases, 1),
        "failures": failures,
    }
