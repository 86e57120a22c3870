"""`PipelineOptions`: the order, image and reading stages of
`make_dataset`."""

import dataclasses

ON_ERROR_MODES = ("raise", "skip")


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """The settings of `make_dataset` beyond its batch, split, image size
    and negations, by stage: the order of the rows (`seed` ...
    `start_step`), the augmentation of the images (`augment`,
    `augmentation`) and the reading (`on_error` ... `autotune`).

    Args:
        seed: the seed of shuffling and augmentation: the same seed gives
            the same batches, epoch by epoch. Default 0.
        shuffle: shuffle the rows (reshuffled every epoch, seeded).
            Default `None`: `make_dataset`'s `training`.
        shuffle_buffer: the shuffle buffer (default `None`: all rows).
        drop_remainder: drop the last partial batch (for distribution).
            Default `None`: `make_dataset`'s `training`.
        shard: `None` (default: tf.data auto-sharding by data under
            `tf.distribute`), or `(num_workers, worker_index)`.
        start_step: `None` (default): one pass over the data, reshuffled
            (and re-augmented) each time it is iterated again, e.g. by
            each epoch of `fit(dataset, epochs=...)`. An int: an endless
            stream of batches that starts at global batch `start_step`;
            the order and the augmentation of data pass `p` are a pure
            function of `(seed, p)`, so every iterator of every dataset
            built with the same options yields the same batches, in any
            process (what an exact resume needs: see
            `keras_clinclip.training.fit_loop.fit_with_resume`).
        augment: apply the augmentation (random resized crop, small
            rotation, brightness and contrast; no horizontal flip unless
            asked). Default `None`: `make_dataset`'s `training`.
        augmentation: `None` (default) or a dict overriding
            `DEFAULT_AUGMENTATION`.
        on_error: `"raise"` (default): a bad row or unreadable image
            raises an error naming the row and file; `"skip"`: it is
            skipped, counted in `dataset.error_log` and summarised in the
            log at the end of each epoch.
        graphs: include the graph arrays when the records have them
            (default True).
        prefetch: prefetch batches (`tf.data.AUTOTUNE` buffer; default
            True).
        num_parallel_calls: parallel decoding (default `None`:
            `tf.data.AUTOTUNE`, one call per CPU core unless `autotune`).
        autotune: run tf.data's autotuning thread (see `dataset_options`;
            default False: it can stall the end of every epoch).

    Example:
    >>> options = PipelineOptions(seed=1, on_error="skip")
    >>> options.seed, options.shuffle, options.prefetch
    (1, None, True)
    """

    seed: int = 0
    shuffle: bool | None = None
    shuffle_buffer: int | None = None
    drop_remainder: bool | None = None
    shard: tuple | None = None
    start_step: int | None = None
    augment: bool | None = None
    augmentation: dict | None = None
    on_error: str = "raise"
    graphs: bool = True
    prefetch: bool = True
    num_parallel_calls: int | None = None
    autotune: bool = False

    def __post_init__(self):
        if self.on_error not in ON_ERROR_MODES:
            raise ValueError(
                f"on_error must be 'raise' or 'skip', got {self.on_error!r}."
            )
