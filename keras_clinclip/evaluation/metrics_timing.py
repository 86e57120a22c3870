"""Timings of the numpy evaluation metrics at the embedded dataset's size.

    python -m keras_clinclip.evaluation.metrics_timing [--repeats 5]

Random embeddings and CheXpert-like labels of the IU X-ray test split
(~380 studies) and training split (~3,060), d = 256, so the figures show
what the metrics cost on top of embedding (the model's forward passes,
which dominate; see the training benchmarks). Prints one Markdown table of
medians over repeats.
"""

import argparse
import statistics
import time
import warnings

import numpy as np

from keras_clinclip.evaluation.cxr_align import cxr_align_scores
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.retrieval import retrieval_metrics
from keras_clinclip.evaluation.zero_shot import zero_shot_evaluate


def run_benchmark(
    n_test=383, n_train=3060, dim=256, n_bootstrap=1000, repeats=3, seed=0
):
    """Median seconds of each evaluation step on random embeddings.

    Args:
        n_test: test studies.
        n_train: training studies (linear probe).
        dim: embedding size.
        n_bootstrap: bootstrap resamples.
        repeats: timing repeats (the median is reported).
        seed: data seed.

    Returns:
        dict `{step: median seconds}`.

    Example:
    >>> timings = run_benchmark(20, 40, 8, n_bootstrap=5, repeats=1)
    >>> sorted(timings)[0]
    'cxr_align (A+B, bootstrap)'
    """
    rng = np.random.default_rng(seed)
    c = 14

    def labels(n):
        return rng.choice(
            [1.0, 0.0, -1.0, np.nan], p=[0.2, 0.3, 0.05, 0.45], size=(n, c)
        )

    test_labels, train_labels = labels(n_test), labels(n_train)
    prototypes = rng.normal(size=(c, dim))
    test_x = (test_labels == 1) @ prototypes + 3 * rng.normal(
        size=(n_test, dim)
    )
    train_x = (train_labels == 1) @ prototypes + 3 * rng.normal(
        size=(n_train, dim)
    )
    texts = test_x + rng.normal(size=test_x.shape)
    steps = {
        "zero-shot AUROC (14 classes, bootstrap)": lambda: zero_shot_evaluate(
            test_x,
            test_labels,
            prototypes,
            -prototypes,
            n_bootstrap=n_bootstrap,
        ),
        "retrieval (both directions)": lambda: retrieval_metrics(test_x, texts),
        "cxr_align (A+B, bootstrap)": lambda: cxr_align_scores(
            test_x,
            texts,
            texts - test_x,
            texts - 0.5 * test_x,
            n_bootstrap=n_bootstrap,
        ),
        "linear probe (1%, 10%, 100%)": lambda: linear_probe(
            train_x, train_labels, test_x, test_labels
        ),
    }
    timings = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, step in steps.items():
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                step()
                seconds.append(time.perf_counter() - start)
            timings[name] = statistics.median(seconds)
    return timings


def main(argv=None):
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    timings = run_benchmark(n_bootstrap=args.bootstrap, repeats=args.repeats)
    print("| step | median seconds |")
    print("| --- | --- |")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.3f} |")
    print(f"| total | {sum(timings.values()):.3f} |")


if __name__ == "__main__":
    main()
