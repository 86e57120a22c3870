"""MIMIC-CXR at its real size: indexing, report preparation, memory, input rate.

On a MIMIC-CXR-JPG look-alike in the official layout
(`tests/data/lookalikes.py`, report texts from the IU reports and the
templates) written to a temporary folder and deleted at the end:

  1. index: `mimic_cxr(root, labels="none")` (list the JPEGs, read the
     metadata/split/label tables and the reports zip) for `--studies`
     studies (two images each; tiny JPEGs: indexing does not decode);
  2. prepare: `prepared_text.prepare_text` (labels, negated and omitted
     variants, report graphs) with `--workers` processes, no cache;
  3. memory: the resident memory the records of `load_source("mimic-cxr:
     ROOT")` add to a fresh process (graphs included), measured in a
     child process from the cache step 2 wrote;
  4. input rate: `make_dataset` (224 px, training augmentation, MiniLM
     tokenizer, K=1, compact graphs) images/s from `--images` SynthCXR
     JPEGs at the official size (longer side 2,500 px) and at 512 px,
     against the bare decode+resize rate of the same files in the same
     `tf.data` shape (`decode_image` + `tf.image.resize`, same
     parallelism): the pipeline's floor; the ratio is the median of the
     per-repeat ratios. Also against a floor that decodes JPEGs reduced
     as `make_dataset` does (`decode_image(..., reduce_to=224)`), and
     the CPU ms per image of both (robust to a shared machine).
     First-batch latency of `make_dataset` too.

Figures per 10,000 studies are extrapolated linearly to 228,000 (the
studies of MIMIC-CXR) and printed as such.

    nice python benchmarks/bench_scale.py --studies 50000 --images 300,2000
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIMIC_STUDIES = 228_000

_MEMORY_CHILD = """
import json, resource, sys
def rss():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
from keras_clinclip.data import sources
from keras_clinclip import reports
reports.label_report("No effusion.")  # the toolkit's own tables
before = rss()
records = sources.load_source(sys.argv[1], num_negations=1, verbose=False,
                              graphs=sys.argv[2] == "1")
after = rss()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"records": after - before, "peak": peak,
                  "studies": len(records["id"])}))
"""


def _cpu():
    """CPU seconds of this process and its finished children."""
    times = os.times()
    return sum(times[:4])


def _load_now():
    with open("/proc/loadavg") as handle:
        return handle.read().split()[:3]


def _write_jpegs(folder, count, size, distinct=8):
    """`count` JPEG files of `distinct` SynthCXR images at `size` px."""
    from tests.data.lookalikes import jpeg_bytes

    folder.mkdir(parents=True, exist_ok=True)
    encoded = [jpeg_bytes(seed, size) for seed in range(distinct)]
    paths = []
    for i in range(count):
        path = folder / f"{i:05d}.jpg"
        path.write_bytes(encoded[i % distinct])
        paths.append(str(path))
    return paths


def _rates(paths, batch, repeats):
    import numpy as np
    import tensorflow as tf

    from keras_clinclip.data import NegationOptions
    from keras_clinclip.data import PipelineOptions
    from keras_clinclip.data import decode_image
    from keras_clinclip.data import make_dataset
    from keras_clinclip.data import records as rec
    from keras_clinclip.data.report_graphs import ReportGraphs
    from keras_clinclip.training import builders
    from keras_clinclip.training.config import TrainingConfig

    n = len(paths)
    preprocessor = builders.build_preprocessor(
        TrainingConfig(image_size=224, text_encoder="minilm", max_length=128)
    )
    report = "Small left pleural effusion. Mild cardiomegaly. No edema."
    records = {
        "id": [str(i) for i in range(n)],
        "image_path": paths,
        "report": [report] * n,
        "labels": np.full((n, 14), np.nan, np.float32),
        "split": ["train"] * n,
        "negations": [["No left pleural effusion. Mild cardiomegaly."]] * n,
        "graphs": ReportGraphs.from_dense(
            *rec.graph_columns([report]).values()
        )[[0] * n],
    }

    def pipeline(augment=True):
        return make_dataset(
            records,
            preprocessor,
            batch_size=batch,
            split="train",
            training=True,
            image_size=224,
            negations=NegationOptions(count=1, balance=False),
            options=PipelineOptions(augment=augment),
        )

    def floor(reduce_to=None):
        def load(path):
            image = decode_image(path.decode(), reduce_to=reduce_to)
            return image[..., None]

        def decode(path):
            image = tf.numpy_function(load, [path], tf.uint8)
            image.set_shape([None, None, 1])
            return tf.image.resize(image, (224, 224))

        data = tf.data.Dataset.from_tensor_slices(paths)
        data = data.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        return data.batch(batch, drop_remainder=True).prefetch(2)

    def steady(build):
        """images/s after the first batch, the first batch's latency and
        the CPU ms per image (this process, all threads)."""
        start = time.perf_counter()
        iterator = iter(build())
        next(iterator)
        first = time.perf_counter() - start
        count, start, cpu = 0, time.perf_counter(), time.process_time()
        for _ in iterator:
            count += batch
        cpu = (time.process_time() - cpu) / count * 1e3
        return count / (time.perf_counter() - start), first, cpu

    out = {key: [] for key in ("pipeline", "floor", "first_batch", "no_aug")}
    out.update(cpu_pipeline=[], cpu_floor=[], ratio=[], reduced=[])
    for _ in range(repeats):  # alternate, so that load changes hit all
        rate, first, cpu = steady(pipeline)
        out["pipeline"].append(rate)
        out["first_batch"].append(first)
        out["cpu_pipeline"].append(cpu)
        rate_floor, _, cpu = steady(floor)
        out["floor"].append(rate_floor)
        out["cpu_floor"].append(cpu)
        out["ratio"].append(rate / rate_floor)  # within one repeat
        out["no_aug"].append(steady(lambda: pipeline(False))[0])
        # The floor with the pipeline's reduced JPEG decode too.
        out["reduced"].append(rate / steady(lambda: floor(224))[0])
    return {key: statistics.median(value) for key, value in out.items()}


def _scale(args, scratch):
    """Steps 1-3: index, prepare and memory at `--studies`."""
    from keras_clinclip.data import prepared_text
    from keras_clinclip.data.mimic_cxr import mimic_cxr
    from tests.data.lookalikes import write_mimic_cxr

    start = time.perf_counter()
    root = write_mimic_cxr(
        scratch / "mimic", args.studies, image_size=32, same_image=True
    )
    print(f"wrote {args.studies} studies in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    start, cpu = time.perf_counter(), _cpu()
    records = mimic_cxr(
        root, labels="none", splits=("train", "validate", "test"),
        progress=False,
    )  # fmt: skip
    index = time.perf_counter() - start
    index_cpu = _cpu() - cpu
    n = len(records["id"])
    start = time.perf_counter()
    prepared_text.prepare_text(
        records["id"], records["report"], 1, workers=args.workers,
        progress=False,
    )  # fmt: skip
    prepare = time.perf_counter() - start
    # The per-core rate: one process, CPU time (the workers of the run
    # above are not our children under forkserver, so their CPU time
    # cannot be read); robust to the other users of a shared machine.
    sample = min(args.cpu_sample, n)
    cpu = time.process_time()
    prepared_text.prepare_text(
        records["id"][:sample], records["report"][:sample], 1,
        workers=1, progress=False, cache=False,
    )  # fmt: skip
    prepare_cpu = (time.process_time() - cpu) / sample * n
    per = {"index": index / n * 10_000, "prepare": prepare / n * 10_000}
    total = (index + prepare) / n * MIMIC_STUDIES
    print(f"studies: {n}; index {index:.1f} s, prepare {prepare:.1f} s "
          f"({args.workers} workers)")  # fmt: skip
    cpu_total = (index_cpu + prepare_cpu / 2) / n * MIMIC_STUDIES
    print(f"CPU seconds per 10,000 studies: index "
          f"{index_cpu / n * 1e4:.1f} (one process), prepare "
          f"{prepare_cpu / n * 1e4:.1f} (one core, from {sample} "
          f"studies); on 2 idle cores (index on one, prepare on two) "
          f"{MIMIC_STUDIES:,} studies take {cpu_total / 60:.1f} min "
          "(target <= 10)")  # fmt: skip
    print(f"per 10,000 studies: index {per['index']:.1f} s, prepare "
          f"{per['prepare']:.1f} s; extrapolated to {MIMIC_STUDIES:,} "
          f"studies: {total / 60:.1f} min (target <= 10)")  # fmt: skip
    del records
    for graphs in ("1", "0"):
        child = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, f"mimic-cxr:{root}",
             graphs],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        memory = json.loads(child.stdout.strip().splitlines()[-1])
        scale = MIMIC_STUDIES / memory["studies"]
        print(f"records of {memory['studies']} studies (graphs "
              f"{'on' if graphs == '1' else 'off'}): "
              f"{memory['records'] / 2**20:.0f} MiB resident "
              f"(process peak {memory['peak'] / 2**20:.0f} MiB); "
              f"extrapolated to {MIMIC_STUDIES:,}: "
              f"{memory['records'] * scale / 2**30:.2f} GiB "
              "(target <= 2)")  # fmt: skip
    shutil.rmtree(root)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--cpu-sample",
        type=int,
        default=5000,
        help="studies prepared in one process for the per-core CPU rate",
    )
    parser.add_argument(
        "--images",
        default="300,2000",
        help="JPEGs at 2,500 px and at 512 px",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average at start: {_load_now()}")
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="bench_scale_"))
    os.environ["KERAS_CLINCLIP_CACHE"] = str(scratch / "cache")
    try:
        if not args.skip_scale:
            _scale(args, scratch)
        if args.skip_rate:
            return
        counts = [int(c) for c in args.images.split(",")]
        for size, count in zip((2500, 512), counts):
            paths = _write_jpegs(scratch / f"jpeg{size}", count, size)
            rates = _rates(paths, args.batch, args.repeats)
            print(f"{size} px JPEGs ({count}): make_dataset "
                  f"{rates['pipeline']:.1f} images/s (without augmentation "
                  f"{rates['no_aug']:.1f}), bare decode+resize "
                  f"{rates['floor']:.1f} images/s, ratio "
                  f"{rates['ratio']:.2f} (median of the per-repeat ratios; "
                  f"target >= 0.8); against a bare decode+resize that "
                  f"also decodes JPEGs reduced (`reduce_to=224`): ratio "
                  f"{rates['reduced']:.2f}; CPU ms per image: make_dataset "
                  f"{rates['cpu_pipeline']:.2f}, bare "
                  f"{rates['cpu_floor']:.2f}; first batch "
                  f"{rates['first_batch']:.2f} s (medians of "
                  f"{args.repeats})")  # fmt: skip
            shutil.rmtree(scratch / f"jpeg{size}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        print(f"load average at end: {_load_now()}")


if __name__ == "__main__":
    main()
