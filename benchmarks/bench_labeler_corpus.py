"""Labeler figures on the MIMIC-style development corpus of tests/reports.

    python benchmarks/bench_labeler_corpus.py [--errors]

Prints, per phrase class and per observation, the mention recall (reference
present found present or uncertain), absent accuracy, uncertain accuracy and
the negate-then-relabel round trip; `--errors` lists every disagreement.
The corpus was written for this repository (tests/reports/
mimic_style_corpus.py); the figures measure coverage of its phrase classes,
not accuracy on real reports.
"""

import argparse
import collections
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from keras_clinclip.reports import label_report  # noqa: E402
from keras_clinclip.reports.label_agreement import label_agreement  # noqa: E402
from keras_clinclip.reports.negation import negate_finding  # noqa: E402
from tests.reports.mimic_style_corpus import corpus  # noqa: E402

FINDINGS = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def round_trip(entries):
    """(ok, total, failures) of negate-then-relabel over present/uncertain
    reference findings: the finding becomes 0 and no other label changes."""
    ok, total, failures = 0, 0, []
    for _, text, expected in entries:
        before = label_report(text)
        for name, value in expected.items():
            if name == "No Finding" or value not in (1.0, -1.0):
                continue
            total += 1
            try:
                after = label_report(negate_finding(text, name))
            except ValueError as error:
                failures.append((name, text, str(error)))
                continue
            others = all(
                _same(before[o], after[o]) for o in FINDINGS if o != name
            )
            if after[name] == 0.0 and others:
                ok += 1
            else:
                failures.append((name, text, negate_finding(text, name)))
    return ok, total, failures


def evaluate(entries):
    """Predicted and reference label dicts (the listed classes only, plus
    every finding expected not mentioned) of the corpus entries."""
    predicted, reference, classes = [], [], []
    for phrase_class, text, expected in entries:
        labels = label_report(text)
        truth = {o: expected.get(o, math.nan) for o in FINDINGS}
        if "No Finding" in expected:
            truth["No Finding"] = expected["No Finding"]
        else:
            labels = {k: v for k, v in labels.items() if k != "No Finding"}
        predicted.append(labels)
        reference.append(truth)
        classes.append(phrase_class)
    return predicted, reference, classes


def _line(title, result):
    row = result["all"]

    def rate(value, n):
        return "    -" if not n else f"{value:.3f}"

    return (
        f"| {title} | {row['present']['n']} | "
        f"{rate(row['mention_recall'], row['present']['n'])} | "
        f"{row['absent']['n']} | "
        f"{rate(row['absent_accuracy'], row['absent']['n'])} | "
        f"{row['uncertain']['n']} | "
        f"{rate(row['uncertain_accuracy'], row['uncertain']['n'])} | "
        f"{rate(row['not_mentioned_accuracy'], row['not_mentioned']['n'])} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    entries = corpus()
    predicted, reference, classes = evaluate(entries)
    names = ("No Finding", *FINDINGS)
    print(f"{len(entries)} entries")
    print(
        "| phrase class | present | mention recall | absent | absent acc | "
        "uncertain | uncertain acc | not-mentioned acc |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    by_class = collections.defaultdict(list)
    for index, phrase_class in enumerate(classes):
        by_class[phrase_class.split(":")[0]].append(index)
    for phrase_class, indices in by_class.items():
        result = label_agreement(
            [predicted[i] for i in indices],
            [reference[i] for i in indices],
            names,
        )
        print(_line(phrase_class, result))
    overall = label_agreement(predicted, reference, names)
    print(_line("**all**", overall))
    print()
    print(
        "| observation | present | mention recall | absent | absent acc | "
        "uncertain | uncertain acc | not-mentioned acc |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        print(_line(name, {"all": overall[name]}))
    ok, total, failures = round_trip(entries)
    print(f"\nnegate-then-relabel round trip: {ok}/{total} = {ok / total:.3f}")
    if args.errors:
        print("\ndisagreements:")
        for (phrase_class, text, _), ours, truth in zip(
            entries, predicted, reference
        ):
            for name in names:
                if name in truth and not _same(
                    float(ours.get(name, math.nan)), truth[name]
                ):
                    print(
                        f"  [{phrase_class}] {name}: ours {ours.get(name)} "
                        f"ref {truth[name]} | {text!r}"
                    )
        for name, text, new in failures:
            print(f"  [round trip] {name}: {text!r} -> {new!r}")


if __name__ == "__main__":
    main()
