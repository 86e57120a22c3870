"""Negation pairs that the model cannot tell apart after truncation.

    python benchmarks/bench_negation_truncation.py [--lengths 64,48]
        [--num_negations 1] [--truncation negation_aware|end]

On the embedded IU X-ray data (`keras_clinclip.data.iu_xray()`, built from
the installed `torchxrayvision` package, cached after the first build), as
a user builds it (`ClinCLIPPreprocessor.from_towers(sequence_length=L)`,
`make_dataset(..., split="train", negations=NegationOptions(count=K))`),
for each length L prints:

- training: the valid negation slots of the records, how many of them
  reach the model with token ids equal to their report's while still
  marked valid (`negation_mask = 1`: the contradiction the guard removes),
  and how many the collision guard masked (`dataset.error_log`);
- CXR-Align (test split, `cxr_align_from_records`): the items, how many
  have report and negation token ids equal after the preprocessing that
  `evaluate_cxr_align` applies, and how many it excludes;
- the seconds `make_dataset` took to build (its text pre-pass included);
- with `--time_pass`, the seconds of the pre-pass itself on every study
  (negation-aware truncation, then the collision guard), first call
  (tracing the tokenizer included) and second call.

`--truncation end` measures the plain cut at the end of the text (the
behaviour before negation-aware truncation). Nothing derived from the
reports is written anywhere.
"""

import argparse
import time

import numpy as np


def _train_counts(records, preprocessor, num_negations, truncation):
    from keras_clinclip.data import NegationOptions
    from keras_clinclip.data import PipelineOptions
    from keras_clinclip.data import make_dataset

    start = time.perf_counter()
    ds = make_dataset(
        records,
        preprocessor,
        batch_size=512,
        split="train",
        negations=NegationOptions(count=num_negations, truncation=truncation),
        options=PipelineOptions(graphs=False),
    )
    build = time.perf_counter() - start
    valid = identical = 0
    for x, y in ds.as_numpy_iterator():
        same = np.all(
            x["negation_token_ids"] == x["token_ids"][:, None, :], axis=-1
        )
        valid += int(y["negation_mask"].sum())
        identical += int((same & (y["negation_mask"] > 0)).sum())
    log = ds.error_log
    masked = len(getattr(log, "masked_negations", []))
    return {
        "valid slots": valid + masked,
        "identical, still valid": identical,
        "masked by the guard": masked,
        "make_dataset seconds": round(build, 2),
    }


def _align_counts(records, preprocessor, truncation):
    from keras_clinclip.evaluation import cxr_align
    from keras_clinclip.evaluation import cxr_align_from_records
    from keras_clinclip.evaluation.evaluate import select_split

    data = cxr_align_from_records(select_split(records, "test"))
    rows = cxr_align.flatten_cxr_align(data)
    prepare = getattr(cxr_align, "prepare_cxr_align_texts", None)
    excluded = 0
    if prepare is not None and truncation != "end":
        prepared = prepare(rows, preprocessor)
        reports = prepared["report"]
        negations = prepared["negation"]
        excluded = int(np.sum(~prepared["keep"]))
    else:
        reports = [r["report"] for r in rows]
        negations = [r["negation"] for r in rows]
    ids = [
        np.asarray(preprocessor.tokenize(texts)["token_ids"])
        for texts in (reports, negations)
    ]
    identical = np.all(ids[0] == ids[1], axis=-1)
    if prepare is not None and truncation != "end":
        identical = identical & prepared["keep"]
    return {
        "items": len(rows),
        "identical, still scored": int(identical.sum()),
        "excluded": excluded,
    }


def _time_pass(records, preprocessor, num_negations):
    from keras_clinclip.data import pipeline

    n = len(records["id"])
    times = []
    for _ in range(2):
        texts, mask, _ = pipeline._pad_negations(records, num_negations, n)
        columns = {
            "row": np.arange(n),
            "report": np.asarray(records["report"], object),
            "negations": texts,
            "negation_mask": mask,
        }
        start = time.perf_counter()
        pipeline._truncate_negations(columns, preprocessor)
        middle = time.perf_counter()
        log = pipeline.ErrorLog()
        pipeline._guard_collisions(columns, preprocessor, records["id"], log)
        end = time.perf_counter()
        times.append((round(middle - start, 2), round(end - middle, 2)))
    return {
        "studies": n,
        "truncation s (first, second)": (times[0][0], times[1][0]),
        "guard s (first, second)": (times[0][1], times[1][1]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="64,48")
    parser.add_argument("--num_negations", type=int, default=1)
    parser.add_argument(
        "--truncation",
        default="negation_aware",
        choices=("negation_aware", "end"),
    )
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--time_pass", action="store_true")
    args = parser.parse_args()

    from keras_clinclip.data import iu_xray
    from keras_clinclip.models import ClinCLIPPreprocessor

    records = iu_xray(
        image_size=args.image_size,
        num_negations=max(args.num_negations, 1),
        graphs=False,
    )
    print(
        f"IU X-ray: {len(records['id'])} studies, K={args.num_negations}, "
        f"truncation={args.truncation}"
    )
    for length in [int(v) for v in args.lengths.split(",")]:
        preprocessor = ClinCLIPPreprocessor.from_towers(
            image_size=args.image_size, sequence_length=length
        )
        train = _train_counts(
            records, preprocessor, args.num_negations, args.truncation
        )
        align = _align_counts(records, preprocessor, args.truncation)
        print(f"\nsequence_length={length}")
        print(f"  train: {train}")
        print(f"  CXR-Align test: {align}")
        if args.time_pass:
            fresh = ClinCLIPPreprocessor.from_towers(
                image_size=args.image_size, sequence_length=length
            )
            timing = _time_pass(records, fresh, args.num_negations)
            print(f"  pre-pass: {timing}")


if __name__ == "__main__":
    main()
