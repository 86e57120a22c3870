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

from keras_clinclip.reports.label_agreement import label_agreement  # noqa: E402
from tests.reports.mimic_style_corpus import FINDINGS  # noqa: E402
from tests.reports.mimic_style_corpus import corpus  # noqa: E402
from tests.reports.mimic_style_corpus import predictions  # noqa: E402
from tests.reports.mimic_style_corpus import round_trip  # noqa: E402
from tests.reports.mimic_style_corpus import same  # noqa: E402


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
    parser.add_argument(
        "--uncertain", default="keep", help="label_report's uncertain="
    )
    args = parser.parse_args()
    entries = corpus()
    predicted, reference = predictions(entries, uncertain=args.uncertain)
    classes = [phrase_class for phrase_class, _, _ in entries]
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
                if name in truth and not same(
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
