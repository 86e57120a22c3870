"""Data parallelism for Keras's own `fit` on PyTorch (DDP's recipe).

Keras's torch trainer has no distribution API, so `torch_data_parallel`
does what `DistributedDataParallel` does, on the model and optimizer that
`fit` uses: every process starts from rank 0's weights and the gradients
are averaged across processes before each optimizer step. The losses
gather the other processes' embeddings with gradient
(`keras_clinclip.backend.collectives.all_gather`), so each process computes its
share of the global-batch loss. Each process reads its own slice of the
global batch (e.g. `make_dataset(records, preprocessor, global // world,
options=PipelineOptions(shard=...))` or any per-rank pipeline).
"""

import os


def _distributed():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def init_process_group():
    """Join the `torchrun` process group (gloo on CPU, nccl with CUDA).

    Returns:
        `(rank, world_size)`; `(0, 1)` when not launched by `torchrun`.

    Example:
    >>> import keras
    >>> if keras.backend.backend() == "torch":
    ...     assert init_process_group()[1] >= 1
    """
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(
            backend="nccl" if torch.cuda.is_available() else "gloo"
        )
    return dist.get_rank(), dist.get_world_size()


def broadcast_weights(model):
    """Copy rank 0's weights to every torch process (no-op when alone).

    Args:
        model: a built Keras model (torch backend).

    Example:
    >>> import keras
    >>> if keras.backend.backend() == "torch":
    ...     broadcast_weights(keras.Sequential([keras.Input((2,)),
    ...                                         keras.layers.Dense(1)]))
    """
    dist = _distributed()
    if dist is None:
        return
    for variable in model.variables:
        dist.broadcast(variable.value.data, src=0)


def all_reduce_gradients(optimizer, average=False):
    """Sum (or average) gradients over torch processes before each step.

    Keras's torch `fit` calls `optimizer.apply(grads, variables)` once per
    step; this wraps that call on the given optimizer instance so that the
    gradients are all-reduced first, which is what DDP does.

    Args:
        optimizer: a Keras optimizer (torch backend).
        average: divide the summed gradients by the number of processes
            (our losses' convention: each process's loss is its share of
            the global-batch loss, and its gradient a per-process mean).

    Returns:
        The same optimizer.

    Example:
    >>> import keras
    >>> optimizer = all_reduce_gradients(keras.optimizers.SGD())
    >>> callable(optimizer.apply)
    True
    """
    if getattr(optimizer, "_clinclip_all_reduce", False):
        return optimizer
    original = optimizer.apply

    def apply(grads, trainable_variables=None):
        dist = _distributed()
        if dist is not None:
            world = dist.get_world_size()
            reduced = []
            for grad in grads:
                if grad is not None:
                    grad = grad.contiguous()
                    dist.all_reduce(grad, op=dist.ReduceOp.SUM)
                    if average:
                        grad = grad / world
                reduced.append(grad)
            grads = reduced
        return original(grads, trainable_variables)

    optimizer.apply = apply
    optimizer._clinclip_all_reduce = True
    return optimizer


def torch_data_parallel(model):
    """Make a compiled Keras model train data-parallel under `torchrun`.

    The one call a PyTorch user adds to a plain training script: after
    `model.compile(...)`, it joins the process group (when launched by
    `torchrun`), copies rank 0's weights to every process and averages
    the gradients before each step. Alone (no `torchrun`) it changes
    nothing. Feed each process its slice of every global batch.

    Args:
        model: a built, compiled Keras model (torch backend).

    Returns:
        `(rank, world_size)`.

    Example:
    >>> import keras
    >>> if keras.backend.backend() == "torch":
    ...     model = keras.Sequential([keras.Input((2,)),
    ...                               keras.layers.Dense(1)])
    ...     model.compile("sgd", "mse")
    ...     assert torch_data_parallel(model) == (0, 1)
    """
    import keras

    if keras.backend.backend() != "torch":
        raise RuntimeError(
            "torch_data_parallel is for the PyTorch backend; under "
            "TensorFlow use a tf.distribute strategy's scope and under JAX "
            "keras.distribution.DataParallel (docs/training.md)."
        )
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "Call torch_data_parallel(model) after model.compile(...): it "
            "wraps the compiled optimizer."
        )
    rank, world = init_process_group()
    if world > 1:
        broadcast_weights(model)
        all_reduce_gradients(model.optimizer, average=True)
    return rank, world
