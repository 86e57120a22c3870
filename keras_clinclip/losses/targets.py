"""Soft targets: the similarity sources, their mix and the target matrix.

Pure functions on explicit tensors, all in float32 (inside the losses they
run under stop-gradient). With unit features F_k of each source k,

    S = sum_k w_k F_k F_k^T / sum_k w_k,   P = softmax_rows(S / tau),
    Y = (1 - lambda) I + lambda P

(`docs/losses.md`). `soft_targets` builds Y for inspection; the losses
never build it (see `keras_clinclip.losses.functional`).
"""

from keras import ops

SOURCES = ("text", "clinical", "graph")

# Which batch entry each source reads, and in which dict it lives.
SOURCE_KEYS = {
    "text": ("y_pred", "text_embeddings"),
    "clinical": ("y_true", "labels"),
    "graph": ("y_pred", "graph_embeddings"),
}


def l2_normalize(x, epsilon=1e-12):
    """L2-normalise the last axis in float32 (zero rows stay zero).

    Args:
        x: a tensor (..., d).
        epsilon: floor of the squared norm.

    Returns:
        A float32 tensor of the shape of `x`.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> y = l2_normalize(np.array([[3.0, 4.0]], "float32"))
    >>> [round(float(v), 3) for v in keras.ops.convert_to_numpy(y)[0]]
    [0.6, 0.8]
    """
    x = ops.cast(x, "float32")
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, epsilon))


def clinical_vectors(labels, uncertain_value=1.0):
    """Map CheXpert labels to clinical vectors c.

    1 -> 1, -1 (uncertain) -> `uncertain_value`, 0 and NaN -> 0.

    Args:
        labels: (..., C) labels in the CheXpert convention.
        uncertain_value: the value given to uncertain (-1) labels.

    Returns:
        A float32 tensor of the shape of `labels`.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> c = clinical_vectors(np.array([[1.0, -1.0, 0.0, np.nan]]), 0.5)
    >>> keras.ops.convert_to_numpy(c).tolist()
    [[1.0, 0.5, 0.0, 0.0]]
    """
    labels = ops.cast(labels, "float32")
    values = ops.where(
        ops.equal(labels, 1.0),
        1.0,
        ops.where(ops.equal(labels, -1.0), float(uncertain_value), 0.0),
    )
    return ops.where(ops.isnan(labels), 0.0, values)


def clinical_features(vectors):
    """Unit features whose dot products are the clinical similarity.

    Each clinical vector c becomes (c / |c|, 0), and the zero vector (no
    positive finding) becomes (0, ..., 0, 1): two studies without findings
    then have dot product 1, a study with and one without have 0, and two
    with findings have cos(c_i, c_j). One matmul gives the whole matrix.

    Args:
        vectors: (..., C) clinical vectors (see `clinical_vectors`).

    Returns:
        (..., C + 1) float32 features.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> f = clinical_features(np.array([[3, 4], [0, 0]], "float32"))
    >>> keras.ops.convert_to_numpy(f).astype("float64").round(3).tolist()
    [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]
    """
    vectors = ops.cast(vectors, "float32")
    squared = ops.sum(ops.square(vectors), axis=-1, keepdims=True)
    unit = vectors * ops.rsqrt(ops.maximum(squared, 1e-12))
    zero = ops.cast(ops.equal(squared, 0.0), "float32")
    return ops.concatenate([unit, zero], axis=-1)


def clinical_similarity(rows, cols):
    """Clinical similarity between clinical vectors.

    cos(c_i, c_j) when both are non-zero, 1 when both are zero (no positive
    finding on either side), 0 when exactly one is zero.

    Args:
        rows: (R, C) clinical vectors.
        cols: (M, C) clinical vectors.

    Returns:
        (R, M) float32 similarities.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> c = np.array([[1, 0], [0, 0], [1, 1]], "float32")
    >>> s = keras.ops.convert_to_numpy(clinical_similarity(c, c))
    >>> s.astype("float64").round(3).tolist()
    [[1.0, 0.0, 0.707], [0.0, 1.0, 0.0], [0.707, 0.0, 1.0]]
    """
    return ops.matmul(
        clinical_features(rows), ops.transpose(clinical_features(cols))
    )


def check_sources(sources, source_weights):
    """Validate `sources`/`source_weights` and return them as tuples."""
    if isinstance(sources, str):
        if sources == "auto":
            return "auto", source_weights
        sources = (sources,)
    sources = tuple(sources or ())
    for name in sources:
        if name not in SOURCES:
            raise ValueError(
                f"Unknown similarity source {name!r} in `sources`; expected "
                f"some of {SOURCES} or 'auto'."
            )
    if len(set(sources)) != len(sources):
        raise ValueError(f"`sources` has duplicates: {sources}.")
    if source_weights is None:
        return sources, None
    if isinstance(source_weights, dict):
        unknown = set(source_weights) - set(SOURCES)
        if unknown:
            raise ValueError(
                f"`source_weights` has unknown sources {sorted(unknown)}."
            )
        weights = {k: float(v) for k, v in source_weights.items()}
    else:
        weights = [float(w) for w in source_weights]
        if len(weights) != len(sources):
            raise ValueError(
                f"`source_weights` has {len(weights)} entries for "
                f"{len(sources)} sources {sources}."
            )
        weights = dict(zip(sources, weights))
    for name, weight in weights.items():
        if weight < 0:
            raise ValueError(
                f"`source_weights[{name!r}]` must be >= 0, got {weight}."
            )
    return sources, weights


def resolve_sources(sources, y_true, y_pred):
    """The sources to use for this batch (`"auto"`: those with data)."""
    if sources != "auto":
        return sources
    chosen = []
    for name in SOURCES:
        where, key = SOURCE_KEYS[name]
        batch = y_pred if where == "y_pred" else y_true
        if key in batch:
            chosen.append(name)
    return tuple(chosen)


def source_features(name, y_true, y_pred, uncertain_value):
    """Unit per-study features of a source: S^k = F_k F_k^T."""
    if name == "text":
        return l2_normalize(y_pred["text_embeddings"])
    if name == "graph":
        return l2_normalize(y_pred["graph_embeddings"])
    return clinical_features(
        clinical_vectors(y_true["labels"], uncertain_value)
    )


def _active(sources, weights):
    """(source, weight) of the sources with a non-zero weight."""
    pairs = []
    for name in sources:
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if weight != 0.0:
            pairs.append((name, weight))
    return pairs


def mixed_features(sources, weights, features):
    """Row and column features whose product is the mixed similarity.

    S = sum_k w_k F_k F_k^T / sum_k w_k is one matmul of the concatenated
    features: rows scaled by `w_k / sum_k w_k`, columns as they are.

    Args:
        sources: the source names.
        weights: None (equal) or a dict `{source: weight}`.
        features: dict `{source: (N, d_k) unit features}`.

    Returns:
        `(row_features, col_features)`, each (N, sum_k d_k), or
        `(None, None)` when no source has a weight.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> f = {"text": np.eye(2, dtype="float32")}
    >>> rows, cols = mixed_features(("text",), None, f)
    >>> keras.ops.convert_to_numpy(rows @ keras.ops.transpose(cols)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    pairs = _active(sources, weights)
    if not pairs:
        return None, None
    total = sum(weight for _, weight in pairs)
    rows, cols = [], []
    for name, weight in pairs:
        feature = ops.cast(features[name], "float32")
        factor = weight / total
        rows.append(feature * factor if factor != 1.0 else feature)
        cols.append(feature)
    if len(pairs) == 1:
        return rows[0], cols[0]
    return ops.concatenate(rows, axis=-1), ops.concatenate(cols, axis=-1)


def soft_targets(
    y_true,
    y_pred,
    sources=SOURCES,
    source_weights=None,
    target_temperature=0.1,
    soft_weight=0.5,
    uncertain_value=1.0,
    return_similarity=False,
):
    """The soft target matrix Y of a batch, for inspection.

    Y = (1 - soft_weight) I + soft_weight softmax_rows(S / temperature),
    with S the weighted mean of the chosen similarity sources (see
    `docs/losses.md`). Row i is image i's target over the N reports; since
    S is symmetric, row j is also report j's target over the N images.
    Computed in float32 under stop-gradient. This is the matrix that
    `SoftLabelContrastive` uses (without negation columns).

    Args:
        y_true: dict with `"labels"` (N, C) when `"clinical"` is a source.
        y_pred: dict with `"text_embeddings"` (N, d) and, for the graph
            source, `"graph_embeddings"` (N, dg).
        sources: any of `"text"`, `"clinical"`, `"graph"`, or `"auto"`
            (those whose inputs are present).
        source_weights: None (equal), a list matching `sources`, or a dict.
        target_temperature: the softmax temperature of the targets.
        soft_weight: the mass given to the soft part (a float in [0, 1]).
        uncertain_value: the clinical value of uncertain (-1) labels.
        return_similarity: also return S (None when there is no source).

    Returns:
        Y (N, N) float32, or `(Y, S)` with `return_similarity=True`.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> y_true = {"labels": np.array([[1, 0], [1, 0], [0, 1]], "float32")}
    >>> y_pred = {"text_embeddings": np.eye(3, 4, dtype="float32")}
    >>> y = soft_targets(y_true, y_pred, sources=("clinical",))
    >>> y = keras.ops.convert_to_numpy(y)
    >>> y.shape, bool(abs(y.sum(axis=1) - 1).max() < 1e-6)
    ((3, 3), True)
    >>> bool(y[0, 1] > y[0, 2])
    True
    """
    sources, weights = check_sources(sources, source_weights)
    sources = resolve_sources(sources, y_true, y_pred)
    check_keys(sources, y_true, y_pred, option="sources")
    features = {
        name: ops.stop_gradient(
            source_features(name, y_true, y_pred, uncertain_value)
        )
        for name in sources
    }
    rows, cols = mixed_features(sources, weights, features)
    similarity = None if rows is None else ops.matmul(rows, ops.transpose(cols))
    n = ops.shape(y_pred["text_embeddings"])[0]
    identity = ops.eye(n, dtype="float32")
    if similarity is None or float(soft_weight) == 0.0:
        targets = identity
    else:
        soft = ops.softmax(similarity / float(target_temperature), axis=-1)
        w = float(soft_weight)
        targets = (1.0 - w) * identity + w * soft
    if return_similarity:
        return targets, similarity
    return targets


def check_keys(sources, y_true, y_pred, option="sources"):
    """Raise a clear error when a source's input is missing."""
    for name in sources:
        where, key = SOURCE_KEYS[name]
        batch = y_pred if where == "y_pred" else y_true
        if not isinstance(batch, dict):
            raise TypeError(
                f"`{where}` must be a dict of tensors, got "
                f"{type(batch).__name__}."
            )
        if key not in batch:
            raise KeyError(
                f"`{where}[{key!r}]` is missing: the {name!r} entry of "
                f"`{option}` needs it. `{where}` has keys {sorted(batch)}."
            )
