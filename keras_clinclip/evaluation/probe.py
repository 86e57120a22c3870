"""Linear probe: logistic regression heads on frozen image embeddings.

The module is `evaluation.probe` and its entry point the function
`linear_probe` (`from keras_clinclip.evaluation import linear_probe`).

One L2-regularised logistic-regression head per finding, fitted in numpy
(no scikit-learn) on standardised embeddings:

    min_w,b  (1/n) sum_i [log(1 + exp(z_i)) - y_i z_i] + (l2/2) ||w||^2,
    z_i = w . x_i + b      (the bias is not penalised)

solved with Boehning's bound (quadratic majorisation) iterations: the
Hessian of the logistic loss is at most X^T X / (4n) + l2, so each step
solves a fixed (d+1)x(d+1) system (one eigendecomposition of X^T X serves
every head); Nesterov momentum
with adaptive restart speeds up the ill-conditioned heads (few examples,
nearly separable classes). The optimum is the usual one (the tests check
it against a Newton solver). With `l2=None` the penalty is 1/n, i.e.
scikit-learn's default C=1.

`linear_probe` trains on nested random subsets (1% within 10% within
100%) of the training split and reports AUROC on the test split; each
fit starts from the head of the next smaller subset (`init=`), which
can save iterations. At MIMIC scale (377k x 512, 14
findings, 3 fractions) it runs in minutes on 2 cores, with the same AUROCs
as scikit-learn's `LogisticRegression` (`solver="sklearn"`, the
`[probe]` extra), which is faster from about 50k rows: `solver="auto"`
uses it there when installed (docs/performance.md,
`benchmarks/bench_linear_probe.py`).
"""

import importlib.util
import math
import warnings

import numpy as np

from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import multilabel_auroc
from keras_clinclip.utils import MissingPackageError


def _log1pexp(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_logistic_regression(
    features,
    targets,
    valid=None,
    l2=None,
    max_iter=2000,
    tol=1e-7,
    init=None,
):
    """Fit one logistic-regression head per column of `targets`.

    Args:
        features: (N, d) float array.
        targets: (N, C) 0/1 targets (or (N,) for one head).
        valid: optional (N, C) booleans: the rows each head trains on.
        l2: the L2 penalty (default `1 / n` per head).
        max_iter: the maximum number of iterations.
        tol: stop when the largest weight change is below `tol` (in the
            standardised feature space).
        init: optional head (a result of this function, e.g. on a subset
            of the rows) to start from; the optimum is the same, reached
            in fewer iterations when `init` is close to it.

    Returns:
        dict with `mean`, `scale` (the standardisation), `weights` (d, C),
        `bias` (C,), `n_iter` and `converged` (C,) booleans.

    Example:
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> head = fit_logistic_regression(x, np.array([0, 0, 1, 1]))
    >>> p = predict_logistic_regression(head, x)[:, 0]
    >>> bool(p[0] < 0.5 < p[3])
    True
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {x.shape}")
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{x.shape[0]} feature rows but {y.shape[0]} target rows"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("targets must be 0 or 1 (binarize labels first)")
    valid = (
        np.ones(y.shape, dtype=bool)
        if valid is None
        else np.asarray(valid, dtype=bool).reshape(y.shape)
    )
    n, d = x.shape
    c = y.shape[1]
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = np.concatenate([(x - mean) / scale, np.ones((n, 1))], axis=1)
    gram = xs.T @ xs
    penalised = np.ones(d + 1)
    penalised[-1] = 0.0

    counts = valid.sum(axis=0).astype(np.float64)
    lambdas = np.array(
        [
            (1.0 / max(count, 1.0)) if l2 is None else float(l2)
            for count in counts
        ]
    )
    # Upper bound of head j's Hessian: B_j = X^T X / (4 n_j) + lam_j I
    # (>= the Hessian, also on the unpenalised bias). With X^T X = Q L Q^T,
    # B_j^-1 = Q diag(1 / (L / (4 n_j) + lam_j)) Q^T: one eigendecomposition
    # serves every head. A head with many masked rows gets its own (a
    # tighter bound converges faster).
    eigenvalues, basis = np.linalg.eigh(gram)
    inverse_diag = 1.0 / (
        np.maximum(eigenvalues, 0.0)[:, None] / (4.0 * np.maximum(counts, 1))
        + lambdas
    )
    own = {}
    for j in np.flatnonzero(counts < 0.9 * n):
        rows = xs[valid[:, j]]
        values, vectors = np.linalg.eigh(rows.T @ rows)
        bound = np.maximum(values, 0.0) / (4.0 * max(counts[j], 1.0))
        own[j] = (vectors, 1.0 / (bound + lambdas[j]))
    mask = valid.astype(np.float64) / np.maximum(counts, 1.0)

    def step_at(point):
        p = _sigmoid(xs @ point)
        grad = xs.T @ ((p - y) * mask) + lambdas * penalised[:, None] * point
        step = basis @ ((basis.T @ grad) * inverse_diag)
        for j, (vectors, diag) in own.items():
            step[:, j] = vectors @ ((vectors.T @ grad[:, j]) * diag)
        return step, grad

    # Boehning's bound iterations with Nesterov momentum and the gradient
    # restart of O'Donoghue & Candes (momentum reset per head whenever it
    # points uphill), which keeps the fast rate on ill-conditioned heads.
    theta = np.zeros((d + 1, c))
    if init is not None:
        # The same linear function in this fit's standardisation.
        raw = (
            np.asarray(init["weights"], np.float64)
            / np.asarray(init["scale"])[:, None]
        )
        theta[:-1] = raw * scale[:, None]
        theta[-1] = init["bias"] - init["mean"] @ raw + mean @ raw
    point = theta.copy()
    momentum = np.ones(c)
    converged = np.zeros(c, dtype=bool)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        step, grad = step_at(point)
        new = point - step
        converged = np.max(np.abs(step), axis=0) < tol
        if converged.all():
            theta = new
            break
        uphill = np.sum(grad * (new - theta), axis=0) > 0
        next_momentum = (1.0 + np.sqrt(1.0 + 4.0 * momentum**2)) / 2.0
        beta = np.where(uphill, 0.0, (momentum - 1.0) / next_momentum)
        point = new + beta * (new - theta)
        momentum = np.where(uphill, 1.0, next_momentum)
        theta = new
    return {
        "mean": mean,
        "scale": scale,
        "weights": theta[:-1],
        "bias": theta[-1],
        "n_iter": n_iter,
        "converged": converged,
    }


def _fit_with_sklearn(features, targets, valid, l2, max_iter):
    """The same heads with scikit-learn's L-BFGS (one finding at a time)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = (x - mean) / scale
    weights = np.zeros((x.shape[1], targets.shape[1]))
    bias = np.zeros(targets.shape[1])
    for j in range(targets.shape[1]):
        rows = valid[:, j]
        count = int(rows.sum())
        lam = 1.0 / max(count, 1) if l2 is None else float(l2)
        # sklearn: C * sum(loss) + ||w||^2 / 2  ==  ours times C * n.
        model = LogisticRegression(
            C=1.0 / (lam * count), max_iter=max_iter, tol=1e-6
        )
        model.fit(xs[rows], targets[rows, j])
        weights[:, j] = model.coef_[0]
        bias[j] = model.intercept_[0]
    return {"mean": mean, "scale": scale, "weights": weights, "bias": bias}


# From this many training rows `solver="auto"` picks scikit-learn (see
# docs/performance.md: numpy 3x faster at 3k rows, sklearn faster at 377k).
SKLEARN_FROM = 50_000


def _solver(solver, rows):
    if solver not in ("auto", "numpy", "sklearn"):
        raise ValueError(
            f"solver must be 'auto', 'numpy' or 'sklearn', got {solver!r}."
        )
    found = importlib.util.find_spec("sklearn") is not None
    if solver == "auto":
        return "sklearn" if found and rows >= SKLEARN_FROM else "numpy"
    if solver == "sklearn" and not found:
        raise MissingPackageError(
            "linear_probe(solver='sklearn') needs scikit-learn, which is not "
            "installed. Install it with: pip install 'keras-clinclip[probe]'"
        )
    return solver


def predict_logistic_regression(head, features):
    """Probabilities (N, C) of a head from `fit_logistic_regression`.

    Example:
    >>> head = {"mean": np.zeros(1), "scale": np.ones(1),
    ...         "weights": np.ones((1, 1)), "bias": np.zeros(1)}
    >>> predict_logistic_regression(head, [[0.0]]).tolist()
    [[0.5]]
    """
    x = np.asarray(features, dtype=np.float64)
    z = ((x - head["mean"]) / head["scale"]) @ head["weights"] + head["bias"]
    return _sigmoid(z)


def logistic_loss(head, features, targets, valid=None, l2=None):
    """The objective that `fit_logistic_regression` minimises, per head.

    Example:
    >>> head = {"mean": np.zeros(1), "scale": np.ones(1),
    ...         "weights": np.zeros((1, 1)), "bias": np.zeros(1)}
    >>> float(logistic_loss(head, [[1.0]], [1.0], l2=0.0)[0].round(4))
    0.6931
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    valid = np.ones(y.shape, bool) if valid is None else np.asarray(valid)
    z = ((x - head["mean"]) / head["scale"]) @ head["weights"] + head["bias"]
    counts = np.maximum(valid.sum(axis=0), 1)
    data = ((_log1pexp(z) - y * z) * valid).sum(axis=0) / counts
    lam = 1.0 / counts if l2 is None else l2
    return data + 0.5 * lam * np.sum(head["weights"] ** 2, axis=0)


def nested_subsets(num_rows, fractions, seed=0):
    """Seeded nested training subsets: the first ceil(f N) of one shuffle.

    The subsets of the linear probe and of fine-tuning
    (`evaluation.fine_tune`), so that both train on the same rows at the
    same fraction.

    Args:
        num_rows: N, the training split's size.
        fractions: fractions in (0, 1].
        seed: the permutation's seed.

    Returns:
        `{fraction: int64 row indices}` (at least one row each).

    Example:
    >>> subsets = nested_subsets(10, (0.1, 0.5), seed=0)
    >>> len(subsets[0.1]), set(subsets[0.1]) <= set(subsets[0.5])
    (1, True)
    """
    order = np.random.default_rng(seed).permutation(int(num_rows))
    out = {}
    for fraction in fractions:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fractions must be in (0, 1], got {fraction}")
        out[fraction] = order[: max(1, math.ceil(fraction * num_rows))]
    return out


def linear_probe(
    train_embeddings,
    train_labels,
    test_embeddings,
    test_labels,
    class_names=None,
    fractions=(0.01, 0.1, 1.0),
    seed=0,
    uncertain="exclude",
    blank="negative",
    l2=None,
    n_bootstrap=0,
    max_iter=1000,
    solver="auto",
):
    """Train probes on fractions of the training split; AUROC on test.

    The subsets are nested (the first ceil(f N) examples of one seeded
    permutation). A finding with no positive or no negative example in a
    training subset gets no head: its AUROC is `NaN` with a warning.

    Args:
        train_embeddings: (N, d) frozen image embeddings.
        train_labels: (N, C) CheXpert labels.
        test_embeddings: (M, d).
        test_labels: (M, C).
        class_names: the C finding names.
        fractions: training fractions in (0, 1].
        seed: the subset permutation (and bootstrap) seed.
        uncertain: -1 handling for training and testing.
        blank: NaN handling for training and testing.
        l2: the L2 penalty (default 1/n).
        n_bootstrap: bootstrap resamples for test AUROC intervals.
        max_iter: solver iterations.
        solver: `"numpy"` (`fit_logistic_regression`, all findings at
            once, nested fits warm-started), `"sklearn"` (scikit-learn's
            `LogisticRegression`, the same objective, one finding at a
            time; the `[probe]` extra) or `"auto"` (default): sklearn
            for a training subset of `SKLEARN_FROM` rows or more when it
            is installed, else numpy. Same AUROCs; numpy is about 3x
            faster at 3k rows, sklearn 1.2-2x faster at 377k (MIMIC).

    Returns:
        dict `{fraction: result}` with `multilabel_auroc` results plus
        `"num_train"`.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=(200, 1)).astype(float)
    >>> x = y + 0.3 * rng.normal(size=(200, 3))
    >>> result = linear_probe(x[:100], y[:100], x[100:], y[100:],
    ...                       ["a"], fractions=(1.0,))
    >>> result[1.0]["macro"]["auroc"] > 0.9
    True
    """
    train_x = np.asarray(train_embeddings, dtype=np.float64)
    test_x = np.asarray(test_embeddings, dtype=np.float64)
    train_y = np.asarray(train_labels, dtype=np.float64)
    test_y = np.asarray(test_labels, dtype=np.float64)
    if train_x.shape[0] != train_y.shape[0]:
        raise ValueError(
            f"{train_x.shape[0]} training embeddings but "
            f"{train_y.shape[0]} training label rows"
        )
    if test_x.shape[0] != test_y.shape[0]:
        raise ValueError(
            f"{test_x.shape[0]} test embeddings but {test_y.shape[0]} test "
            "label rows"
        )
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train embeddings have d={train_x.shape[1]}, test "
            f"d={test_x.shape[1]}"
        )
    _solver(solver, 0)  # checked once, chosen per fraction
    c = train_y.shape[1]
    if class_names is None:
        class_names = [f"class_{j}" for j in range(c)]
    targets, valid = binarize_labels(train_y, uncertain, blank)
    subsets = nested_subsets(train_x.shape[0], fractions, seed)
    results = {}
    # The subsets are nested: each fit starts from the last (smaller) one.
    previous = None
    for fraction in sorted(fractions):
        subset = subsets[fraction]
        count = subset.size
        t, v = targets[subset], valid[subset]
        positives = (t * v).sum(axis=0)
        trainable = (positives > 0) & (positives < v.sum(axis=0))
        scores = np.zeros((test_x.shape[0], c))
        for j in np.flatnonzero(~trainable):
            warnings.warn(
                f"linear probe at {fraction:g} ({count} examples): "
                f"{class_names[j]!r} has no "
                f"{'positive' if positives[j] == 0 else 'negative'} "
                "training example; its AUROC is NaN",
                UserWarning,
                stacklevel=2,
            )
        if trainable.any():
            init = None
            if previous is not None:
                init = dict(previous)
                init["weights"] = previous["weights"][:, trainable]
                init["bias"] = previous["bias"][trainable]
            if _solver(solver, count) == "sklearn":
                head = _fit_with_sklearn(
                    train_x[subset],
                    t[:, trainable],
                    v[:, trainable].astype(bool),
                    l2,
                    max_iter,
                )
            else:
                head = fit_logistic_regression(
                    train_x[subset],
                    t[:, trainable],
                    v[:, trainable],
                    l2=l2,
                    max_iter=max_iter,
                    init=init,
                )
            scores[:, trainable] = predict_logistic_regression(head, test_x)
            previous = {
                "mean": head["mean"],
                "scale": head["scale"],
                "weights": np.zeros((train_x.shape[1], c)),
                "bias": np.zeros(c),
            }
            previous["weights"][:, trainable] = head["weights"]
            previous["bias"][trainable] = head["bias"]
        kept = np.flatnonzero(trainable)
        if kept.size:
            scored = multilabel_auroc(
                test_y[:, kept],
                scores[:, kept],
                [class_names[j] for j in kept],
                uncertain=uncertain,
                blank=blank,
                n_bootstrap=n_bootstrap,
                seed=seed,
            )
        else:
            scored = {
                "per_class": {},
                "macro": {
                    "auroc": float("nan"),
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                    "n_classes": 0,
                },
            }
        test_t, test_v = binarize_labels(test_y, uncertain, blank)
        result = {"per_class": {}, "macro": scored["macro"]}
        for j, name in enumerate(class_names):
            n_pos = int((test_t[:, j] * test_v[:, j]).sum())
            result["per_class"][name] = scored["per_class"].get(
                name,
                {
                    "auroc": float("nan"),
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                    "n_positive": n_pos,
                    "n_negative": int(test_v[:, j].sum()) - n_pos,
                },
            )
        result["num_train"] = int(count)
        result["trainable"] = [
            class_names[j] for j in np.flatnonzero(trainable)
        ]
        results[fraction] = result
    return {fraction: results[fraction] for fraction in fractions}
