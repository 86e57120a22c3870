"""Quality and speed of keras_clinclip.reports on the real IU X-ray reports.

    python benchmarks/bench_reports.py [--repeats 3] [--skip-prepare]

Reads the 3,955 IU reports (CC BY-NC-ND 4.0) at run time from the installed
`torchxrayvision` package; nothing derived from them is written except to a
temporary directory that is deleted. Prints:

1. agreement of `label_report` with the radiologists' MeSH tags
   (positive vs not, MeSH -> CheXpert mapping of
   `keras_clinclip.reports._iu`), per class and macro-F1 over the classes
   with >= 20 positives; the same with uncertain counted as positive;
2. negative-mention accuracy on the MeSH-"normal" reports;
3. the negate / omit round trip on every positive finding of every report,
   with the failures by category;
4. `label_reports` speed on one core (median of repeats): cold sentence
   cache, and no cache at all (every sentence scanned, as for a corpus
   without repeated sentences);
5. `clinclip prepare` rows/s with --workers 1 and 2 (same run).
"""

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time

from keras_clinclip.cli import prepare as prepare_options
from keras_clinclip.reports import label_report
from keras_clinclip.reports import label_reports
from keras_clinclip.reports import prepare
from keras_clinclip.reports._iu import agreement
from keras_clinclip.reports._iu import iu_reports
from keras_clinclip.reports._iu import negative_mentions
from keras_clinclip.reports._iu import round_trip
from keras_clinclip.reports.labeler import sentence_mentions


def _table(per_class, macro, title):
    print(f"\n## {title}: macro-F1 = {macro:.3f}")
    print("| observation | MeSH positives | precision | recall | F1 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in per_class.items():
        mark = "" if row["positives"] >= 20 else " (< 20, not in macro)"
        print(
            f"| {name}{mark} | {row['positives']} | {row['precision']:.3f} "
            f"| {row['recall']:.3f} | {row['f1']:.3f} |"
        )


def _time_labeling(texts, repeats, cache):
    times = []
    for _ in range(repeats):
        sentence_mentions.cache_clear()
        start = time.perf_counter()
        if cache:
            label_reports(texts)
        else:
            for text in texts:
                sentence_mentions.cache_clear()
                label_report(text)
        times.append(time.perf_counter() - start)
    return len(texts) / statistics.median(times)


def _time_prepare(path, workers, repeats):
    times = []
    for _ in range(repeats):
        out = path + f".{workers}.jsonl"
        parser = argparse.ArgumentParser()
        prepare_options.add_arguments(parser)
        args = parser.parse_args(
            [
                "--reports",
                path,
                "--output",
                out,
                "--workers",
                str(workers),
                "--verbose",
                "0",
            ]
        )
        start = time.perf_counter()
        code = prepare.run(args)
        times.append(time.perf_counter() - start)
        os.remove(out)
        if code:
            raise SystemExit(f"prepare failed with {code}")
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-prepare", action="store_true")
    args = parser.parse_args()

    rows = [row for row in iu_reports() if row["report"]]
    texts = [row["report"] for row in rows]
    print(f"IU reports with FINDINGS or IMPRESSION: {len(rows)}")

    labels = label_reports(texts)
    per_class, macro = agreement(rows, labels)
    _table(per_class, macro, "Agreement with MeSH, positive (1.0) vs not")
    per_class_u, macro_u = agreement(rows, labels, uncertain_as_positive=True)
    _table(
        per_class_u,
        macro_u,
        "Agreement with MeSH, positive or uncertain vs not",
    )

    accuracy, total, errors = negative_mentions(rows)
    print(
        f"\n## Negative-mention accuracy: {accuracy:.4f} "
        f"({total - len(errors)}/{total} mentions in MeSH-normal reports)"
    )

    start = time.perf_counter()
    result = round_trip(rows)
    elapsed = time.perf_counter() - start
    print(
        f"\n## Round trip over {result['cases']} (report, positive "
        f"finding) pairs ({elapsed:.1f} s)"
    )
    print(
        f"negate -> finding 0.0, others unchanged: "
        f"{100 * result['negate_ok']:.2f}%"
    )
    print(
        f"omit -> finding NaN, others unchanged: {100 * result['omit_ok']:.2f}%"
    )
    for category, count in result["failures"].most_common():
        print(f"  failure: {category}: {count}")

    print(
        "\n## Speed (one process, median of "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs on the machine)"
    )
    cold = _time_labeling(texts, args.repeats, cache=True)
    uncached = _time_labeling(texts, args.repeats, cache=False)
    print(f"label_reports, cold sentence cache: {cold:.0f} reports/s")
    print(f"label_report, no cache at all: {uncached:.0f} reports/s")
    long_text = "Small left pleural effusion. " * 3500
    start = time.perf_counter()
    label_report(long_text)
    print(
        f"one report of {len(long_text)} characters: "
        f"{time.perf_counter() - start:.3f} s"
    )

    if args.skip_prepare:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "iu.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "report"])
            for row in rows:
                writer.writerow([row["id"], row["report"]])
        one = _time_prepare(path, 1, max(1, args.repeats - 1))
        two = _time_prepare(path, 2, max(1, args.repeats - 1))
    print(
        f"\n## prepare ({len(rows)} reports, median of "
        f"{max(1, args.repeats - 1)})"
    )
    print(f"--workers 1: {one:.1f} s ({len(rows) / one:.0f} rows/s)")
    print(f"--workers 2: {two:.1f} s ({len(rows) / two:.0f} rows/s)")
    print(f"speed-up: {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
