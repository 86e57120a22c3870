"""Benchmark of the losses: forward+backward time and peak memory.

For each backend (each in a fresh subprocess), times forward+backward (the
gradient with respect to the embeddings) at N in {256, 1024, 4096}, d = 512:

  (a) our plain CLIP: `SoftLabelContrastive(sources=())`;
  (b) the full loss: text + clinical + graph soft targets, K = 1 negated
      report per study (`negatives="batch"`);
  (b') the same with `negatives="own"` (each image's own negation only);
  (c) a hand-written InfoNCE in the backend's own array library
      (`tf.function` + `GradientTape`; `jax.jit(jax.value_and_grad)`;
      torch autograd).

(a) and (b) are compiled the way Keras's `fit` compiles them on that backend
(`tf.function`, `jax.jit`, torch eager). Medians of `--repeats` runs after
one warm-up, the variants timed in alternation (a, b, b', c, a, ...), ratios
from the same run.

Peak memory at N = 16384, d = 256: one fresh process per (backend, variant)
runs one forward+backward of the loss, unchunked and with `--chunk-size`,
and reports the growth of the process's peak resident memory (VmHWM in
/proc/self/status, which sees every allocator: TF's, XLA's and torch's, that
tracemalloc cannot) over the resident memory measured just before the call,
after imports and inputs. It also checks that both give the same value.

Usage:
    python benchmarks/bench_losses.py            # the full run (~10 min)
    python benchmarks/bench_losses.py --quick    # N <= 1024, memory N=4096
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")


def _rss_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _batch(n, d, k, c=14, dg=64, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.choice(
        [1.0, 0.0, -1.0, np.nan], size=(n, c), p=[0.2, 0.5, 0.1, 0.2]
    )
    y_true = {
        "labels": labels.astype("float32"),
        "negation_mask": np.ones((n, k), "float32"),
    }
    y_pred = {
        "image_embeddings": rng.normal(size=(n, d)).astype("float32"),
        "text_embeddings": rng.normal(size=(n, d)).astype("float32"),
        "negation_embeddings": rng.normal(size=(n, k, d)).astype("float32"),
        "graph_embeddings": rng.normal(size=(n, dg)).astype("float32"),
        "logit_scale": np.float32(14.3),
    }
    return y_true, y_pred


def _our_step(backend, loss, y_true, y_pred, keys):
    """A compiled forward+backward of `loss` w.r.t. the `keys` embeddings."""
    import keras

    fixed = {k: v for k, v in y_pred.items() if k not in keys}
    y_true = {k: keras.ops.convert_to_tensor(v) for k, v in y_true.items()}
    fixed = {k: keras.ops.convert_to_tensor(v) for k, v in fixed.items()}
    args = [keras.ops.convert_to_tensor(y_pred[k]) for k in keys]

    def value(*xs):
        return loss(y_true, dict(fixed, **dict(zip(keys, xs))))

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                out = value(*xs)
            return out, tape.gradient(out, xs)

        def run():
            return [t.numpy() for t in tf.nest.flatten(step(*args))]

        # Trace (not run) ahead, so that a memory probe sees the run only.
        run.compile = lambda: step.get_concrete_function(*args)
        return run
    if backend == "jax":
        import jax

        step = jax.jit(
            jax.value_and_grad(value, argnums=tuple(range(len(args))))
        )
        compiled = []

        def run():
            fn = compiled[0] if compiled else step
            return jax.block_until_ready(fn(*args))

        run.compile = lambda: compiled.append(step.lower(*args).compile())
        return run

    def step():
        xs = [a.detach().requires_grad_(True) for a in args]
        out = value(*xs)
        out.backward()
        return out.detach(), [x.grad for x in xs]

    step.compile = lambda: None
    return step


def _native_step(backend, y_pred):
    """Hand-written CLIP InfoNCE forward+backward in the backend's library."""
    import numpy as np

    v0 = y_pred["image_embeddings"]
    u0 = y_pred["text_embeddings"]
    scale = float(y_pred["logit_scale"])
    n = len(v0)
    if backend == "tensorflow":
        import tensorflow as tf

        v, u = tf.constant(v0), tf.constant(u0)
        labels = tf.range(n)

        @tf.function
        def step(v, u):
            with tf.GradientTape() as tape:
                tape.watch([v, u])
                vn = tf.math.l2_normalize(v, axis=-1)
                un = tf.math.l2_normalize(u, axis=-1)
                logits = scale * tf.matmul(vn, un, transpose_b=True)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits
                loss = 0.5 * (
                    tf.reduce_mean(ce(labels, logits))
                    + tf.reduce_mean(ce(labels, tf.transpose(logits)))
                )
            return loss, tape.gradient(loss, [v, u])

        return lambda: [t.numpy() for t in tf.nest.flatten(step(v, u))]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def loss(v, u):
            vn = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
            un = u / jnp.linalg.norm(u, axis=-1, keepdims=True)
            logits = scale * vn @ un.T
            idx = jnp.arange(n)
            a = jax.nn.log_softmax(logits, axis=-1)[idx, idx]
            b = jax.nn.log_softmax(logits, axis=0)[idx, idx]
            return -0.5 * (a.mean() + b.mean())

        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        v, u = jnp.asarray(v0), jnp.asarray(u0)
        return lambda: jax.block_until_ready(step(v, u))
    import torch
    import torch.nn.functional as F

    labels = torch.arange(n)

    def step():
        v = torch.tensor(np.asarray(v0), requires_grad=True)
        u = torch.tensor(np.asarray(u0), requires_grad=True)
        logits = scale * F.normalize(v, dim=-1) @ F.normalize(u, dim=-1).T
        loss = 0.5 * (
            F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)
        )
        loss.backward()
        return loss.detach(), v.grad, u.grad

    return step


def _median_times(steps, repeats):
    """Median seconds of each step, timed in alternation after a warm-up.

    Every step is compiled and run once first; then each repeat runs every
    step in turn, so that a slow spell of a shared machine hits all the
    variants of a ratio alike.
    """
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def worker_time(backend, sizes, d, repeats):
    from keras_clinclip.losses import SoftLabelContrastive

    results = []
    plain = SoftLabelContrastive(sources=())
    full = SoftLabelContrastive(sources=("text", "clinical", "graph"))
    own = SoftLabelContrastive(
        sources=("text", "clinical", "graph"), negatives="own"
    )
    with_negations = (
        "image_embeddings",
        "text_embeddings",
        "negation_embeddings",
    )
    for n in sizes:
        y_true, y_pred = _batch(n, d, k=1)
        plain_pred = {
            k: v for k, v in y_pred.items() if k != "negation_embeddings"
        }
        steps = {
            "a_plain": _our_step(
                backend,
                plain,
                y_true,
                plain_pred,
                ("image_embeddings", "text_embeddings"),
            ),
            "b_full": _our_step(backend, full, y_true, y_pred, with_negations),
            "b_own": _our_step(backend, own, y_true, y_pred, with_negations),
            "c_native": _native_step(backend, y_pred),
        }
        row = {"backend": backend, "n": n, "d": d}
        row.update(_median_times(steps, repeats))
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


def worker_memory(backend, n, d, chunk_size, variant):
    import numpy as np

    from keras_clinclip.losses import SoftLabelContrastive

    y_true, y_pred = _batch(n, d, k=1)
    loss = SoftLabelContrastive(
        sources=("text", "clinical", "graph"),
        chunk_size=chunk_size if variant == "chunked" else None,
    )
    step = _our_step(
        backend,
        loss,
        y_true,
        y_pred,
        ("image_embeddings", "text_embeddings", "negation_embeddings"),
    )
    step.compile()
    before = _rss_kib("VmRSS")
    start = time.perf_counter()
    out = step()
    seconds = time.perf_counter() - start
    peak = _rss_kib("VmHWM")
    value = out[0]
    if hasattr(value, "detach"):
        value = value.detach()
    value = float(np.asarray(value))
    row = {
        "backend": backend,
        "variant": variant,
        "n": n,
        "d": d,
        "chunk_size": chunk_size,
        "peak_growth_mib": (peak - before) / 1024,
        "seconds": seconds,
        "value": value,
    }
    print(json.dumps(row), flush=True)


def _spawn(args, timeout):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    env["KERAS_BACKEND"] = args[args.index("--backend") + 1]
    # Large blocks come from mmap and go back to the system when freed, so
    # the resident-set peak follows the live memory (no heap hoarding).
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    try:
        result = subprocess.run(
            [sys.executable, os.path.abspath(__file__), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout} s", "args": args}]
    rows = [
        json.loads(line)
        for line in result.stdout.splitlines()
        if line.startswith("{")
    ]
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        rows.append({"error": f"exit {result.returncode}", "args": args})
    return rows


def _table(time_rows, memory_rows):
    lines = [
        "| backend | N | (a) plain ms | (b) full ms | (b') full, own "
        "negations ms | (c) native ms | (b)/(a) | (b')/(a) | (a)/(c) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in time_rows:
        if "error" in r:
            lines.append(f"| {r['args']} | error: {r['error']} |")
            continue
        lines.append(
            f"| {r['backend']} | {r['n']} | {1e3 * r['a_plain']:.1f} "
            f"| {1e3 * r['b_full']:.1f} | {1e3 * r['b_own']:.1f} "
            f"| {1e3 * r['c_native']:.1f} "
            f"| {r['b_full'] / r['a_plain']:.2f} "
            f"| {r['b_own'] / r['a_plain']:.2f} "
            f"| {r['a_plain'] / r['c_native']:.2f} |"
        )
    lines += [
        "",
        "| backend | N | d | chunk | unchunked peak MiB | chunked peak MiB "
        "| ratio | unchunked s | chunked s | value rel. diff |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    by_backend = {}
    for r in memory_rows:
        if "error" in r:
            lines.append(f"| {r['args']} | error: {r['error']} |")
            continue
        by_backend.setdefault(r["backend"], {})[r["variant"]] = r
    for backend, pair in by_backend.items():
        if set(pair) != {"chunked", "unchunked"}:
            continue
        u, c = pair["unchunked"], pair["chunked"]
        rel = abs(u["value"] - c["value"]) / abs(u["value"])
        lines.append(
            f"| {backend} | {u['n']} | {u['d']} | {c['chunk_size']} "
            f"| {u['peak_growth_mib']:.0f} | {c['peak_growth_mib']:.0f} "
            f"| {c['peak_growth_mib'] / u['peak_growth_mib']:.2f} "
            f"| {u['seconds']:.1f} | {c['seconds']:.1f} | {rel:.1e} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--sizes", default=None)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--memory-n", type=int, default=None)
    parser.add_argument("--memory-dim", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--worker", choices=["time", "memory"])
    parser.add_argument("--backend")
    parser.add_argument("--variant", choices=["chunked", "unchunked"])
    args = parser.parse_args()

    sizes = args.sizes or ("256,1024" if args.quick else "256,1024,4096")
    sizes = [int(s) for s in sizes.split(",")]
    repeats = args.repeats or (3 if args.quick else 5)
    memory_n = args.memory_n or (4096 if args.quick else 16384)

    if args.worker == "time":
        worker_time(args.backend, sizes, args.dim, repeats)
        return
    if args.worker == "memory":
        worker_memory(
            args.backend,
            memory_n,
            args.memory_dim,
            args.chunk_size,
            args.variant,
        )
        return

    time_rows, memory_rows = [], []
    for backend in args.backends.split(","):
        print(f"timing {backend} ...", file=sys.stderr, flush=True)
        time_rows += _spawn(
            [
                "--worker",
                "time",
                "--backend",
                backend,
                "--sizes",
                ",".join(map(str, sizes)),
                "--dim",
                str(args.dim),
                "--repeats",
                str(repeats),
            ],
            timeout=900,
        )
        if args.no_memory:
            continue
        for variant in ("unchunked", "chunked"):
            print(
                f"memory {backend} {variant} ...", file=sys.stderr, flush=True
            )
            memory_rows += _spawn(
                [
                    "--worker",
                    "memory",
                    "--backend",
                    backend,
                    "--variant",
                    variant,
                    "--memory-n",
                    str(memory_n),
                    "--memory-dim",
                    str(args.memory_dim),
                    "--chunk-size",
                    str(args.chunk_size),
                ],
                timeout=900,
            )
    print(_table(time_rows, memory_rows))


if __name__ == "__main__":
    main()
