"""Feeding one global batch to many devices and processes (tf.data).

The contrastive loss needs the negatives of the whole global batch, so
every engine must see exactly the global batches of a single-process run:
`take_rows` gives each process its contiguous slice of each batch, and
`local_stream` wraps a stream for the engine set-up of this process.
"""


def dataset_options(autotune=False, deterministic=True):
    """The `tf.data.Options` of our pipelines.

    `autotune=False` (default) turns off tf.data's autotuning thread. While
    it runs, deleting an iterator, which `fit` does at the end of every
    epoch, waits for the thread's next wake-up: up to 5 s per epoch (and
    per `fit`/`evaluate` call), measured on all three backends (see
    `docs/performance.md`, "training"). Without it, `AUTOTUNE` map
    parallelism means one call per CPU core and `prefetch(AUTOTUNE)` still
    grows its buffer as needed. Pass `autotune=True` to get tf.data's
    model-based tuning back (e.g. for long epochs on many cores).

    Args:
        autotune: keep tf.data's autotuning thread.
        deterministic: keep the order of elements (reproducible epochs).

    Returns:
        A `tf.data.Options`, for `dataset.with_options(...)`.

    Example:
    >>> import tensorflow as tf
    >>> ds = tf.data.Dataset.range(4).with_options(dataset_options())
    >>> ds.options().autotune.enabled
    False
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    options.autotune.enabled = bool(autotune)
    return options


def take_rows(dataset, index, count):
    """Rows `[index * b, (index + 1) * b)` of every batch, b = batch / count.

    Each process of a data-parallel job reads the same global batches and
    keeps its contiguous slice, so the global batch (the negatives of the
    contrastive loss) is exactly the single-process one.

    Args:
        dataset: a `tf.data.Dataset` of (nested) batched tensors.
        index: this process's index.
        count: the number of processes; must divide the batch size.

    Example:
    >>> import numpy as np, tensorflow as tf
    >>> data = tf.data.Dataset.from_tensor_slices(np.arange(8)).batch(4)
    >>> [b.numpy().tolist() for b in take_rows(data, 1, 2)]
    [[2, 3], [6, 7]]
    """
    import tensorflow as tf

    def cut(tensor):
        size = tf.shape(tensor)[0] // count
        return tensor[index * size : (index + 1) * size]

    def take(*batch):
        return tf.nest.map_structure(cut, batch if len(batch) > 1 else batch[0])

    return dataset.map(take)


def local_stream(stream, setup, global_batch_size):
    """Wrap a `start_step -> dataset` stream for this process of `setup`.

    - torch with several processes: this rank's rows of each batch;
    - TensorFlow with several workers: a `distribute_datasets_from_function`
      dataset in which worker w feeds its local replicas the rows of its
      contiguous slice (TensorFlow's auto-sharding would instead give the
      workers different global batches);
    - otherwise the stream unchanged (`fit` splits the batch over local
      replicas, or JAX sees the global batch).

    Args:
        stream: a callable `start_step -> tf.data.Dataset` of global
            batches.
        setup: the engine set-up (`keras_clinclip.backend.engines`): its
            `engine`, `num_processes`, `process_index` and, on
            TensorFlow, `strategy` are read.
        global_batch_size: the global batch size.

    Returns:
        A callable `start_step -> dataset` for `fit`.

    Example:
    >>> import types, tensorflow as tf
    >>> setup = types.SimpleNamespace(engine="jax", num_processes=1)
    >>> stream = lambda start: tf.data.Dataset.range(8).batch(2).skip(start)
    >>> local_stream(stream, setup, 2) is stream
    True
    """
    if setup.engine == "torch" and setup.num_processes > 1:
        return lambda start: take_rows(
            stream(start), setup.process_index, setup.num_processes
        )
    if setup.engine != "tensorflow" or setup.num_processes <= 1:
        return stream
    strategy = setup.strategy
    if global_batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"`batch_size` {global_batch_size} is not divisible by the "
            f"{strategy.num_replicas_in_sync} replicas."
        )

    def distributed(start):
        def per_worker(context):
            per_replica = context.get_per_replica_batch_size(global_batch_size)
            rows = take_rows(
                stream(start),
                context.input_pipeline_id,
                context.num_input_pipelines,
            )
            return rows.unbatch().batch(per_replica, drop_remainder=True)

        return strategy.distribute_datasets_from_function(per_worker)

    return distributed
