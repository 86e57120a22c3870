"""Full fine-tuning vs the linear probe at the same training fraction.

One seed (a single run, not a distribution): the preset's image tower is
fine-tuned (`ClinCLIPImageClassifier`, every image-side weight) and a
logistic probe is fitted on its frozen embeddings, both on the same seeded
subset of the training split (`probe.nested_subsets`), and both scored by
macro test AUROC over the findings with positives and negatives.

    KERAS_BACKEND=jax python benchmarks/bench_finetune_vs_probe.py \\
        --preset /tmp/h28demo/preset --data iu --fraction 0.1 --epochs 5

`--data` is anything `clinclip evaluate --data` takes (`iu`: the IU
X-ray reports' labels with SynthCXR images, i.e. synthetic images on a
real label table).
"""

import argparse
import json
import time

import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.evaluation.embed import embed_images
from keras_clinclip.evaluation.embed import images_of
from keras_clinclip.evaluation.evaluate import load_records
from keras_clinclip.evaluation.evaluate import select_split
from keras_clinclip.evaluation.fine_tune import fine_tune
from keras_clinclip.evaluation.fine_tune import preset_classifier
from keras_clinclip.evaluation.fine_tune import probe_rows
from keras_clinclip.evaluation.model_loading import load_preset_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--data", default="iu")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    records = load_records(args.data, args.seed, args.image_size)
    train = select_split(records, "train")
    test = select_split(records, "test")
    names = list(CHEXPERT_OBSERVATIONS)
    backbone, preprocessor = load_preset_model(args.preset)
    start = time.time()
    embed = {
        key: embed_images(backbone, *images_of(rows, preprocessor))
        for key, rows in (("train", train), ("test", test))
    }
    probe = probe_rows(
        embed["train"],
        train["labels"],
        embed["test"],
        test["labels"],
        names,
        (args.fraction,),
        args.seed,
    )[args.fraction]
    probe_seconds = time.time() - start
    start = time.time()
    tuned = fine_tune(
        preset_classifier(args.preset, args.learning_rate),
        images_of(train, preprocessor)[0],
        train["labels"],
        images_of(test, preprocessor)[0],
        test["labels"],
        names,
        "multilabel",
        (args.fraction,),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )[args.fraction]
    tune_seconds = time.time() - start
    rows = {
        "linear probe": (probe, probe_seconds),
        "full fine-tuning": (tuned, tune_seconds),
    }
    print(f"data {args.data}, fraction {args.fraction:g}, seed {args.seed}")
    print("| method | training images | macro test AUROC | seconds |")
    print("|---|---|---|---|")
    for method, (result, seconds) in rows.items():
        auroc = result["metrics"]["AUROC"]["value"]
        print(
            f"| {method} | {result['num_train']} | {auroc:.3f} | "
            f"{seconds:.0f} |"
        )
    print(
        json.dumps(
            {k: v[0]["metrics"]["AUROC"]["value"] for k, v in rows.items()}
        )
    )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
