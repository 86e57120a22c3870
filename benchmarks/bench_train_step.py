"""Samples/s of `model.fit` vs a hand-written training step, per backend.

Same model (`ClinCLIPBackbone` of the demo: small ResNet + MiniLM, full
loss), same batch, same AdamW; the hand-written step is the backend's own
idiom:

- JAX: `jax.jit` of `jax.value_and_grad` over `model.stateless_call` and
  `optimizer.stateless_apply`;
- PyTorch: eager forward, `loss.backward()` (autograd), `optimizer.apply`;
- TensorFlow: `tf.function` around a `tf.GradientTape` step.

Each backend runs in its own process. Both steps are compiled first, then
timed in alternation (fit, hand, fit, hand, ...) so that a slow spell of a
shared machine hits both alike; the table gives the median samples/s of
each and the median of the per-repeat ratios fit / hand-written.

    python benchmarks/bench_train_step.py --backends tensorflow,jax,torch \
        --image_size 64 --batch_size 16 --max_length 32 --steps 10
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _batch(config, data):
    import numpy as np

    x, y = next(iter(data.train(0)))
    return (
        {k: np.asarray(v) for k, v in x.items()},
        {k: np.asarray(v) for k, v in y.items()},
    )


def _build(args):
    import keras

    from keras_clinclip.training import builders
    from keras_clinclip.training.config import TrainingConfig
    from keras_clinclip.training.optim import build_optimizer
    from keras_clinclip.training.train import build_losses

    config = TrainingConfig(
        dataset="synthetic",
        num_samples=max(4 * args.batch_size, 64),
        image_size=args.image_size,
        max_length=args.max_length,
        batch_size=args.batch_size,
        loss=args.loss,
        validate=False,
        image_encoder=args.image_encoder,
        text_encoder=args.text_encoder,
    )
    data = builders.build_training_data(config)
    x, y = _batch(config, data)
    keras.utils.set_random_seed(0)
    model = builders.build_backbone(
        config, graph_feature_dim=builders.graph_feature_dim(data.records)
    )
    losses, weights = build_losses(config)
    model.compile(
        optimizer=build_optimizer(1e-4, total_steps=10_000),
        loss=losses,
        loss_weights=weights,
    )
    return model, losses, x, y


def _fit_runner(model, x, y, autotune=False):
    import tensorflow as tf

    from keras_clinclip.data import dataset_options

    # The options of `make_dataset`, so that `fit` reads data the way it
    # does in training (`--autotune` measures tf.data's autotuning thread).
    data = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2)
    data = data.with_options(dataset_options(autotune=autotune))

    def run(steps):
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)

    return run


def _hand_runner(model, losses, x, y):
    import keras

    backend = keras.backend.backend()

    def total_loss(y_pred):
        value = 0.0
        for loss in losses:
            value = value + loss(y, y_pred)
        return value

    optimizer = model.optimizer
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        optimizer.build(model.trainable_variables)
        opt_vars = [v.value for v in optimizer.variables]

        def loss_fn(trainable, non_trainable, x):
            y_pred, non_trainable = model.stateless_call(
                trainable, non_trainable, x, training=True
            )
            return total_loss(y_pred), non_trainable

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def step(state, x):
            trainable, non_trainable, opt_vars = state
            (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x)
            trainable, opt_vars = optimizer.stateless_apply(
                opt_vars, grads, trainable
            )
            return loss, (trainable, non_trainable, opt_vars)

        state = [(trainable, non_trainable, opt_vars)]
        x = jax.tree_util.tree_map(jax.numpy.asarray, x)

        def run(steps):
            for _ in range(steps):
                loss, state[0] = step(state[0], x)
            jax.block_until_ready(loss)

    elif backend == "torch":
        import torch

        tx = {k: torch.as_tensor(v) for k, v in x.items()}

        def run(steps):
            for _ in range(steps):
                model.zero_grad()
                loss = total_loss(model(tx, training=True))
                loss.backward()
                variables = model.trainable_weights
                grads = [v.value.grad for v in variables]
                with torch.no_grad():
                    optimizer.apply(grads, variables)

    else:
        import tensorflow as tf

        variables = model.trainable_variables

        @tf.function(jit_compile=False)
        def step(x):
            with tf.GradientTape() as tape:
                loss = total_loss(model(x, training=True))
            grads = tape.gradient(loss, variables)
            optimizer.apply(grads, variables)
            return loss

        tx = {k: tf.convert_to_tensor(v) for k, v in x.items()}

        def run(steps):
            for _ in range(steps):
                loss = step(tx)
            loss.numpy()

    return run


def _interleaved(runners, steps, repeats):
    """Steps/s of each runner, timed in alternation.

    Every runner is warmed up (compiled) first; then each repeat times one
    call of every runner in turn, so that a slow spell of a shared machine
    hits both sides of a ratio alike. Returns the per-runner medians and
    the median of the per-repeat ratios of the first runner to the second.
    """
    for run in runners:
        run(2)
    rates = [[] for _ in runners]
    for _ in range(repeats):
        for run, out in zip(runners, rates):
            start = time.perf_counter()
            run(steps)
            out.append(steps / (time.perf_counter() - start))
    ratios = [a / b for a, b in zip(rates[0], rates[1])]
    return [statistics.median(r) for r in rates], statistics.median(ratios)


def worker(args):
    import keras

    model, losses, x, y = _build(args)
    fit = _fit_runner(model, x, y, autotune=args.autotune)
    model, losses, x, y = _build(args)
    hand = _hand_runner(model, losses, x, y)
    (fit_rate, hand_rate), ratio = _interleaved(
        [fit, hand], args.steps, args.repeats
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "backend": keras.backend.backend(),
                "fit": fit_rate * args.batch_size,
                "hand": hand_rate * args.batch_size,
                "ratio": ratio,
            }
        ),
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loss", default="full")
    parser.add_argument("--image_encoder", default="small_resnet")
    parser.add_argument("--text_encoder", default="minilm")
    parser.add_argument(
        "--autotune",
        action="store_true",
        help="feed fit with tf.data autotuning on (off in make_dataset)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker"]
        for name in ("image_size", "batch_size", "max_length", "steps",
                     "repeats", "loss", "image_encoder", "text_encoder"):
            command += [f"--{name}", str(getattr(args, name))]
        if args.autotune:
            command.append("--autotune")
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        line = [s for s in out.stdout.splitlines() if s.startswith("RESULT")]
        if out.returncode or not line:
            print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
            rows.append((backend, None, None, None))
            continue
        result = json.loads(line[-1][len("RESULT ") :])
        rows.append((backend, result["fit"], result["hand"], result["ratio"]))
    print(
        f"\nimage {args.image_size}px, batch {args.batch_size}, "
        f"{args.max_length} tokens, loss {args.loss}, "
        f"{args.steps} steps x {args.repeats} repeats (median), "
        f"tf.data autotune {'on' if args.autotune else 'off'}"
    )
    print(
        f"{'backend':<12}{'fit samples/s':>15}{'hand samples/s':>16}"
        f"{'fit/hand':>10}"
    )
    for backend, fit, hand, ratio in rows:
        if fit is None:
            print(f"{backend:<12}{'failed':>15}")
            continue
        print(f"{backend:<12}{fit:>15.1f}{hand:>16.1f}{ratio:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
