"""`TrainingData`: the data of a run, and what `on_error="skip"` left out."""

import dataclasses


@dataclasses.dataclass
class TrainingData:
    """The data of a run, as `train` consumes it.

    Args:
        train: a one-epoch `tf.data.Dataset` of global batches `(x, y)` with
            a seeded shuffle, or a callable `start_step -> dataset` giving
            an endless deterministic stream (see `fit_with_resume`).
        steps_per_epoch: optimizer steps per epoch.
        validation: optional validation dataset.
        records: optional dict of record columns (for evaluation).
        preprocessor: optional preprocessor used to tokenize/convert.
        error_logs: the `ErrorLog`s of the datasets built so far (see
            `keras_clinclip.data.make_dataset`'s `on_error`), summed up by
            `skipped_summary`.
        negation_mask: the `(N, K)` negation mask of the training rows as
            the stream reads them (sizes `negation_capacity`), or None.
        notes: lines for the user about the data (e.g. why validation
            is skipped), printed once when the run starts.

    Example:
    >>> TrainingData(train=None, steps_per_epoch=3).steps_per_epoch
    3
    """

    train: object
    steps_per_epoch: int
    validation: object = None
    records: object = None
    preprocessor: object = None
    error_logs: list = dataclasses.field(default_factory=list)
    negation_mask: object = None
    notes: list = dataclasses.field(default_factory=list)


def skipped_summary(data):
    """What `on_error="skip"` left out of a run's data.

    Args:
        data: a `TrainingData`.

    Returns:
        A dict: `records` (bad rows left out before training: empty
        report, bad label, missing file), `images` (distinct rows whose
        image could not be decoded when read) and `examples` (up to 3
        `"row R (source): reason"` strings).

    Example:
    >>> from keras_clinclip.data import ErrorLog
    >>> log = ErrorLog()
    >>> log.add(7, "a.png", "not an image")
    >>> summary = skipped_summary(TrainingData(None, 1, error_logs=[log]))
    >>> summary["records"], summary["images"]
    (0, 1)
    """
    records, images, examples = {}, {}, []
    for log in data.error_logs:
        for row, source, reason in log.skipped:
            records[(row, source)] = reason
        errors = list(log.epoch_errors)
        for summary in log.epochs:
            errors.extend(summary["decode_errors"])
        for row, source, reason in errors:
            images[(row, source)] = reason
    for (row, source), reason in list(records.items()) + list(images.items()):
        if len(examples) < 3:
            examples.append(f"row {row} ({source}): {reason}")
    return {
        "records": len(records),
        "images": len(images),
        "examples": examples,
    }
