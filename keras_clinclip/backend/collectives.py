"""Cross-replica collectives for the losses (gather with a gradient).

Contrastive losses want every replica's embeddings as negatives. This module
gathers them, with a gradient, on each backend:

- TensorFlow (`tf.distribute`, replica context): `ReplicaContext.all_gather`,
  whose gradient all-reduces (sums) the incoming gradients and keeps this
  replica's slice.
- PyTorch (`torch.distributed` initialised, world size > 1):
  `torch.distributed.nn.functional.all_gather`, whose backward sums the
  gradients of all processes for this process's slice.
- JAX (`keras.distribution.DataParallel`) and any single device: the loss
  already sees the global batch (a sharded global array), so nothing is
  gathered.

The losses compute only the local rows against the gathered columns. Under
`tf.distribute` Keras divides the loss by the number of replicas and sums
the gradients; under torch DDP the gradients are averaged over processes. In
both cases one optimizer step equals one step on one device with the global
batch (see `docs/losses.md`).
"""

import keras
from keras import ops


def _tf_replica_context():
    import tensorflow as tf

    # None in a cross-replica context; the default strategy has 1 replica.
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def _torch_distributed():
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    if not dist.is_available() or not dist.is_initialized():
        return None
    if dist.get_world_size() <= 1:
        return None
    return dist


def num_replicas():
    """The number of replicas whose batches the losses gather.

    Returns 1 on JAX (the loss sees the global batch), on a single device,
    and outside a `tf.distribute` replica context.

    Returns:
        A Python int.

    Example:
    >>> from keras_clinclip.backend import collectives
    >>> collectives.num_replicas()
    1
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        context = _tf_replica_context()
        return 1 if context is None else int(context.num_replicas_in_sync)
    if backend == "torch":
        dist = _torch_distributed()
        return 1 if dist is None else int(dist.get_world_size())
    return 1


def replica_id():
    """This replica's index among `num_replicas()` (0 when there is one).

    Returns:
        A Python int, or a scalar int32 tensor under `tf.distribute`.

    Example:
    >>> from keras_clinclip.backend import collectives
    >>> int(collectives.replica_id())
    0
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        context = _tf_replica_context()
        if context is None:
            return 0
        return context.replica_id_in_sync_group
    if backend == "torch":
        dist = _torch_distributed()
        return 0 if dist is None else int(dist.get_rank())
    return 0


def all_gather(x, axis=0):
    """Concatenate `x` from every replica along `axis`, with a gradient.

    The gradient of the gathered tensor reaches each replica's own slice,
    summed over the replicas that used it. With one replica (or on JAX,
    where arrays are already global) `x` is returned unchanged.

    Args:
        x: a tensor; every replica passes one of the same rank and dtype.
        axis: the axis to concatenate along.

    Returns:
        The gathered tensor (replica 0's rows first).

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.backend import collectives
    >>> x = np.ones((2, 3), "float32")
    >>> tuple(collectives.all_gather(x).shape)
    (2, 3)
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        context = _tf_replica_context()
        if context is None:
            return x
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        devices = tuple(context.strategy.extended.worker_devices)
        if not x.device and len(devices) == 1:
            # Under MultiWorkerMirroredStrategy on CPU, tensors traced in
            # the replica function may carry no device, and TF's collective
            # gather then refuses them ("destinations can not be empty").
            with tf.device(devices[0]):
                x = tf.identity(x)
        return context.all_gather(x, axis=axis)
    if backend == "torch":
        dist = _torch_distributed()
        if dist is None:
            return x
        import torch
        from torch.distributed.nn import functional as dist_functional

        x = torch.as_tensor(x)
        if x.requires_grad:
            parts = dist_functional.all_gather(x)
        else:
            parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, x.contiguous())
        return torch.cat(list(parts), dim=axis)
    return x


def replica_offset(local_size):
    """The global index of this replica's first row in `all_gather` output.

    Replicas may hold different numbers of rows (a last, smaller batch), so
    the sizes are gathered rather than assumed equal.

    Args:
        local_size: the number of rows on this replica (int or scalar
            tensor).

    Returns:
        0 with one replica, else an int32 scalar tensor.

    Example:
    >>> from keras_clinclip.backend import collectives
    >>> int(collectives.replica_offset(4))
    0
    """
    if num_replicas() == 1:
        return 0
    sizes = all_gather(ops.reshape(ops.cast(local_size, "int32"), (1,)))
    index = ops.arange(ops.shape(sizes)[0], dtype="int32")
    before = ops.cast(ops.less(index, ops.cast(replica_id(), "int32")), "int32")
    return ops.sum(sizes * before)
