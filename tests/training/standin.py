"""A tiny contrastive model and data for the engine/resume tests.

The engine tests (multi-worker, resume) check the training machinery, not
the towers, so they use two Dense towers on fixed random features with the
real `SoftLabelContrastive` loss. Run as a script, it trains under the
engine named by `--engine` and writes the final weights to `--dump`.

    python tests/training/standin.py --engine tf-multiworker --dump w.npz
"""

import argparse
import os
import sys
import time

N_STUDIES = 48
IMAGE_DIM, TEXT_DIM, EMBED_DIM, N_LABELS = 8, 6, 4, 14


def make_arrays(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.choice(
        [1.0, 0.0, -1.0, np.nan],
        size=(N_STUDIES, N_LABELS),
        p=[0.2, 0.3, 0.1, 0.4],
    ).astype("float32")
    latent = rng.normal(size=(N_STUDIES, 5)).astype("float32")
    image = latent @ rng.normal(size=(5, IMAGE_DIM)).astype("float32")
    text = latent @ rng.normal(size=(5, TEXT_DIM)).astype("float32")
    return {"image": image, "text": text}, {"labels": labels}


def make_dataset(batch_size, seed=0):
    """One epoch of global batches, shuffled with a fixed seed."""
    import tensorflow as tf

    x, y = make_arrays(seed)
    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(N_STUDIES, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
    )


def make_model(seed=0):
    import keras

    from keras_clinclip.models import ContrastiveModel

    class Scale(keras.layers.Layer):
        def build(self, shape):
            self.t = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(2.0),
                name="logit_scale",
            )

        def call(self, x):
            return keras.ops.exp(self.t) + 0.0 * x[:, :1]

    image = keras.Input((IMAGE_DIM,), name="image")
    text = keras.Input((TEXT_DIM,), name="text")
    init = keras.initializers.GlorotUniform(seed=seed)
    hidden = keras.layers.Dense(16, "relu", kernel_initializer=init)
    outputs = {
        "image_embeddings": keras.layers.Dense(
            EMBED_DIM, kernel_initializer=init
        )(hidden(image)),
        "text_embeddings": keras.layers.Dense(
            EMBED_DIM, kernel_initializer=init
        )(keras.layers.Dense(16, "relu", kernel_initializer=init)(text)),
        "logit_scale": Scale()(image),
    }
    return ContrastiveModel({"image": image, "text": text}, outputs)


def make_losses():
    from keras_clinclip.losses import SoftLabelContrastive

    return [SoftLabelContrastive(sources=("text", "clinical"))], [1.0]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--engine",
        default="single",
        choices=["single", "tf-multiworker", "tf-mirrored", "torch-ddp"],
    )
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--dump", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps_per_epoch", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--save_freq", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from keras_clinclip.backend import engines
    from keras_clinclip.training.config import TrainingConfig
    from keras_clinclip.training.train import train
    from keras_clinclip.training.training_data import TrainingData

    if args.engine == "tf-multiworker":
        setup = engines.tf_setup()
    elif args.engine == "tf-mirrored":
        setup = engines.tf_setup(num_cpu_devices=2)
    elif args.engine == "torch-ddp":
        setup = engines.torch_setup()
    else:
        setup = None
    config = TrainingConfig(
        dataset="standin",
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        learning_rate=1e-2,
        warmup_ratio=0.2,
        save_freq=args.save_freq,
        tensorboard=False,
        validate=False,
        output_dir=args.output_dir,
        verbose=0,
    )
    callbacks = []
    if args.sleep:

        class Slow(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                time.sleep(args.sleep)

        callbacks.append(Slow())
    # A factory, so that each `fit` call gets a fresh pipeline (tf.data's
    # reshuffle seeds are shared by the iterators of one dataset object).
    data = TrainingData(
        train=lambda start: make_dataset(args.batch_size).repeat().skip(start),
        steps_per_epoch=args.steps_per_epoch,
    )
    result = train(
        config,
        setup=setup,
        model=make_model,
        data=data,
        losses=make_losses(),
        callbacks=callbacks,
        write_preset=False,
    )
    if args.dump:
        # Under torchrun every rank dumps: "{rank}" in the path names it.
        args.dump = args.dump.format(rank=os.environ.get("RANK", "0"))
        weights = [
            keras.ops.convert_to_numpy(w)
            for w in result.model.trainable_weights
        ]
        arrays = {f"arr_{i}": w for i, w in enumerate(weights)}
        np.savez(
            args.dump, steps=result.steps, start=result.start_step, **arrays
        )
    print(f"STEPS {result.steps} START {result.start_step}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    sys.exit(main())
