"""Data pipeline throughput vs the default model's training step.

Measures, on this machine and in one run:
  1. SynthCXR rendering: images/s at 224x224 (one process; CPU time too);
  2. `make_dataset` images/s at 224x224 with training augmentation and the
     default `ClinCLIPPreprocessor` (MiniLM tokenizer, 128 tokens, K=2
     negations, graph arrays), from in-memory images (the IU default) and
     from PNG files on disk;
  3. `model.fit` images/s of the default model
     (`clinclip_from_towers()` defaults) at the same batch size;
and prints the ratio pipeline / step (target: >= 3).

    KERAS_BACKEND=tensorflow python benchmarks/bench_data.py [--batch 32]
"""

import argparse
import os
import statistics
import tempfile
import time


def _median_rate(function, count, repeats):
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--fit-steps",
        type=int,
        default=3,
        help="fit steps timed for the ratio (0: pipeline only)",
    )
    parser.add_argument(
        "--autotune",
        action="store_true",
        help="PipelineOptions(autotune=True): tf.data's autotuning thread on",
    )
    args = parser.parse_args()

    import keras
    from PIL import Image

    from keras_clinclip.data import PipelineOptions
    from keras_clinclip.data import SynthCXR
    from keras_clinclip.data import make_dataset
    from keras_clinclip.data import synthetic_pairs
    from keras_clinclip.models import ClinCLIPGraphEncoder
    from keras_clinclip.models import ClinCLIPPreprocessor
    from keras_clinclip.models import clinclip_from_towers

    size, batch = 224, args.batch
    print(
        f"backend {keras.backend.backend()}, cores {os.cpu_count()}, "
        f"batch {batch}, image {size}x{size}"
    )

    renderer = SynthCXR(size)
    renderer.render([], 0)
    n_render = 40
    wall = time.perf_counter()
    cpu = time.process_time()
    for seed in range(n_render):
        renderer.render([("effusion", "left", None, 0.6), "nodule"], seed)
    wall = (time.perf_counter() - wall) / n_render
    cpu = (time.process_time() - cpu) / n_render
    print(
        f"SynthCXR render 224: {1 / wall:.1f} images/s "
        f"({cpu * 1000:.1f} ms CPU per image)"
    )

    records = synthetic_pairs(
        args.records, seed=0, image_size=size, num_negations=2
    )
    preprocessor = ClinCLIPPreprocessor.from_towers(image_size=size)
    count = batch * args.batches

    def run(dataset):
        return lambda: [None for _ in dataset.take(args.batches)]

    memory = make_dataset(
        records,
        preprocessor,
        batch_size=batch,
        training=True,
        options=PipelineOptions(autotune=args.autotune),
    ).repeat()
    run(memory)()  # warm-up: graph tracing, tokenizer tables
    memory_rate = _median_rate(run(memory), count, args.repeats)
    print(f"make_dataset, in-memory images: {memory_rate:.1f} images/s")

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(records["image"]):
            path = os.path.join(folder, f"{i}.png")
            Image.fromarray(image).save(path)
            paths.append(path)
        on_disk = dict(records)
        on_disk.pop("image")
        on_disk["image_path"] = paths
        files = make_dataset(
            on_disk,
            preprocessor,
            batch_size=batch,
            training=True,
            options=PipelineOptions(autotune=args.autotune),
        ).repeat()
        run(files)()
        file_rate = _median_rate(run(files), count, args.repeats)
    print(f"make_dataset, PNG files: {file_rate:.1f} images/s")

    if args.fit_steps == 0:
        return
    from keras_clinclip.reports import GRAPH_FEATURE_DIM

    model = clinclip_from_towers(
        image_size=size,
        num_negations=2,
        graph_encoder=ClinCLIPGraphEncoder(GRAPH_FEATURE_DIM),
    )
    model.compile()
    steps = args.fit_steps
    cached = memory.take(steps + 1).cache()
    list(cached)  # materialise so the step timing excludes the pipeline
    model.fit(cached.take(1), epochs=1, verbose=0)  # compile
    fit_rate = _median_rate(
        lambda: model.fit(cached.take(steps), epochs=1, verbose=0),
        batch * steps,
        args.repeats,
    )
    print(f"default model fit step: {fit_rate:.1f} images/s")
    print(
        f"ratio pipeline/step: in-memory {memory_rate / fit_rate:.1f}x, "
        f"PNG files {file_rate / fit_rate:.1f}x (target >= 3x)"
    )


if __name__ == "__main__":
    main()
