"""Train ClinCLIP on JAX with `keras.distribution` (TPU, GPU or CPU).

- One host: `DataParallel` over every device (`jax.devices()`): the
  global batch is split over the devices, and the loss sees it whole.
- Several hosts (TPU pods, GPU clusters): `--coordinator-address`,
  `--num-processes`, `--process-id` (or nothing on Cloud TPU, where
  `jax.distributed.initialize()` finds them itself with
  `--multi-host`) before the distribution is set.
- Large towers: `--model-parallel=k` shards the towers' big kernels over
  a `model` mesh axis of size k (`ModelParallel`), data over the rest.

Every `TrainingConfig` field is an option, spelled as in `clinclip train`
(see `--help`). Example (2 forced CPU devices):

    python recipes/train_jax_tpu.py --num-cpu-devices=2 \
        --dataset=synthetic --epochs=1 --output-dir=runs/jax
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

_CPU_DEVICES = "--num-cpu-devices"


def _force_cpu_devices(argv):
    # XLA reads this before JAX starts, so handle it before importing.
    count = 0
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name == _CPU_DEVICES:
            count = int(value if value else argv[i + 1])
    if count > 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={count}"
        )


_force_cpu_devices(sys.argv)

from keras_clinclip.cli.options import ArgumentParser  # noqa: E402
from keras_clinclip.cli.options import add_config_options  # noqa: E402
from keras_clinclip.cli.options import add_flag  # noqa: E402
from keras_clinclip.cli.options import add_option  # noqa: E402
from keras_clinclip.training.config import config_from_args  # noqa: E402


def parse_args(argv=None):
    """The recipe's options: every config field and the multi-host ones."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_options(parser)
    add_option(
        parser,
        "--model-parallel",
        dest="model_parallel",
        type=int,
        default=1,
        help="size of the `model` mesh axis (1: pure data parallelism)",
    )
    add_option(
        parser,
        "--coordinator-address",
        dest="coordinator_address",
        default=None,
        help="host:port of process 0 of a multi-host job",
    )
    add_option(
        parser,
        "--num-processes",
        dest="num_processes",
        type=int,
        default=None,
        help="processes of a multi-host job",
    )
    add_option(
        parser,
        "--process-id",
        dest="process_id",
        type=int,
        default=None,
        help="this process's index in a multi-host job",
    )
    add_flag(
        parser,
        "--multi-host",
        False,
        "call jax.distributed.initialize() with auto-detected settings "
        "(Cloud TPU)",
        dest="multi_host",
    )
    add_option(
        parser,
        _CPU_DEVICES,
        dest="num_cpu_devices",
        type=int,
        default=0,
        help="force this many host CPU devices (testing)",
    )
    args = parser.parse_args(argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    from keras_clinclip.backend import engines
    from keras_clinclip.training.train import train

    if args.multi_host and not args.coordinator_address:
        import jax

        jax.distributed.initialize()
    setup = engines.jax_setup(
        model_parallel=args.model_parallel,
        coordinator_address=args.coordinator_address,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )
    # Under several processes the chief writes backups and weights alone.
    callbacks = [engines.SaveWeightsAlone()]
    result = train(config_from_args(args), setup=setup, callbacks=callbacks)
    print(
        f"FINISHED steps={result.steps} start={result.start_step} "
        f"replicas={setup.num_replicas} {setup.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
