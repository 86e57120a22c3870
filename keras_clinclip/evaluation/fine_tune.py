"""Classification with training: full fine-tuning and the linear probe.

Source convention: the data-efficiency protocol of ConVIRT (Zhang et al.,
2020), GLoRIA and CXR-CLIP: train on 1%, 10% and 100% of the training
split (seeded subsets, `probe.nested_subsets`, the same rows for both
methods) and report the test AUROC (multi-label and binary: macro over
labels; multi-class: accuracy, as for COVIDx). Two methods:

- **linear probe**: a logistic head on the frozen image embeddings
  (`probe.linear_probe`, one head per label);
- **full fine-tuning**: every image-side weight of the preset trains
  (`models.ClinCLIPImageClassifier`), with binary cross-entropy for
  multi-label/binary and softmax cross-entropy for multi-class.

For training, CheXpert uncertain labels (-1) count as negative (U-zeros)
in the fine-tuning loss (a per-entry mask does not fit Keras's per-sample
weights); the test metrics use the `uncertain`/`blank` handling given.
"""

import keras
import numpy as np

from keras_clinclip.evaluation.metrics import binarize_labels
from keras_clinclip.evaluation.metrics import estimate_with_ci
from keras_clinclip.evaluation.metrics import multilabel_auroc
from keras_clinclip.evaluation.probe import linear_probe
from keras_clinclip.evaluation.probe import nested_subsets
from keras_clinclip.evaluation.zero_shot_multiclass import class_indices
from keras_clinclip.models.clinclip_image_classifier import (
    ClinCLIPImageClassifier,
)

SOURCE = "ConVIRT/GLoRIA/CXR-CLIP data efficiency: 1%, 10%, 100% subsets"


def preset_classifier(preset, learning_rate=1e-4):
    """A factory of fresh fine-tuning tasks from a preset.

    Args:
        preset: a ClinCLIP preset directory.
        learning_rate: AdamW's learning rate.

    Returns:
        `make(num_classes, problem) -> ClinCLIPImageClassifier`, compiled.

    Example:
    >>> make = preset_classifier("/path/to/preset")
    >>> callable(make)
    True
    """

    def make(num_classes, problem):
        task = ClinCLIPImageClassifier.from_preset(
            preset, num_classes=num_classes, problem=problem
        )
        task.compile(
            optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=1e-4)
        )
        return task

    return make


def _targets(labels, problem, num_classes):
    if problem == "multiclass":
        return class_indices(labels, num_classes)
    targets, _ = binarize_labels(labels, uncertain="negative")
    return targets.astype("float32")


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _score(logits, labels, class_names, problem, uncertain, blank, n, seed):
    if problem == "multiclass":
        truth = class_indices(labels, len(class_names))
        return {
            "accuracy": estimate_with_ci(
                lambda t, z: float(np.mean(t == z.argmax(axis=1))),
                truth,
                logits,
                n_resamples=n,
                seed=seed,
            )
        }
    result = multilabel_auroc(
        labels, _sigmoid(logits), class_names, uncertain, blank, n, seed=seed
    )
    macro = result["macro"]
    return {
        "AUROC": {
            "value": macro["auroc"],
            "ci": [macro["ci_low"], macro["ci_high"]],
        }
    }


def fine_tune(
    make_classifier,
    train_images,
    train_labels,
    test_images,
    test_labels,
    class_names,
    problem="multilabel",
    fractions=(0.01, 0.1, 1.0),
    epochs=5,
    batch_size=32,
    seed=0,
    uncertain="exclude",
    blank="negative",
    n_bootstrap=0,
    verbose=0,
):
    """Fine-tune a fresh classifier on each training fraction; test it.

    Args:
        make_classifier: `make(num_classes, problem)` returning a compiled
            `ClinCLIPImageClassifier` (e.g. `preset_classifier(preset)`);
            called once per fraction, after `keras.utils.set_random_seed`.
        train_images: (N, H, W[, C]) raw radiographs.
        train_labels: (N, C) labels (CheXpert convention), or for
            `"multiclass"` (N,) indices / (N, C) one-hot.
        test_images: (M, H, W[, C]).
        test_labels: the test labels, same layout.
        class_names: the C names (one for `"binary"`).
        problem: `"multilabel"`, `"binary"` or `"multiclass"`.
        fractions: training fractions.
        epochs: passes over each subset.
        batch_size: images per step.
        seed: subset, initialisation and bootstrap seed.
        uncertain: -1 handling of the test metrics.
        blank: NaN handling of the test metrics.
        n_bootstrap: resamples of the intervals.
        verbose: Keras's `fit` verbosity.

    Returns:
        `{fraction: {"metrics": {...}, "num_train": int}}`: `AUROC`
        (macro) for multi-label and binary, `accuracy` for multi-class.

    Example:
    >>> class Fake:  # a "classifier" predicting the mean pixel
    ...     def fit(self, x, y, **kw): pass
    ...     def predict(self, x, **kw):
    ...         return np.asarray(x).reshape(len(x), -1).mean(1, keepdims=True)
    >>> x = np.arange(8.0).reshape(8, 1, 1); y = (x.reshape(8, 1) > 3) * 1.0
    >>> r = fine_tune(lambda c, p: Fake(), x, y, x, y, ["a"], "binary",
    ...               fractions=(1.0,))
    >>> r[1.0]["metrics"]["AUROC"]["value"], r[1.0]["num_train"]
    (1.0, 8)
    """
    names = list(class_names)
    train_images = np.asarray(train_images)
    test_images = np.asarray(test_images)
    targets = _targets(train_labels, problem, len(names))
    if len(targets) != len(train_images):
        raise ValueError(
            f"{len(train_images)} training images but {len(targets)} "
            "training label rows"
        )
    subsets = nested_subsets(len(train_images), fractions, seed)
    out = {}
    for fraction in fractions:
        rows = subsets[fraction]
        keras.utils.set_random_seed(seed)
        task = make_classifier(len(names), problem)
        task.fit(
            train_images[rows],
            targets[rows],
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
        )
        logits = np.asarray(
            task.predict(test_images, batch_size=batch_size, verbose=0),
            dtype=np.float64,
        )
        out[fraction] = {
            "metrics": _score(
                logits,
                test_labels,
                names,
                problem,
                uncertain,
                blank,
                n_bootstrap,
                seed,
            ),
            "num_train": int(rows.size),
        }
    return out


def probe_rows(
    train_embeddings,
    train_labels,
    test_embeddings,
    test_labels,
    class_names,
    fractions=(0.01, 0.1, 1.0),
    seed=0,
    uncertain="exclude",
    blank="negative",
    n_bootstrap=0,
):
    """The linear probe in `fine_tune`'s result layout (same subsets).

    Args:
        train_embeddings: (N, d) frozen image embeddings.
        train_labels: (N, C).
        test_embeddings: (M, d).
        test_labels: (M, C).
        class_names: the C names.
        fractions: training fractions.
        seed: the subsets' seed.
        uncertain: -1 handling.
        blank: NaN handling.
        n_bootstrap: resamples of the intervals.

    Returns:
        `{fraction: {"metrics": {"AUROC": {"value", "ci"}}, "num_train"}}`.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=(80, 1)).astype(float)
    >>> x = y + 0.3 * rng.normal(size=(80, 3))
    >>> r = probe_rows(x[:40], y[:40], x[40:], y[40:], ["a"], (1.0,))
    >>> r[1.0]["metrics"]["AUROC"]["value"] > 0.9
    True
    """
    results = linear_probe(
        train_embeddings,
        train_labels,
        test_embeddings,
        test_labels,
        class_names,
        fractions=fractions,
        seed=seed,
        uncertain=uncertain,
        blank=blank,
        n_bootstrap=n_bootstrap,
    )
    return {
        fraction: {
            "metrics": {
                "AUROC": {
                    "value": result["macro"]["auroc"],
                    "ci": [
                        result["macro"]["ci_low"],
                        result["macro"]["ci_high"],
                    ],
                }
            },
            "num_train": result["num_train"],
        }
        for fraction, result in results.items()
    }
