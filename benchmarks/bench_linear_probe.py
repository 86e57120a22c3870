"""Linear probe at MIMIC scale: ours (numpy) vs scikit-learn, same results.

Generated features with a planted signal (no real data): N training and M
test embeddings of width D, C findings whose log-odds are a sparse linear
function of the features (prevalence 2-30%, 5% uncertain -1 and 5% blank
labels, as in CheXpert-style tables), probes at the given label fractions.
For each solver it prints the wall and CPU time of the three probes and the
macro test AUROC per fraction, then the time ratios and the largest
per-finding AUROC gap. CPU time (all threads) is the steadier figure on a
shared machine.

    python benchmarks/bench_linear_probe.py      # 377k x 512, 14 findings
    python benchmarks/bench_linear_probe.py --n 3000 --solvers ours,sklearn

The `sklearn` solver is `LogisticRegression(C=1.0, solver="lbfgs")` per
finding on the same standardised features and the same rows; it is the
same objective as ours with `l2=None` (penalty 1/n), so the AUROCs agree.
"""

import argparse
import json
import time

import numpy as np


def make_features(n, m, dim, findings, seed=0):
    """Features with a planted signal; labels with -1 and NaN entries."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + m, dim), dtype=np.float32)
    weights = np.zeros((dim, findings), dtype=np.float32)
    for j in range(findings):
        support = rng.choice(dim, size=16, replace=False)
        weights[support, j] = rng.normal(0.0, 0.35, size=16)
    prevalence = np.linspace(0.02, 0.3, findings)
    logits = x @ weights + np.log(prevalence / (1 - prevalence))
    y = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(float)
    y[rng.random(y.shape) < 0.05] = -1.0
    y[rng.random(y.shape) < 0.05] = np.nan
    return x[:n], y[:n], x[n:], y[n:]


def sklearn_probe(train_x, train_y, test_x, test_y, fractions, seed=0):
    """The same protocol as `linear_probe` with scikit-learn's solver."""
    import math

    from sklearn.linear_model import LogisticRegression

    from keras_clinclip.evaluation.metrics import binarize_labels
    from keras_clinclip.evaluation.metrics import multilabel_auroc

    names = [f"class_{j}" for j in range(train_y.shape[1])]
    targets, valid = binarize_labels(train_y, "exclude", "negative")
    order = np.random.default_rng(seed).permutation(train_x.shape[0])
    results = {}
    for fraction in fractions:
        count = max(1, math.ceil(fraction * train_x.shape[0]))
        subset = order[:count]
        x = train_x[subset].astype(np.float64)
        mean, scale = x.mean(0), x.std(0)
        x = (x - mean) / scale
        tx = (test_x - mean) / scale
        scores = np.zeros((test_x.shape[0], train_y.shape[1]))
        kept = []
        for j in range(train_y.shape[1]):
            rows = valid[subset, j]
            if len(np.unique(targets[subset, j][rows])) < 2:
                continue  # no head (ours: NaN AUROC)
            model = LogisticRegression(C=1.0, max_iter=1000, tol=1e-6)
            model.fit(x[rows], targets[subset, j][rows])
            scores[:, j] = model.decision_function(tx)
            kept.append(j)
        results[fraction] = multilabel_auroc(
            test_y[:, kept], scores[:, kept], [names[j] for j in kept]
        )
        for j in range(train_y.shape[1]):
            if j not in kept:
                results[fraction]["per_class"][names[j]] = {"auroc": np.nan}
        results[fraction]["num_train"] = count
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=377_110)
    parser.add_argument("--test", type=int, default=5_159)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--findings", type=int, default=14)
    parser.add_argument("--fractions", default="0.01,0.1,1.0")
    parser.add_argument("--solvers", default="ours,sklearn")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from keras_clinclip.evaluation.linear_probe import linear_probe

    fractions = tuple(float(f) for f in args.fractions.split(","))
    start = time.perf_counter()
    data = make_features(args.n, args.test, args.dim, args.findings)
    print(
        f"features {args.n} x {args.dim}, {args.findings} findings, "
        f"{args.test} test: generated in {time.perf_counter() - start:.1f}s"
    )
    report = {"args": vars(args), "solvers": {}}
    for solver in args.solvers.split(","):
        start, cpu = time.perf_counter(), time.process_time()
        if solver == "ours":  # one call: the nested fits warm-start
            result = linear_probe(*data, fractions=fractions)
        elif solver == "sklearn":
            result = sklearn_probe(*data, fractions=fractions)
        else:
            raise SystemExit(f"--solvers: unknown solver {solver!r}")
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        aurocs = {
            f: {k: v["auroc"] for k, v in result[f]["per_class"].items()}
            for f in fractions
        }
        macro = ", ".join(
            f"{f:g}: {result[f]['macro']['auroc']:.4f}" for f in fractions
        )
        print(
            f"{solver:8s} {seconds:8.1f}s wall {cpu_seconds:8.1f}s CPU  "
            f"macro AUROC {macro}",
            flush=True,
        )
        report["solvers"][solver] = {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "auroc": aurocs,
        }
    solvers = list(report["solvers"])
    if len(solvers) == 2:
        a, b = (report["solvers"][s] for s in solvers)
        gap = np.nanmax(
            [
                abs(a["auroc"][f][k] - b["auroc"][f][k])
                for f in fractions
                for k in a["auroc"][f]
            ]
        )
        print(
            f"time {solvers[1]} / {solvers[0]}: "
            f"{b['seconds'] / a['seconds']:.2f}x wall, "
            f"{b['cpu_seconds'] / a['cpu_seconds']:.2f}x CPU; "
            f"largest per-finding AUROC gap {gap:.4f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
