"""`model.compile()`'s `"auto"` defaults against a written-out optimizer/loss.

A user who fits a `ClinCLIPBackbone` (or the Task) with their own
`model.compile()` gets the `"auto"` optimizer and loss. This script fits the
demo's model on the demo's data (`TrainingConfig()` with `DEMO_DEFAULTS` and
`--quick`'s `QUICK_OVERRIDES`: 960 IU studies with SynthCXR images at 64 px,
MiniLM with its top layer trainable) once per arm, with the same seed and
batches, and scores each on the test split: zero-shot macro AUROC, retrieval
R@5 both ways and CXR-Align Tasks A and B.

Arms:
- `auto`: `model.compile()` as it is now;
- `adamw_1e-4`: `AdamW(1e-4, weight_decay=0.1)` with
  `[SoftLabelContrastive(), GraphAlignment()]` at equal weights, the
  `"auto"` of keras_clinclip up to December 2026;
- `train`: what `clinclip train` compiles for the same run (warm-up +
  cosine schedule from `TrainingConfig`).

Run (one backend per call; the figures are in docs/results.md):

    KERAS_BACKEND=jax python benchmarks/bench_compile_defaults.py \
        --arms auto,adamw_1e-4,train --seeds 0,1 --epochs 2

Needs the IU reports and MiniLM (`make install`).
"""

import argparse
import json
import statistics
import time

import keras

from keras_clinclip.evaluation import EvaluationOptions
from keras_clinclip.evaluation.evaluate import evaluate_records
from keras_clinclip.losses import GraphAlignment
from keras_clinclip.losses import SoftLabelContrastive
from keras_clinclip.training.builders import build_losses
from keras_clinclip.training.builders import build_optimizer
from keras_clinclip.training.config import DEMO_DEFAULTS
from keras_clinclip.training.config import QUICK_OVERRIDES
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.train import build_data
from keras_clinclip.training.train import build_model


def compile_arm(model, arm, config, total_steps):
    """Compiles `model` as the arm says."""
    if arm == "auto":
        model.compile()
    elif arm == "adamw_1e-4":
        model.compile(
            optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.1),
            loss=[SoftLabelContrastive(), GraphAlignment()],
        )
    elif arm == "train":
        losses, weights = build_losses(config)
        model.compile(
            optimizer=build_optimizer(config, total_steps),
            loss=losses,
            loss_weights=weights,
        )
    else:
        raise SystemExit(f"--arms: unknown arm {arm!r}")


def scores(result):
    """The headline numbers of an `evaluate_records` result."""
    retrieval = result.get("retrieval") or {}
    tasks = (result.get("cxr_align") or {}).get("tasks", {})
    return {
        "zero-shot AUROC": result["zero_shot"]["macro"]["auroc"],
        "R@5 i2t": retrieval["image_to_text"]["R@5"],
        "R@5 t2i": retrieval["text_to_image"]["R@5"],
        "Task A": tasks["A"]["score"],
        "Task B": tasks["B"]["score"],
    }


def run_arm(arm, seed, config, data):
    keras.utils.set_random_seed(seed)
    model = build_model(config, data)
    steps = data.steps_per_epoch
    compile_arm(model, arm, config, steps * config.epochs)
    start = time.time()
    history = model.fit(
        data.train(0),
        epochs=config.epochs,
        steps_per_epoch=steps,
        verbose=0,
    )
    seconds = time.time() - start
    result = evaluate_records(
        model,
        data.preprocessor,
        data.records,
        EvaluationOptions(
            n_bootstrap=0,
            probe_fractions=(),
            localization=False,
            seed=seed,
            batch_size=config.batch_size,
        ),
    )
    row = scores(result)
    losses = history.history["loss"]
    row["first-epoch loss"] = losses[0]
    row["last-epoch loss"] = losses[-1]
    row["fit seconds"] = seconds
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="auto,adamw_1e-4,train")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    arms = [arm for arm in args.arms.split(",") if arm]
    seeds = [int(seed) for seed in args.seeds.split(",") if seed]
    results = {arm: [] for arm in arms}
    for seed in seeds:
        settings = dict(DEMO_DEFAULTS, **QUICK_OVERRIDES)
        settings.update(epochs=args.epochs, seed=seed, verbose=0)
        config = TrainingConfig(**settings)
        data = build_data(config)
        for arm in arms:
            row = run_arm(arm, seed, config, data)
            results[arm].append(row)
            print(
                json.dumps(
                    {
                        "backend": keras.backend.backend(),
                        "arm": arm,
                        "seed": seed,
                        **row,
                    }
                ),
                flush=True,
            )
    print(f"\nbackend {keras.backend.backend()}, seeds {seeds}, medians:")
    keys = list(next(iter(results.values()))[0])
    print("| arm | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for arm, rows in results.items():
        cells = [statistics.median(row[key] for row in rows) for key in keys]
        print(f"| {arm} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
