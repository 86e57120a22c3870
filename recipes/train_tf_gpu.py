"""Train ClinCLIP with TensorFlow's `tf.distribute`.

- Local GPUs (or one CPU): `MirroredStrategy` over all local devices.
- Several machines: set `TF_CONFIG` on each (cluster + task) and the
  recipe uses `MultiWorkerMirroredStrategy`; each worker reads its
  contiguous slice of every global batch.
- Cloud TPU: `--tpu=<name or grpc://address>` (or `--tpu=local` on a TPU
  VM) uses `TPUStrategy`.

Every `TrainingConfig` field is an option, spelled as in `clinclip train`
(`--loss`, `--batch-size`, ...; see `--help`); `--batch-size` is the
global batch. Example (2 logical CPU devices):

    python recipes/train_tf_gpu.py --num-cpu-devices=2 --dataset=synthetic \
        --epochs=1 --output-dir=runs/tf
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

from keras_clinclip.cli.options import ArgumentParser  # noqa: E402
from keras_clinclip.cli.options import add_config_options  # noqa: E402
from keras_clinclip.cli.options import add_option  # noqa: E402
from keras_clinclip.training.config import config_from_args  # noqa: E402


def parse_args(argv=None):
    """The recipe's options: every config field, `--tpu` and
    `--num-cpu-devices`."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_options(parser)
    add_option(
        parser,
        "--tpu",
        default=None,
        help="TPU name or grpc:// address ('local' on a TPU VM); uses "
        "TPUStrategy",
    )
    add_option(
        parser,
        "--num-cpu-devices",
        dest="num_cpu_devices",
        type=int,
        default=0,
        help="without GPUs, split the CPU into this many logical devices "
        "(testing)",
    )
    args = parser.parse_args(argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    from keras_clinclip.backend import engines
    from keras_clinclip.training.train import train

    # The strategy must exist before any other TensorFlow op runs.
    setup = engines.tf_setup(tpu=args.tpu, num_cpu_devices=args.num_cpu_devices)
    result = train(config_from_args(args), setup=setup)
    print(
        f"FINISHED steps={result.steps} start={result.start_step} "
        f"replicas={setup.num_replicas} {setup.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
