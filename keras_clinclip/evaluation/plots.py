"""Evaluation figures (matplotlib, an optional extra: `[plots]`).

Every function builds a `matplotlib.figure.Figure` directly (never
`pyplot`, so no global state, no GUI backend, safe in threads and tests),
saves it as a PNG when `path` is given, and returns it. matplotlib is
imported only when a figure is drawn.
"""

import csv
import math
import pathlib

import numpy as np

from keras_clinclip.evaluation.metrics import auroc
from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import roc_curve
from keras_clinclip.evaluation.retrieval import cosine_similarity
from keras_clinclip.utils import require_package


def _new_figure(width, height):
    require_package("matplotlib", "evaluation plots")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _panel_grid(count, columns, width, height, pad):
    """A figure of `count` panels, `columns` wide; unused cells hidden.

    Returns `(figure, axes)` with the `count` used axes in reading order.
    """
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = _new_figure(width * columns, height * rows + pad)
    grid = figure.subplots(rows, columns, squeeze=False)
    cells = [grid[i // columns][i % columns] for i in range(rows * columns)]
    for ax in cells[count:]:
        ax.set_visible(False)
    return figure, cells[:count]


def _save(figure, path):
    if path is not None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    return figure


def plot_roc_curves(
    labels,
    scores,
    class_names=None,
    path=None,
    uncertain="exclude",
    blank="negative",
    columns=4,
    title="Zero-shot ROC curves",
):
    """ROC curves, one panel per finding, with the AUROC in each title.

    A finding without both positive and negative examples gets an empty
    panel that says so.

    Args:
        labels: (N, C) CheXpert labels.
        scores: (N, C) scores.
        class_names: C names.
        path: where to save the PNG (optional).
        uncertain: -1 handling (see `metrics.binarize_labels`).
        blank: NaN handling.
        columns: panels per row.
        title: the figure title.

    Returns:
        the `matplotlib.figure.Figure`.

    Example:
    >>> labels = np.array([[1.0], [0.0], [1.0], [0.0]])
    >>> figure = plot_roc_curves(labels, labels * 0.5 + 0.2, ["Edema"])
    >>> len(figure.axes)
    1
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"labels {labels.shape} and scores {scores.shape} must both be "
            "(N, C)"
        )
    c = labels.shape[1]
    names = list(class_names or [f"class_{j}" for j in range(c)])
    targets, valid = binarize_labels(labels, uncertain, blank)
    columns = max(1, min(columns, c))  # also read by the axis labels below
    figure, axes = _panel_grid(c, columns, 2.6, 2.6, 0.4)
    for j, ax in enumerate(axes):
        t = targets[valid[:, j], j]
        s = scores[valid[:, j], j]
        ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal")
        n_pos = int(t.sum())
        if 0 < n_pos < t.size:
            fpr, tpr, _ = roc_curve(t, s)
            value = auroc(t, s)
            ax.plot(fpr, tpr, color="tab:blue", linewidth=1.5)
            ax.set_title(
                f"{names[j]}\nAUROC {value:.3f} (n+={n_pos})", fontsize=8
            )
        else:
            ax.set_title(f"{names[j]}\n(undefined)", fontsize=8)
            ax.text(
                0.5,
                0.5,
                f"{n_pos} positive\nof {t.size}",
                ha="center",
                va="center",
                fontsize=8,
            )
        ax.tick_params(labelsize=6)
        if j % columns == 0:
            ax.set_ylabel("true positive rate", fontsize=7)
        if j + columns >= c:  # nothing drawn below this panel
            ax.set_xlabel("false positive rate", fontsize=7)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def plot_similarity_heatmap(
    image_embeddings,
    text_embeddings,
    path=None,
    image_labels=None,
    text_labels=None,
    title="Image-report cosine similarity",
):
    """Heat-map of the cosine similarities of a batch of pairs.

    Row i is image i, column j report j; a good model lights the diagonal.

    Args:
        image_embeddings: (N, d).
        text_embeddings: (M, d).
        path: where to save the PNG (optional).
        image_labels: optional N tick labels.
        text_labels: optional M tick labels (shortened to 24 characters).
        title: the figure title.

    Returns:
        the `matplotlib.figure.Figure`.

    Example:
    >>> figure = plot_similarity_heatmap(np.eye(3), np.eye(3))
    >>> len(figure.axes)  # the heat-map and its colour bar
    2
    """
    similarity = cosine_similarity(image_embeddings, text_embeddings)
    n, m = similarity.shape
    size = min(10.0, 2.5 + 0.25 * max(n, m))
    figure = _new_figure(size + 1.0, size)
    ax = figure.subplots()
    image = ax.imshow(similarity, cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    ax.set_xlabel("report")
    ax.set_ylabel("image")
    if image_labels is not None and len(image_labels) == n and n <= 40:
        ax.set_yticks(range(n), [str(x)[:24] for x in image_labels], fontsize=6)
    if text_labels is not None and len(text_labels) == m and m <= 40:
        ax.set_xticks(
            range(m),
            [str(x)[:24] for x in text_labels],
            fontsize=6,
            rotation=90,
        )
    ax.set_title(title, fontsize=10)
    return _save(figure, path)


def read_history(history):
    """Training curves as `{metric: list of floats}` from any source.

    Args:
        history: a Keras `History` (what `fit` returns), its `.history`
            dict, or the path of a `keras.callbacks.CSVLogger` file.

    Returns:
        dict of equal-length float lists; an `"epoch"` column is dropped.

    Example:
    >>> read_history({"loss": [2, 1], "val_loss": [3, 2]})["loss"]
    [2.0, 1.0]
    """
    if hasattr(history, "history") and isinstance(history.history, dict):
        history = history.history
    if isinstance(history, (str, pathlib.Path)):
        path = pathlib.Path(history)
        if not path.exists():
            raise FileNotFoundError(f"training log {str(path)!r} not found")
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            raise ValueError(f"training log {str(path)!r} has no rows")
        columns = {}
        for line, row in enumerate(rows, start=2):
            for key, value in row.items():
                try:
                    columns.setdefault(key, []).append(float(value))
                except (TypeError, ValueError) as error:
                    raise ValueError(
                        f"{path}: line {line}, column {key!r} is not a "
                        f"number: {value!r}"
                    ) from error
        history = columns
    if not isinstance(history, dict) or not history:
        raise ValueError(
            "history must be a Keras History, a non-empty dict of lists or "
            "a CSVLogger file"
        )
    return {
        key: [float(v) for v in values]
        for key, values in history.items()
        if key != "epoch"
    }


def plot_training_curves(
    history, path=None, metrics=None, title="Training curves"
):
    """Training (and validation) curves per metric, one panel each.

    Args:
        history: a Keras `History`, its dict, or a CSVLogger file path.
        path: where to save the PNG (optional).
        metrics: the metric names to draw (default every non-`val_` one).
        title: the figure title.

    Returns:
        the `matplotlib.figure.Figure`.

    Example:
    >>> figure = plot_training_curves({"loss": [2, 1], "val_loss": [3, 2]})
    >>> [line.get_label() for line in figure.axes[0].lines]
    ['loss', 'val_loss']
    """
    curves = read_history(history)
    if metrics is None:
        metrics = [k for k in curves if not k.startswith("val_")]
        metrics += [
            k[4:]
            for k in curves
            if k.startswith("val_") and k[4:] not in curves
        ]
    missing = [
        m for m in metrics if m not in curves and f"val_{m}" not in curves
    ]
    if missing:
        raise ValueError(
            f"metrics {missing} are not in the history (it has "
            f"{sorted(curves)})"
        )
    figure, axes = _panel_grid(len(metrics), 3, 3.6, 2.8, 0.3)
    for i, ax in enumerate(axes):
        name = metrics[i]
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in curves:
                values = curves[key]
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    marker="o",
                    markersize=3,
                    label=key,
                )
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def plot_margin_histogram(
    margins, path=None, bins=30, title="CXR-Align similarity margins"
):
    """Histograms of CXR-Align margins (e.g. s(report) - s(negation)).

    Mass to the right of the dashed zero line is success; each legend
    entry gives the share above zero.

    Args:
        margins: a 1-D array, or a dict `{name: 1-D array}` such as
            `cxr_align_scores(...)["margins"]`.
        path: where to save the PNG (optional).
        bins: histogram bins.
        title: the figure title.

    Returns:
        the `matplotlib.figure.Figure`.

    Example:
    >>> figure = plot_margin_histogram({"report-negation": [0.1, -0.2]})
    >>> len(figure.axes)
    1
    """
    if not isinstance(margins, dict):
        margins = {"report-negation": margins}
    cleaned = {}
    for name, values in margins.items():
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        if values.size:
            cleaned[name] = values
    if not cleaned:
        raise ValueError("plot_margin_histogram got no finite margin")
    figure = _new_figure(6.0, 3.6)
    ax = figure.subplots()
    everything = np.concatenate(list(cleaned.values()))
    low, high = everything.min(), everything.max()
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(min(low, 0.0), max(high, 0.0), bins + 1)
    for name, values in cleaned.items():
        share = float(np.mean(values > 0))
        ax.hist(
            values,
            bins=edges,
            alpha=0.5,
            label=f"{name}: {share:.1%} > 0 (n={values.size})",
        )
    ax.axvline(0.0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("cosine similarity margin")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(figure, path)


def plot_reliability_diagram(
    clinical,
    path=None,
    columns=4,
    title="Reliability of the zero-shot probabilities",
):
    """Reliability diagrams, one panel per finding, with the ECE.

    Each panel plots the observed frequency of positives against the mean
    predicted probability in each bin (the diagonal is perfect
    calibration); marker areas follow the bin counts.

    Args:
        clinical: the dict of `metrics.clinical_metrics` (its
            `reliability` curves).
        path: where to save the PNG (optional).
        columns: panels per row.
        title: the figure title.

    Returns:
        the `matplotlib.figure.Figure`.

    Example:
    >>> from keras_clinclip.evaluation.metrics import clinical_metrics
    >>> r = clinical_metrics([[1], [0], [1], [0]], [[0.9], [0.2], [0.6],
    ...                      [0.4]], ["Edema"], n_bootstrap=0)
    >>> len(plot_reliability_diagram(r).axes)
    1
    """
    names = list(clinical["per_class"])
    c = len(names)
    if c == 0:
        raise ValueError("clinical metrics hold no finding to plot")
    columns = max(1, min(columns, c))  # also read by the axis labels below
    figure, axes = _panel_grid(c, columns, 2.6, 2.6, 0.4)
    for j, ax in enumerate(axes):
        entry = clinical["per_class"][names[j]]
        curve = entry["reliability"]
        filled = np.asarray(curve["count"]) > 0
        ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=0.8)
        if filled.any():
            count = np.asarray(curve["count"])[filled]
            ax.plot(
                np.asarray(curve["confidence"])[filled],
                np.asarray(curve["frequency"])[filled],
                color="tab:blue",
                linewidth=1.0,
            )
            ax.scatter(
                np.asarray(curve["confidence"])[filled],
                np.asarray(curve["frequency"])[filled],
                s=8 + 60 * count / count.max(),
                color="tab:blue",
            )
        ece = entry["ece"]
        label = "n/a" if not np.isfinite(ece) else f"{ece:.3f}"
        ax.set_title(f"{names[j]}\nECE {label}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
        if j % columns == 0:
            ax.set_ylabel("observed frequency", fontsize=7)
        if j + columns >= c:
            ax.set_xlabel("mean predicted probability", fontsize=7)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def plot_localization_maps(
    images,
    maps,
    masks=None,
    titles=None,
    path=None,
    title="Localisation maps (similarity with the finding's prompt)",
):
    """Images with their similarity maps overlaid, and the drawn regions.

    Each column shows one image in grey with its map in colour on top
    (normalised per image, brightest = most similar), the drawn region's
    outline when `masks` is given, and a cross at the map's maximum.

    Args:
        images: `(N, H, W)` or `(N, H, W, C)` images (any range).
        maps: `(N, H, W)` maps at the images' size
            (`similarity_maps.upsample_map`).
        masks: optional `(N, H, W)` boolean regions.
        titles: optional N panel titles.
        path: where to save the PNG (optional).
        title: the figure title.

    Returns:
        the `matplotlib.figure.Figure`.

    Example:
    >>> images = np.zeros((2, 8, 8))
    >>> maps = np.random.default_rng(0).random((2, 8, 8))
    >>> len(plot_localization_maps(images, maps, maps > 0.5).axes)
    2
    """
    images = np.asarray(images, dtype=np.float64)
    maps = np.asarray(maps, dtype=np.float64)
    if images.ndim == 4:
        images = images.mean(axis=-1)
    if images.ndim != 3 or maps.shape != images.shape:
        raise ValueError(
            f"images {images.shape} and maps {maps.shape} must both be "
            "(N, H, W)"
        )
    n = len(images)
    if n == 0:
        raise ValueError("plot_localization_maps got no images")
    # One image (`clinclip explain`) gets a larger panel.
    figure = _new_figure(2.2 * n, 2.6) if n > 1 else _new_figure(4.0, 4.4)
    axes = figure.subplots(1, n, squeeze=False)[0]
    for k, ax in enumerate(axes):
        ax.imshow(images[k], cmap="gray")
        m = maps[k] - maps[k].min()
        m = m / m.max() if m.max() > 0 else m
        ax.imshow(m, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        if masks is not None:
            ax.contour(
                np.asarray(masks[k], float),
                levels=[0.5],
                colors="white",
                linewidths=0.8,
            )
        y, x = np.unravel_index(int(np.argmax(maps[k])), maps[k].shape)
        ax.plot([x], [y], marker="x", color="white", markersize=6)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=7)
    figure.suptitle(title, fontsize=9)
    return _save(figure, path)
