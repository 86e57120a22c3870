"""An independent numpy reference of the loss formulas of docs/losses.md.

Written loop by loop from the formulas, not from the library code: invalid
negations are dropped (not masked), softmaxes are computed with explicit
max-shifted exponentials, and the text -> image direction reads the
columns of L.
"""

import numpy as np


def normalize(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-6)


def clinical(labels, uncertain_value=1.0):
    labels = np.asarray(labels, np.float64)
    out = np.zeros_like(labels)
    out[labels == 1] = 1.0
    out[labels == -1] = uncertain_value
    out[np.isnan(labels)] = 0.0
    return out


def clinical_pair(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


def softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def log_softmax(z):
    z = np.asarray(z, np.float64)
    m = z.max()
    return z - m - np.log(np.exp(z - m).sum())


def similarity(y_true, y_pred, sources, weights=None, uncertain_value=1.0):
    """S (N, N), or None without sources."""
    if not sources:
        return None
    n = len(y_pred["image_embeddings"])
    total = np.zeros((n, n))
    norm = 0.0
    for name in sources:
        w = 1.0 if weights is None else weights[name]
        if name == "text":
            u = normalize(y_pred["text_embeddings"])
            s = u @ u.T
        elif name == "graph":
            g = normalize(y_pred["graph_embeddings"])
            s = g @ g.T
        else:
            c = clinical(y_true["labels"], uncertain_value)
            s = np.array([[clinical_pair(a, b) for b in c] for a in c])
        total += w * s
        norm += w
    return total / norm


def targets(sim, n, temperature, soft_weight):
    if sim is None or soft_weight == 0:
        return np.eye(n)
    p = np.stack([softmax(row / temperature) for row in sim])
    return (1 - soft_weight) * np.eye(n) + soft_weight * p


def soft_label_contrastive(
    y_true,
    y_pred,
    sources=("text", "clinical", "graph"),
    weights=None,
    temperature=0.1,
    soft_weight=0.5,
    uncertain_value=1.0,
    negatives="batch",
    negation_soft_targets=False,
    max_scale=100.0,
):
    v = normalize(y_pred["image_embeddings"])
    u = normalize(y_pred["text_embeddings"])
    n = len(v)
    scale = min(float(np.ravel(y_pred["logit_scale"])[0]), max_scale)
    logits = scale * v @ u.T
    sim = similarity(y_true, y_pred, sources, weights, uncertain_value)
    y = targets(sim, n, temperature, soft_weight)
    has_neg = negatives is not None and "negation_embeddings" in y_pred
    if has_neg:
        neg = normalize(y_pred["negation_embeddings"])
        mask = np.asarray(y_true["negation_mask"])
        k = neg.shape[1]
    i2t = []
    for i in range(n):
        row = list(logits[i])
        row_targets = list(y[i])
        soft_cols = None
        if has_neg:
            owners = range(n) if negatives == "batch" else [i]
            extra = [
                (j, kk) for j in owners for kk in range(k) if mask[j, kk] > 0
            ]
            row += [scale * v[i] @ neg[j, kk] for j, kk in extra]
            row_targets += [0.0] * len(extra)
            use_soft = (
                negation_soft_targets
                and sim is not None
                and soft_weight > 0
                and "clinical" in sources
            )
            if use_soft:
                c = clinical(y_true["labels"], uncertain_value)
                cn = clinical(y_true["negation_labels"], uncertain_value)
                neg_sim = [clinical_pair(c[i], cn[j, kk]) for j, kk in extra]
                soft_cols = softmax(
                    np.concatenate([sim[i], neg_sim]) / temperature
                )
                hard = np.zeros(len(row))
                hard[i] = 1.0
                row_targets = (1 - soft_weight) * hard + soft_weight * soft_cols
        i2t.append(-np.dot(row_targets, log_softmax(row)))
    t2i = []
    for j in range(n):
        t2i.append(-np.dot(y[j], log_softmax(logits[:, j])))
    return float(np.mean((np.array(i2t) + np.array(t2i)) / 2))


def plain_info_nce(image, text, scale):
    """CLIP's loss as usually written: cross-entropy with labels arange(N)."""
    v, u = normalize(image), normalize(text)
    logits = scale * v @ u.T
    labels = np.arange(len(v))

    def ce(z):
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[labels, labels].mean()

    return float((ce(logits) + ce(logits.T)) / 2)


def random_batch(
    n=6, d=8, k=2, c=5, dg=4, seed=0, all_normal=False, scale=10.0
):
    """A random batch with uncertain and NaN labels and partial masks."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([1.0, 0.0, -1.0, np.nan], size=(n, c))
    if all_normal:
        labels = rng.choice([0.0, np.nan], size=(n, c))
    y_pred = {
        "image_embeddings": rng.normal(size=(n, d)).astype("float32"),
        "text_embeddings": rng.normal(size=(n, d)).astype("float32"),
        "logit_scale": np.float32(scale),
        "negation_embeddings": rng.normal(size=(n, k, d)).astype("float32"),
        "graph_embeddings": rng.normal(size=(n, dg)).astype("float32"),
    }
    mask = (rng.random((n, k)) > 0.35).astype("float32")
    neg_labels = np.repeat(labels[:, None, :], k, axis=1).copy()
    neg_labels[..., 0] = 0.0
    y_true = {
        "labels": labels.astype("float32"),
        "negation_mask": mask,
        "negation_labels": neg_labels.astype("float32"),
    }
    return y_true, y_pred


def log_sigmoid(z):
    return -np.logaddexp(0.0, -np.asarray(z, np.float64))


def soft_label_sigmoid(
    y_true,
    y_pred,
    sources=("text", "clinical", "graph"),
    temperature=0.1,
    soft_weight=0.5,
    negatives="batch",
    negation_soft_targets=False,
    max_scale=100.0,
):
    """Pairwise binary cross-entropy with Y = (1-w) I + w exp((S-1)/tau)."""
    v = normalize(y_pred["image_embeddings"])
    u = normalize(y_pred["text_embeddings"])
    n = len(v)
    scale = min(float(np.ravel(y_pred["logit_scale"])[0]), max_scale)
    bias = float(np.ravel(y_pred["logit_bias"])[0])
    sim = similarity(y_true, y_pred, sources)
    if sim is None or soft_weight == 0:
        y = np.eye(n)
    else:
        q = np.exp((np.minimum(sim, 1.0) - 1.0) / temperature)
        y = (1 - soft_weight) * np.eye(n) + soft_weight * q
    has_neg = negatives is not None and "negation_embeddings" in y_pred
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = scale * v[i] @ u[j] + bias
            total -= y[i, j] * log_sigmoid(z) + (1 - y[i, j]) * log_sigmoid(-z)
        if not has_neg:
            continue
        neg = normalize(y_pred["negation_embeddings"])
        mask = np.asarray(y_true["negation_mask"])
        owners = range(n) if negatives == "batch" else [i]
        for j in owners:
            for kk in range(neg.shape[1]):
                if mask[j, kk] <= 0:
                    continue
                z = scale * v[i] @ neg[j, kk] + bias
                t = 0.0
                if negation_soft_targets and sim is not None:
                    c = clinical(y_true["labels"])[i]
                    cn = clinical(y_true["negation_labels"])[j, kk]
                    s_neg = clinical_pair(c, cn)
                    t = soft_weight * np.exp(
                        (min(s_neg, 1.0) - 1.0) / temperature
                    )
                total -= t * log_sigmoid(z) + (1 - t) * log_sigmoid(-z)
    return total / n
