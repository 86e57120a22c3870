"""Train ClinCLIP on JAX with `keras.distribution` (TPU, GPU or CPU).

- One host: `DataParallel` over every device (`jax.devices()`): the
  global batch is split over the devices, and the loss sees it whole.
- Several hosts (TPU pods, GPU clusters): `--coordinator_address`,
  `--num_processes`, `--process_id` (or nothing on Cloud TPU, where
  `jax.distributed.initialize()` finds them itself with
  `--multi_host`) before the distribution is set.
- Large towers: `--model_parallel=k` shards the towers' big kernels over
  a `model` mesh axis of size k (`ModelParallel`), data over the rest.

Every `TrainingConfig` field is a flag. Example (2 forced CPU devices):

    python recipes/train_jax_tpu.py --num_cpu_devices=2 \
        --dataset=synthetic --epochs=1 --output_dir=runs/jax
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"


def _force_cpu_devices(argv):
    # XLA reads this before JAX starts, so handle it before importing.
    for arg in argv:
        if arg.startswith("--num_cpu_devices="):
            count = int(arg.split("=", 1)[1])
            if count > 1:
                os.environ["XLA_FLAGS"] = (
                    os.environ.get("XLA_FLAGS", "")
                    + f" --xla_force_host_platform_device_count={count}"
                )


_force_cpu_devices(sys.argv)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from keras_clinclip.training.config import config_from_args  # noqa: E402
from keras_clinclip.training.config import define_absl_flags  # noqa: E402

define_absl_flags()
flags.DEFINE_integer(
    "model_parallel",
    1,
    "size of the `model` mesh axis (1: pure data parallelism)",
)
flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 of a multi-host job"
)
flags.DEFINE_integer("num_processes", None, "processes of a multi-host job")
flags.DEFINE_integer("process_id", None, "this process's index")
flags.DEFINE_bool(
    "multi_host",
    False,
    "call jax.distributed.initialize() with auto-detected settings (Cloud TPU)",
)
flags.DEFINE_integer(
    "num_cpu_devices", 0, "force this many host CPU devices (testing)"
)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from keras_clinclip.training import distribution
    from keras_clinclip.training.train import train

    if FLAGS.multi_host and not FLAGS.coordinator_address:
        import jax

        jax.distributed.initialize()
    setup = distribution.jax_setup(
        model_parallel=FLAGS.model_parallel,
        coordinator_address=FLAGS.coordinator_address,
        num_processes=FLAGS.num_processes,
        process_id=FLAGS.process_id,
    )
    # Under several processes the chief writes backups and weights alone.
    callbacks = [distribution.SaveWeightsAlone()]
    result = train(config_from_args(FLAGS), setup=setup, callbacks=callbacks)
    print(
        f"FINISHED steps={result.steps} start={result.start_step} "
        f"replicas={setup.num_replicas} {setup.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
