"""Linear probe at MIMIC scale: numpy solver vs scikit-learn, same results.

Generated features with a planted signal (no real data): N training and M
test embeddings of width D, C findings whose log-odds are a sparse linear
function of the features (prevalence 2-30%, 5% uncertain -1 and 5% blank
labels, as in CheXpert-style tables), probes at the given label fractions.
For each solver it prints the wall and CPU time of the three probes and the
macro test AUROC per fraction, then the time ratios and the largest
per-finding AUROC gap. CPU time (all threads) is the steadier figure on a
shared machine.

    python benchmarks/bench_linear_probe.py      # 377k x 512, 14 findings
    python benchmarks/bench_linear_probe.py --n 3000 --test 1000
    python benchmarks/bench_linear_probe.py --solvers numpy,sklearn,auto

Both run `keras_clinclip.evaluation.probe.linear_probe`: `solver="numpy"`
(our bound iterations, all findings at once) and `solver="sklearn"`
(scikit-learn's `LogisticRegression`, L-BFGS, one finding at a time, on
the same standardised features and rows, the same objective), so the
AUROCs agree.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=377_110)
    parser.add_argument("--test", type=int, default=5_159)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--findings", type=int, default=14)
    parser.add_argument("--fractions", default="0.01,0.1,1.0")
    parser.add_argument("--solvers", default="numpy,sklearn")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from keras_clinclip.evaluation.probe import linear_probe

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
        if solver not in ("numpy", "sklearn", "auto"):
            raise SystemExit(f"--solvers: unknown solver {solver!r}")
        # One call: the numpy solver's nested fits warm-start.
        result = linear_probe(*data, fractions=fractions, solver=solver)
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
    a = report["solvers"][solvers[0]]
    for other in solvers[1:]:
        b = report["solvers"][other]
        gap = np.nanmax(
            [
                abs(a["auroc"][f][k] - b["auroc"][f][k])
                for f in fractions
                for k in a["auroc"][f]
            ]
        )
        print(
            f"time {other} / {solvers[0]}: "
            f"{b['seconds'] / a['seconds']:.2f}x wall, "
            f"{b['cpu_seconds'] / a['cpu_seconds']:.2f}x CPU; "
            f"largest per-finding AUROC gap {gap:.4f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
