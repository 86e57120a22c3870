"""`clinclip benchmark`: every protocol that applies to each dataset.

`run_benchmark(backbone, preprocessor, datasets)` takes records dicts (the
loader contract of `docs/architecture.md`), decides from their columns
which protocols apply, and returns one row per dataset x protocol with
each metric's value and 95% bootstrap interval:

- `class_labels` (or `labels`): zero-shot binary (`zero_shot_binary`);
- one positive per row of `class_labels` (CheXpert 5x200, COVIDx):
  zero-shot multi-class, mean and max (`zero_shot_multiclass`);
- a `validate` split: temperature scaling (`calibration`);
- non-empty `report`s: image-to-text retrieval (`retrieval`);
- a `train` split: the linear probe, and fine-tuning given a preset and
  epochs (`fine_tune`);
- `boxes`, `masks` or `mask_rle`: localisation (`region_localization`).

A dataset that fails is reported (`errors`) and the others still run.
`write_benchmark` writes `benchmark.md`, `benchmark.json` and the plots
(ROC, reliability, localisation examples).
"""

import pathlib
import sys
import traceback

import numpy as np
import yaml

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.data import sources
from keras_clinclip.evaluation.benchmark_report import format_benchmark_table
from keras_clinclip.evaluation.benchmark_report import write_benchmark
from keras_clinclip.evaluation.calibration import DEFAULT_MODE
from keras_clinclip.evaluation.calibration import temperature_scaling
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.embed import images_of
from keras_clinclip.evaluation.evaluate import select_split
from keras_clinclip.evaluation.fine_tune import fine_tune
from keras_clinclip.evaluation.fine_tune import preset_classifier
from keras_clinclip.evaluation.fine_tune import probe_rows
from keras_clinclip.evaluation.model_loading import load_preset_model
from keras_clinclip.evaluation.region_localization import region_cases
from keras_clinclip.evaluation.region_localization import region_localization
from keras_clinclip.evaluation.retrieval import image_to_text_retrieval
from keras_clinclip.evaluation.retrieval import report_text
from keras_clinclip.evaluation.similarity_maps import localization_maps
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.evaluation.zero_shot_binary import binary_zero_shot
from keras_clinclip.evaluation.zero_shot_binary import dataset_prompts
from keras_clinclip.evaluation.zero_shot_multiclass import (
    CHEXPERT_5X200_CLASSES,
)
from keras_clinclip.evaluation.zero_shot_multiclass import (
    chexpert_5x200_prompts,
)
from keras_clinclip.evaluation.zero_shot_multiclass import multiclass_zero_shot
from keras_clinclip.evaluation.zero_shot_multiclass import sample_prompts

MAP_GRID = (32, 32)


def _labels(records):
    """`(names, (N, L) labels)`: the dataset's own, else CheXpert-14."""
    if "class_labels" in records and "class_names" in records:
        return list(records["class_names"]), np.asarray(
            records["class_labels"], np.float64
        )
    from_chexpert = np.asarray(records["labels"], np.float64)
    return list(CHEXPERT_OBSERVATIONS), from_chexpert


def _is_multiclass(labels):
    positives = np.nan_to_num(labels) == 1
    return labels.shape[1] > 2 and bool(np.all(positives.sum(axis=1) == 1))


# Columns that describe the dataset, not one row each.
_DATASET_COLUMNS = ("class_names",)


def _split(records, split):
    """The rows of one split (None when there are none)."""
    if "split" not in records:
        return None
    shared = {k: records[k] for k in _DATASET_COLUMNS if k in records}
    rows = select_split(
        {k: v for k, v in records.items() if k not in shared}, split
    )
    if not len(rows["id"]):
        return None
    rows.update(shared)
    return rows


class _Runner:
    """The per-dataset work, sharing embeddings between protocols."""

    def __init__(self, backbone, preprocessor, options, log):
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.options = options
        self.log = log
        self.scale = getattr(backbone, "logit_scale", 100.0)
        if not isinstance(self.scale, (int, float)):
            self.scale = 100.0

    def embed(self, records):
        images, converter = images_of(records, self.preprocessor)
        return embed_images(
            self.backbone, images, converter, self.options["batch_size"]
        )

    def prompts(self, texts_by_class):
        texts = [t for texts in texts_by_class for t in texts]
        embeddings = embed_texts(
            self.backbone, texts, self.preprocessor, self.options["batch_size"]
        )
        out, start = [], 0
        for texts in texts_by_class:
            out.append(embeddings[start : start + len(texts)])
            start += len(texts)
        return out

    def run(self, name, kind, records):
        opts = self.options
        test = _split(records, "test") or records
        names, labels = _labels(test)
        test_emb = self.embed(test)
        rows, extras = [], {"dataset": name}
        boot = {"n_bootstrap": opts["n_bootstrap"], "seed": opts["seed"]}

        def add(protocol, result, **notes):
            rows.append(
                {
                    "dataset": name,
                    "protocol": protocol,
                    "source": result.get("source", ""),
                    "metrics": result["metrics"],
                    **notes,
                }
            )
            self.log(f"  {name}: {protocol} done")

        # --- Zero-shot ---
        multiclass = _is_multiclass(labels)
        pairs = dataset_prompts(kind, names, opts.get("prompts"))
        _, positives, negatives = embed_prompt_pairs(
            self.backbone, self.preprocessor, pairs, opts["batch_size"]
        )
        binary = binary_zero_shot(
            test_emb, labels, positives, negatives, names, self.scale, **boot
        )
        add("zero-shot binary", binary)
        extras["roc"] = (labels, binary["scores"], names)
        if multiclass:
            self._multiclass(kind, names, labels, test_emb, add, boot)
        # --- Calibration ---
        val = _split(records, "validate")
        if val is not None:
            val_names, val_labels = _labels(val)
            val_binary = binary_zero_shot(
                self.embed(val),
                val_labels,
                positives,
                negatives,
                val_names,
                self.scale,
                n_bootstrap=0,
            )
            calibrated = temperature_scaling(
                val_binary["logits"],
                val_labels,
                binary["logits"],
                labels,
                names,
            )
            metrics = {"ECE": {"value": calibrated["before"]["macro"]["ece"]}}
            for mode, label in (
                ("per_finding", "ECE (T per finding)"),
                ("shared", "ECE (T shared)"),
                ("per_finding_bias", "ECE (T, b per finding)"),
            ):
                ece = calibrated[mode]["calibration"]["macro"]["ece"]
                metrics[label] = {"value": ece}
            for cell in metrics.values():
                cell["ci"] = [float("nan"), float("nan")]
            add(
                "temperature scaling",
                {
                    "source": "Guo et al. 2017, fitted on validate",
                    "metrics": metrics,
                },
            )
            extras["reliability"] = calibrated[DEFAULT_MODE]["calibration"]
        # --- Retrieval ---
        reports = [report_text(r) for r in test.get("report", [])]
        if sum(bool(r) for r in reports) >= 2:
            keep = [i for i, r in enumerate(reports) if r]
            text_emb = embed_texts(
                self.backbone,
                [reports[i] for i in keep],
                self.preprocessor,
                opts["batch_size"],
            )
            add(
                "image-to-text retrieval",
                image_to_text_retrieval(
                    test_emb[keep],
                    text_emb,
                    [reports[i] for i in keep],
                    **{
                        "n_bootstrap": boot["n_bootstrap"],
                        "seed": boot["seed"],
                    },
                ),
            )
        # --- Training: linear probe and fine-tuning ---
        train = _split(records, "train")
        if train is not None and opts["fractions"]:
            self._training(
                train, test, names, labels, test_emb, multiclass, add
            )
        # --- Localisation ---
        if any(key in test for key in ("boxes", "masks", "mask_rle")):
            extras["localization"] = self._localize(
                records, test, pairs, names, add, boot
            )
        return rows, extras

    def _multiclass(self, kind, names, labels, test_emb, add, boot):
        if sorted(names) == sorted(CHEXPERT_5X200_CLASSES):
            every = chexpert_5x200_prompts()
            every = {n: every[n] for n in names}
            sets = {
                "mean": every,
                "max": sample_prompts(every, 5, boot["seed"]),
            }
        else:
            pairs = dataset_prompts(kind, names, self.options.get("prompts"))
            positive = {n: p["positive"] for n, p in pairs.items()}
            sets = {"mean": positive, "max": positive}
        for ensemble, texts in sets.items():
            result = multiclass_zero_shot(
                test_emb,
                labels,
                self.prompts([texts[n] for n in names]),
                names,
                ensemble,
                **boot,
            )
            add(f"zero-shot multi-class ({ensemble})", result)

    def _training(self, train, test, names, labels, test_emb, multiclass, add):
        opts = self.options
        _, train_labels = _labels(train)
        probe = probe_rows(
            self.embed(train),
            train_labels,
            test_emb,
            labels,
            names,
            opts["fractions"],
            opts["seed"],
            n_bootstrap=opts["n_bootstrap"],
        )
        for fraction, result in probe.items():
            add(
                f"linear probe {fraction:.0%}",
                {"source": "logistic head, frozen", **result},
                num_train=result["num_train"],
            )
        if opts.get("preset") is None or not opts.get("fine_tune_epochs"):
            return
        problem = (
            "multiclass"
            if multiclass
            else ("binary" if len(names) == 1 else "multilabel")
        )
        preset_make = preset_classifier(opts["preset"])

        def make(num_classes, problem):
            task = preset_make(num_classes, problem)
            if "image" not in train:  # image files come converted
                task.preprocessor = None
            return task

        train_images, _ = images_of(train, self.preprocessor)
        test_images, _ = images_of(test, self.preprocessor)
        tuned = fine_tune(
            make,
            train_images,
            train_labels,
            test_images,
            labels,
            names,
            problem,
            opts["fractions"],
            epochs=opts["fine_tune_epochs"],
            batch_size=opts["batch_size"],
            seed=opts["seed"],
            n_bootstrap=opts["n_bootstrap"],
        )
        for fraction, result in tuned.items():
            add(
                f"fine-tuning {fraction:.0%}",
                {"source": "ClinCLIPImageClassifier", **result},
                num_train=result["num_train"],
            )

    def _localize(self, records, test, pairs, names, add, boot):
        found = {}
        for split, rows in (
            ("validate", _split(records, "validate")),
            ("test", test),
        ):
            if rows is None:
                continue
            cases = region_cases(rows, MAP_GRID, names)
            if not cases["index"]:
                continue
            images, _ = images_of(rows, self.preprocessor)
            texts = [pairs[names[j]]["positive"][0] for j in cases["label"]]
            maps = localization_maps(
                self.backbone,
                self.preprocessor,
                images[cases["index"]],
                texts,
                output_size=MAP_GRID,
            )["maps"]
            found[split] = (maps, cases["masks"], images[cases["index"]])
        if "test" not in found:
            return None
        val = found.get("validate", (None, None, None))
        maps, masks, images = found["test"]
        add(
            "localisation",
            region_localization(maps, masks, val[0], val[1], **boot),
        )
        return {"images": images[:4], "maps": maps[:4], "masks": masks[:4]}


def dataset_kind(spec):
    """The dataset's short name from a `NAME=SPEC` or `NAME:ROOT` string.

    Example:
    >>> dataset_kind("rsna:/data/rsna"), dataset_kind("siim=/x/s.npz")
    ('rsna', 'siim')
    >>> dataset_kind("/fixtures/chexpert-5x200.npz")
    'chexpert-5x200'
    """
    spec = str(spec)
    if "=" in spec:
        return spec.split("=", 1)[0].lower()
    path = pathlib.Path(spec)
    if ":" in spec and not path.exists():
        return spec.split(":", 1)[0].lower()
    return path.name.split(".")[0].lower()


def run_benchmark(
    backbone,
    preprocessor,
    datasets,
    n_bootstrap=1000,
    seed=0,
    batch_size=32,
    fractions=(0.01, 0.1, 1.0),
    preset=None,
    fine_tune_epochs=0,
    prompts=None,
    log=print,
):
    """Every applicable protocol on each dataset; failures are recorded.

    Args:
        backbone: a `ClinCLIPBackbone`.
        preprocessor: its `ClinCLIPPreprocessor`.
        datasets: `{name: records}` or `{name: spec}` (a spec string is
            read with `data.sources.load_source`, after a `NAME=` prefix).
        n_bootstrap: resamples of the 95% intervals.
        seed: bootstrap, subset and prompt-sampling seed.
        batch_size: images or texts per model call.
        fractions: training fractions of the probe and fine-tuning.
        preset: the preset directory (needed for fine-tuning).
        fine_tune_epochs: epochs of fine-tuning (0: no fine-tuning).
        prompts: per-label prompt overrides.
        log: progress function (`print` by default).

    Returns:
        `{"rows": [...], "errors": {name: message}, "extras": {name: ...}}`.
    """
    options = {
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "batch_size": batch_size,
        "fractions": tuple(fractions),
        "preset": preset,
        "fine_tune_epochs": fine_tune_epochs,
        "prompts": prompts,
    }
    runner = _Runner(backbone, preprocessor, options, log)
    result = {"rows": [], "errors": {}, "extras": {}}
    for k, (name, records) in enumerate(datasets.items(), start=1):
        log(f"[{k}/{len(datasets)}] {name}")
        try:
            if not isinstance(records, dict):
                spec = str(records)
                records = sources.load_source(spec.split("=", 1)[-1])
            rows, extras = runner.run(name, dataset_kind(name), records)
        except Exception as error:  # noqa: BLE001 - reported, others run
            message = f"{type(error).__name__}: {error}"
            result["errors"][name] = message
            log(f"  {name} FAILED: {message}")
            traceback.print_exc(file=sys.stderr)
            continue
        result["rows"].extend(rows)
        result["extras"][name] = extras
    return result


def read_config(path):
    """`{name: spec}` from a JSON or YAML file `{"datasets": {...}}`.

    Example:
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "b.json")
    >>> _ = open(p, "w").write('{"datasets": {"rsna": "/data/rsna"}}')
    >>> read_config(p)
    {'rsna': '/data/rsna'}
    """
    data = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise ValueError(
            f"{path}: a benchmark config maps 'datasets' to {{name: spec}}, "
            'e.g. {"datasets": {"rsna": "rsna:/data/rsna"}}'
        )
    return {str(k): str(v) for k, v in data["datasets"].items()}


def run(args):
    """`clinclip benchmark`: parse, run, write; 1 if a dataset failed."""
    datasets = {}
    if args.config:
        datasets.update(read_config(args.config))
    for spec in args.datasets:
        datasets[dataset_kind(spec) if "=" in spec else spec] = spec
    backbone, preprocessor = load_preset_model(args.preset)
    result = run_benchmark(
        backbone,
        preprocessor,
        datasets,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        batch_size=args.batch_size,
        fractions=args.fractions,
        preset=args.preset,
        fine_tune_epochs=args.fine_tune_epochs,
    )
    path = write_benchmark(args.output_dir, result, figures=args.plots)
    print(format_benchmark_table(result["rows"]))
    print(f"wrote {path}")
    if result["errors"]:
        print(
            f"{len(result['errors'])} of {len(datasets)} datasets failed: "
            + ", ".join(result["errors"]),
            file=sys.stderr,
        )
        return 1
    return 0
