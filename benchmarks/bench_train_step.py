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

`--compare clip,full` times the `fit` steps of two variants instead
(each its own model and batch, built as `clinclip train` builds them), in
alternation in one process, and prints the median per-repeat ratio of the
second's step time to the first's. A variant is a loss preset with an
optional `:capacity` (`full:none` encodes every negation slot,
`full:auto` the training default). `--data iu` takes the first training
batch of the embedded IU data (`keras_clinclip.data.iu_xray()`, cached
after a first build of 1-5 min), with its real share of valid negations,
instead of the synthetic batch in which every negation slot is valid
(`--data synthetic,iu` runs both); `--num_negations` sets K,
`--negation_capacity` the default capacity (`TrainingConfig`'s: `auto`)
and `--random_batches` turns the negation-balanced batches off. The
report gives, for the capacity used, the share of a pass's batches that
overflow and the share of valid negations dropped.

    python benchmarks/bench_train_step.py --backends tensorflow,jax,torch \
        --image_size 64 --batch_size 32 --max_length 64 --steps 2 \
        --repeats 7 --compare clip,full --data iu --num_negations 1

    python benchmarks/bench_train_step.py --backends jax --data synthetic \
        --image_size 64 --batch_size 32 --max_length 64 --steps 2 \
        --repeats 7 --compare full:none,full:auto
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


def overflow_share(mask, batch_size, capacity, balanced=False, seed=0):
    """Shares of batches overflowing and of valid slots dropped.

    Args:
        mask: `(N, K)` 0/1 negation mask of the training studies, in the
            pipeline's row order (`dataset.negation_mask`).
        batch_size: studies per batch (remainder dropped).
        capacity: rows of the negation buffer (int), or a fraction of
            `batch_size * K` (float).
        balanced: negation-balanced batches (`balance_negations`) instead
            of a random shuffle.
        seed: seed of the shuffle.

    Returns:
        `(batches overflowing, valid slots dropped)` as fractions.
    """
    import numpy as np

    from keras_clinclip.data import balance
    from keras_clinclip.layers.negation_packing import buffer_rows

    counts = balance.slot_counts(mask)
    capacity = buffer_rows(capacity, batch_size * np.shape(mask)[1])
    if balanced:
        slots = balance.balanced_slots(counts)
    else:
        slots = counts[np.random.default_rng(seed).permutation(len(counts))]
    batches = len(slots) // batch_size
    per_batch = slots[: batches * batch_size].reshape(batches, -1).sum(1)
    dropped = np.maximum(per_batch - capacity, 0)
    return float(np.mean(dropped > 0)), float(dropped.sum() / per_batch.sum())


def _build(args, loss=None, capacity=None):
    import keras

    from keras_clinclip.models.clinclip_optimizer import build_optimizer
    from keras_clinclip.training import builders
    from keras_clinclip.training.builders import build_losses
    from keras_clinclip.training.config import TrainingConfig
    from keras_clinclip.training.train import build_model

    iu = args.data == "iu"
    config = TrainingConfig(
        dataset="iu_xray" if iu else "synthetic",
        num_samples=0 if iu else max(4 * args.batch_size, 64),
        num_negations=args.num_negations,
        negation_capacity=capacity or args.negation_capacity,
        balance_negations=not args.random_batches,
        image_size=args.image_size,
        max_length=args.max_length,
        batch_size=args.batch_size,
        loss=loss or args.loss,
        validate=False,
        image_encoder=args.image_encoder,
        text_encoder=args.text_encoder,
    )
    data = builders.build_training_data(config)
    x, y = _batch(config, data)
    keras.utils.set_random_seed(0)
    model = build_model(config, data)
    info = {}
    if "negation_mask" in y:
        info["valid_share"] = float(y["negation_mask"].mean())
        capacity = getattr(model, "negation_capacity", None)
        if capacity is not None:
            info["capacity"] = capacity
            info["overflow_batches"], info["dropped"] = overflow_share(
                data.negation_mask,
                args.batch_size,
                capacity,
                balanced=config.balance_negations,
            )
    losses, weights = build_losses(config)
    model.compile(
        optimizer=build_optimizer(1e-4, total_steps=10_000),
        loss=losses,
        loss_weights=weights,
    )
    return model, losses, x, y, info


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

    from keras_clinclip.layers import mask_dropped_negations

    backend = keras.backend.backend()

    def total_loss(y_pred):
        # What `compute_loss` does: slots dropped by an overflow of the
        # negation buffer are masked.
        y_true = mask_dropped_negations(y, y_pred)
        value = 0.0
        for loss in losses:
            value = value + loss(y_true, y_pred)
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


def compare_worker(args):
    """Times the fit steps of two loss presets in alternation."""

    names = args.compare.split(",")
    if len(names) != 2:
        raise ValueError(
            f"`--compare` takes two variants `preset[:capacity]`, e.g. "
            f"clip,full or full:none,full:auto; got {args.compare!r}."
        )
    runners, infos = [], []
    for name in names:
        loss, _, capacity = name.partition(":")
        model, _, x, y, info = _build(args, loss=loss, capacity=capacity)
        runners.append(_fit_runner(model, x, y, autotune=args.autotune))
        infos.append(info)
    (rate_a, rate_b), ratio = _interleaved(runners, args.steps, args.repeats)
    # The ratio is the step time of b over the step time of a.
    _print_result(
        a=rate_a * args.batch_size,
        b=rate_b * args.batch_size,
        ratio=ratio,
        info=infos[1],
    )


def _print_result(**fields):
    import keras

    fields = dict(backend=keras.backend.backend(), **fields)
    print("RESULT " + json.dumps(fields), flush=True)


def worker(args):

    if args.compare:
        return compare_worker(args)
    model, losses, x, y, _ = _build(args)
    fit = _fit_runner(model, x, y, autotune=args.autotune)
    model, losses, x, y, _ = _build(args)
    hand = _hand_runner(model, losses, x, y)
    (fit_rate, hand_rate), ratio = _interleaved(
        [fit, hand], args.steps, args.repeats
    )
    _print_result(
        fit=fit_rate * args.batch_size,
        hand=hand_rate * args.batch_size,
        ratio=ratio,
    )


def _run_worker(args, backend, data):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, __file__, "--worker", "--data", data]
    for name in (
        "image_size",
        "batch_size",
        "max_length",
        "steps",
        "repeats",
        "loss",
        "image_encoder",
        "text_encoder",
        "num_negations",
        "negation_capacity",
        "compare",
    ):
        value = getattr(args, name)
        if value not in (None, ""):
            command += [f"--{name}", str(value)]
    if args.autotune:
        command.append("--autotune")
    if args.random_batches:
        command.append("--random_batches")
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    line = [s for s in out.stdout.splitlines() if s.startswith("RESULT")]
    if out.returncode or not line:
        print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
        return None
    return json.loads(line[-1][len("RESULT ") :])


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
        "--data",
        default="synthetic",
        help="synthetic (every negation slot valid), iu (the embedded IU "
        "data), or both comma-separated",
    )
    parser.add_argument(
        "--compare",
        default=None,
        help="two variants preset[:capacity], e.g. clip,full or "
        "full:none,full:auto: time their fit steps in alternation and "
        "print the step-time ratio second / first",
    )
    parser.add_argument("--num_negations", type=int, default=1)
    parser.add_argument(
        "--negation_capacity",
        default="auto",
        help="TrainingConfig.negation_capacity: auto (default: the most "
        "valid slots of a batch), none (every slot encoded), a fraction "
        "of batch x K or a row count",
    )
    parser.add_argument(
        "--random_batches",
        action="store_true",
        help="random batches instead of negation-balanced ones "
        "(balance_negations=False)",
    )
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
    for data in args.data.split(","):
        for backend in args.backends.split(","):
            result = _run_worker(args, backend, data)
            # Each row as it comes: a whole table takes long on a busy CPU.
            print(data, backend, json.dumps(result), flush=True)
            rows.append((data, backend, result))
    print(
        f"\nimage {args.image_size}px, batch {args.batch_size}, "
        f"{args.max_length} tokens, K = {args.num_negations}, "
        f"{args.steps} steps x {args.repeats} repeats (median), "
        f"tf.data autotune {'on' if args.autotune else 'off'}"
    )
    if args.compare:
        first, second = args.compare.split(",")
        print(
            f"{'data':<10}{'backend':<12}{first + ' samples/s':>22}"
            f"{second + ' samples/s':>22}{'step ratio':>12}"
            f"{'valid':>7}{'capacity':>10}{'overflow':>10}{'dropped':>9}"
        )
        for data, backend, result in rows:
            if result is None:
                print(f"{data:<10}{backend:<12}{'failed':>22}")
                continue
            info = result["info"]
            extra = (
                f"{info.get('valid_share', float('nan')):>7.2f}"
                f"{str(info.get('capacity', '-')):>10}"
            )
            if "overflow_batches" in info:
                extra += (
                    f"{info['overflow_batches']:>10.3f}{info['dropped']:>9.4f}"
                )
            print(
                f"{data:<10}{backend:<12}{result['a']:>22.1f}"
                f"{result['b']:>22.1f}{result['ratio']:>12.2f}" + extra
            )
        return 0
    print(
        f"{'data':<10}{'backend':<12}{'fit samples/s':>15}"
        f"{'hand samples/s':>16}{'fit/hand':>10}"
    )
    for data, backend, result in rows:
        if result is None:
            print(f"{data:<10}{backend:<12}{'failed':>15}")
            continue
        print(
            f"{data:<10}{backend:<12}{result['fit']:>15.1f}"
            f"{result['hand']:>16.1f}{result['ratio']:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
