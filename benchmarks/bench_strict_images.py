"""Cost of raising a bad image as its `ImageDecodeError` (issue 30).

With `on_error="raise"`, `make_dataset` checks each decoded file in the
graph (`strict_images.stop_on_failure`). On the IU reports (images
rendered, then read back from PNG files) this measures, in one run, with
the check and with it replaced by the identity (the pipeline as it was):
the first-batch latency (`make_dataset` + its first batch) and the
images/s of whole passes, medians of repeats, the two interleaved.

    KERAS_BACKEND=jax python benchmarks/bench_strict_images.py
"""

import argparse
import os
import tempfile

from bench_data import _median_rate  # this folder is on sys.path


def _median_seconds(function, repeats):
    return 1.0 / _median_rate(function, 1, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import keras
    from PIL import Image

    from keras_clinclip.data import iu_xray
    from keras_clinclip.data import make_dataset
    from keras_clinclip.data import strict_images
    from keras_clinclip.models import ClinCLIPPreprocessor

    size = args.image_size
    records = iu_xray(image_size=size, limit=args.records)
    preprocessor = ClinCLIPPreprocessor.from_towers(image_size=size)
    n = len(records["id"])
    print(f"backend {keras.backend.backend()}, {n} IU studies, image {size}")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(records["image"]):
            paths.append(os.path.join(folder, f"{i}.png"))
            Image.fromarray(image).save(paths[-1])
        on_disk = dict(records, image_path=paths)
        on_disk.pop("image")

        checked = strict_images.stop_on_failure

        def unchecked(tf, image, ok, message):
            return image

        def build(check):
            strict_images.stop_on_failure = check
            return make_dataset(on_disk, preprocessor, args.batch)

        results = {}
        for name, check in [("checked", checked), ("unchecked", unchecked)] * 2:
            first = _median_seconds(
                lambda c=check: next(iter(build(c))), args.repeats
            )
            dataset = build(check)
            whole = _median_seconds(lambda d=dataset: list(d), args.repeats)
            results[name] = (first, n / whole)  # the second round counts
    for name, (first, rate) in results.items():
        print(f"{name}: first batch {first * 1000:.0f} ms, {rate:.0f} images/s")
    new, old = results["checked"], results["unchecked"]
    print(
        f"ratio checked/unchecked: first batch {new[0] / old[0]:.2f}x, "
        f"images/s {new[1] / old[1]:.2f}x"
    )


if __name__ == "__main__":
    main()
