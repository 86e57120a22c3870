"""Device and process set-up of the three engines: one typed set-up each.

Each function returns a typed `Setup` (`TFSetup`, `JaxSetup`,
`TorchSetup`): what the trainer needs to know to build the model in the
right scope, to feed each process its part of the global batch and to
decide who writes files.

- TensorFlow: `tf_setup` picks `TPUStrategy` (given a TPU address),
  `MultiWorkerMirroredStrategy` (when `TF_CONFIG` names several workers)
  or `MirroredStrategy` over the local GPUs (or `num_cpu_devices` logical
  CPUs). Keras feeds each replica its slice of every global batch.
- JAX: `jax_setup` calls `jax.distributed.initialize` for multi-host runs,
  then sets `keras.distribution.DataParallel` over all devices, or
  `ModelParallel` with a (`batch`, `model`) mesh that shards the large
  kernels of the towers over the `model` axis.
- PyTorch: `torch_setup` runs on one device, or joins the process group
  that `torchrun` describes (gloo on CPU, nccl on GPU); each process then
  reads its shard of every global batch and `all_reduce_gradients` sums
  the gradients across processes before each optimizer step (DDP's
  all-reduce, done on Keras's own `fit` step).
"""

import contextlib
import dataclasses
import json
import os

import keras


@dataclasses.dataclass
class Setup:
    """What the trainer needs to know about devices and processes.

    Args:
        engine: `tensorflow`, `jax` or `torch`.
        scope: a context manager to build and compile the model in.
        num_replicas: devices that share each global batch.
        num_processes: processes of the job.
        process_index: this process's index.
        is_chief: whether this process writes logs and checkpoints.
        shard_data: whether this process must read only its shard of each
            global batch (torch DDP); TF and JAX shard inside `fit`.
        description: one line for the logs.

    Example:
    >>> setup = Setup("torch")
    >>> setup.is_chief, setup.num_replicas
    (True, 1)
    """

    engine: str
    scope: object = None
    num_replicas: int = 1
    num_processes: int = 1
    process_index: int = 0
    is_chief: bool = True
    shard_data: bool = False
    description: str = "one device"

    def __post_init__(self):
        if self.scope is None:
            self.scope = contextlib.nullcontext

    def local_batch_size(self, global_batch_size):
        """The batch each process reads: global / processes when sharded."""
        if not self.shard_data:
            return int(global_batch_size)
        if global_batch_size % self.num_processes:
            raise ValueError(
                f"`batch_size` {global_batch_size} is not divisible by the "
                f"{self.num_processes} processes of the job."
            )
        return int(global_batch_size) // self.num_processes


@dataclasses.dataclass
class TFSetup(Setup):
    """The set-up of a `tf.distribute` job (see `tf_setup`).

    Args:
        strategy: the `tf.distribute.Strategy`; `scope` is its `scope`.
        (the other fields are `Setup`'s)

    Example:
    >>> import tensorflow as tf
    >>> strategy = tf.distribute.get_strategy()
    >>> setup = TFSetup("tensorflow", strategy=strategy)
    >>> setup.scope is not None and setup.strategy is strategy
    True
    """

    strategy: object = None

    def __post_init__(self):
        if self.scope is None and self.strategy is not None:
            self.scope = self.strategy.scope
        super().__post_init__()


@dataclasses.dataclass
class JaxSetup(Setup):
    """The set-up of a `keras.distribution` job on JAX (see `jax_setup`).

    Args:
        distribution: the `keras.distribution.Distribution` set globally.
        (the other fields are `Setup`'s)

    Example:
    >>> JaxSetup("jax").distribution is None
    True
    """

    distribution: object = None


@dataclasses.dataclass
class TorchSetup(Setup):
    """The set-up of a PyTorch job, one process or DDP (see `torch_setup`).

    Args:
        backend: the `torch.distributed` backend (`gloo`, `nccl`), or None
            for one process.
        (the other fields are `Setup`'s)

    Example:
    >>> TorchSetup("torch").shard_data
    False
    """

    backend: str = None


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None


def tf_setup(tpu=None, num_cpu_devices=0):
    """The `tf.distribute` strategy for this machine and job.

    Args:
        tpu: a TPU address (`grpc://...`, a TPU name, or `local`) for
            `TPUStrategy`; None otherwise.
        num_cpu_devices: when > 1 and no GPU is present, split the CPU
            into this many logical devices for `MirroredStrategy` (tests
            and debugging). Must be called before TensorFlow initialises
            its devices.

    Returns:
        A `TFSetup` whose `scope` is `strategy.scope`.

    Example:
    >>> setup = tf_setup()
    >>> setup.engine
    'tensorflow'
    """
    import tensorflow as tf

    config = _tf_config()
    workers = (config or {}).get("cluster", {}).get("worker", [])
    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu="" if tpu == "local" else tpu
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        description = f"TPUStrategy on {tpu}"
        index, count, chief = 0, 1, True
    elif len(workers) > 1:
        # Must come before any other TensorFlow op creates a context.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = config.get("task", {})
        index = int(task.get("index", 0))
        count = len(workers)
        chief = task.get("type", "worker") == "chief" or (
            task.get("type", "worker") == "worker"
            and index == 0
            and "chief" not in config.get("cluster", {})
        )
        description = f"MultiWorkerMirroredStrategy, worker {index} of {count}"
    else:
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus and num_cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu,
                [tf.config.LogicalDeviceConfiguration()] * num_cpu_devices,
            )
            devices = [f"/cpu:{i}" for i in range(num_cpu_devices)]
            strategy = tf.distribute.MirroredStrategy(devices)
        else:
            strategy = tf.distribute.MirroredStrategy()
        description = (
            f"MirroredStrategy over {strategy.num_replicas_in_sync} "
            "local device(s)"
        )
        index, count, chief = 0, 1, True
    return TFSetup(
        engine="tensorflow",
        strategy=strategy,
        num_replicas=strategy.num_replicas_in_sync,
        num_processes=count,
        process_index=index,
        is_chief=chief,
        description=description,
    )


def model_parallel_layout(mesh, model_axis="model"):
    """A `keras.distribution.LayoutMap` sharding the big tower kernels.

    Dense/projection kernels and the text tower's embedding table are
    split over `model_axis` (column-wise); everything else is
    replicated. The batch is split over the mesh's other axis.

    Args:
        mesh: a `keras.distribution.DeviceMesh` with axes
            `("batch", model_axis)`.
        model_axis: the axis name that shards weights.

    Example:
    >>> import keras
    >>> if keras.backend.backend() == "jax":  # keras.distribution is JAX's
    ...     devices = keras.distribution.list_devices()[:1]
    ...     mesh = keras.distribution.DeviceMesh(
    ...         (1, 1), ["batch", "model"], devices)
    ...     layout = model_parallel_layout(mesh)
    ...     assert layout[".*dense.*kernel"].axes == (None, "model")
    """
    import keras

    layout = keras.distribution.LayoutMap(mesh)
    layout[".*token_embedding.*embeddings"] = (model_axis, None)
    layout[".*(dense|projection|ffw|intermediate).*kernel"] = (
        None,
        model_axis,
    )
    layout[".*(query|key|value).*kernel"] = (None, model_axis, None)
    layout[".*attention_output.*kernel"] = (model_axis, None, None)
    return layout


def jax_setup(
    model_parallel=1,
    coordinator_address=None,
    num_processes=None,
    process_id=None,
):
    """`keras.distribution` over all JAX devices, multi-host when asked.

    Args:
        model_parallel: size of the `model` axis: 1 gives `DataParallel`
            over every device; k > 1 gives `ModelParallel` on a
            (devices / k, k) mesh with `model_parallel_layout`.
        coordinator_address: `host:port` of process 0 for multi-host
            runs (`jax.distributed.initialize`); on Cloud TPU pods it may
            be left None with `num_processes` unset (auto-detected).
        num_processes: processes of a multi-host job.
        process_id: this process's index.

    Returns:
        A `JaxSetup`; its `distribution` is the Keras distribution set.

    Example:
    >>> import keras
    >>> if keras.backend.backend() == "jax":
    ...     setup = jax_setup()
    ...     assert setup.num_replicas == len(keras.distribution.list_devices())
    """
    import jax
    import keras

    if coordinator_address or (num_processes or 1) > 1:
        # CPU-only processes (tests, debugging) need a collectives backend
        # for their cross-process all-reduce; GPU and TPU ignore it.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )
    devices = keras.distribution.list_devices()
    if model_parallel > 1:
        if len(devices) % model_parallel:
            raise ValueError(
                f"`model_parallel`={model_parallel} does not divide the "
                f"{len(devices)} devices."
            )
        mesh = keras.distribution.DeviceMesh(
            (len(devices) // model_parallel, model_parallel),
            ["batch", "model"],
            devices,
        )
        distribution = keras.distribution.ModelParallel(
            layout_map=model_parallel_layout(mesh), batch_dim_name="batch"
        )
        replicas = len(devices) // model_parallel
        description = f"ModelParallel on a {replicas}x{model_parallel} mesh"
    else:
        distribution = keras.distribution.DataParallel(devices=devices)
        replicas = len(devices)
        description = f"DataParallel over {replicas} device(s)"
    keras.distribution.set_distribution(distribution)
    return JaxSetup(
        engine="jax",
        distribution=distribution,
        num_replicas=replicas,
        num_processes=jax.process_count(),
        process_index=jax.process_index(),
        is_chief=jax.process_index() == 0,
        description=description
        + f", process {jax.process_index()} of {jax.process_count()}",
    )


def save_weights_alone(model):
    """Let one process of a multi-host JAX job save `model`'s weights alone.

    Under a multi-process `keras.distribution`, every Keras variable is a
    global array: creating one is a collective that all processes must
    join. `save_weights` creates a few throw-away variables (Keras builds
    reference objects to list the attributes to skip), so a save made by
    the chief alone waits forever for the others. This wraps the model
    instance's `save_weights` so that it runs without the distribution:
    its temporary variables stay local, and the model's own (replicated)
    weights are read from this process's copy. No-op with one process.

    Args:
        model: a Keras model built under the multi-host distribution.

    Returns:
        The model.

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.layers.Dense(1)])
    >>> save_weights_alone(model) is model
    True
    """
    import keras

    if keras.backend.backend() != "jax":
        return model
    import jax

    if jax.process_count() <= 1 or getattr(model, "_saves_alone", False):
        return model
    original = model.save_weights

    def save_weights(*args, **kwargs):
        current = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            return original(*args, **kwargs)
        finally:
            keras.distribution.set_distribution(current)

    model.save_weights = save_weights
    model._saves_alone = True
    return model


class SaveWeightsAlone(keras.callbacks.Callback):
    """Apply `save_weights_alone` to the model `fit` trains (multi-host).

    Pass it to `train(..., callbacks=[SaveWeightsAlone()])` in a
    multi-process JAX job: the chief's backups, checkpoints and final
    weights are then written by the chief alone (see `save_weights_alone`).

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.layers.Dense(1)])
    >>> SaveWeightsAlone().set_model(model)
    """

    def set_model(self, model):
        super().set_model(model)
        save_weights_alone(model)


def torch_setup():
    """One device, or the `torchrun` process group when launched by it.

    `torchrun` sets `WORLD_SIZE`, `RANK`, `LOCAL_RANK`, `MASTER_ADDR` and
    `MASTER_PORT`; with `WORLD_SIZE` > 1 the default process group is
    initialised (nccl with CUDA, gloo otherwise) and each process uses
    the GPU of its local rank.

    Returns:
        A `TorchSetup`; with several processes `shard_data` is True.

    Example:
    >>> import keras
    >>> if keras.backend.backend() == "torch":
    ...     assert torch_setup().num_processes >= 1
    """
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return TorchSetup(engine="torch", description=f"one {device} device")
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return TorchSetup(
        engine="torch",
        backend=backend,
        num_replicas=world,
        num_processes=world,
        process_index=rank,
        is_chief=rank == 0,
        shard_data=True,
        description=f"torch DDP ({backend}), rank {rank} of {world}",
    )
