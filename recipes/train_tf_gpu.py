"""Train ClinCLIP with TensorFlow's `tf.distribute`.

- Local GPUs (or one CPU): `MirroredStrategy` over all local devices.
- Several machines: set `TF_CONFIG` on each (cluster + task) and the
  recipe uses `MultiWorkerMirroredStrategy`; each worker reads its
  contiguous slice of every global batch.
- Cloud TPU: `--tpu=<name or grpc://address>` (or `--tpu=local` on a TPU
  VM) uses `TPUStrategy`.

Every `TrainingConfig` field is a flag (`--loss`, `--batch_size`, ...);
`--batch_size` is the global batch. Example (2 logical CPU devices):

    python recipes/train_tf_gpu.py --num_cpu_devices=2 --dataset=synthetic \
        --epochs=1 --output_dir=runs/tf
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from keras_clinclip.training.config import config_from_args  # noqa: E402
from keras_clinclip.training.config import define_absl_flags  # noqa: E402

define_absl_flags()
flags.DEFINE_string(
    "tpu",
    None,
    "TPU name or grpc:// address ('local' on a TPU VM); uses TPUStrategy",
)
flags.DEFINE_integer(
    "num_cpu_devices",
    0,
    "without GPUs, split the CPU into this many logical devices (testing)",
)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from keras_clinclip.training import distribution
    from keras_clinclip.training.train import train

    # The strategy must exist before any other TensorFlow op runs.
    setup = distribution.tf_setup(
        tpu=FLAGS.tpu, num_cpu_devices=FLAGS.num_cpu_devices
    )
    result = train(config_from_args(FLAGS), setup=setup)
    print(
        f"FINISHED steps={result.steps} start={result.start_step} "
        f"replicas={setup.num_replicas} {setup.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
