"""`ErrorLog`: what a dataset skipped or masked, counted per epoch."""

import logging
import threading

logger = logging.getLogger("keras_clinclip.data")


class RecordError(ValueError):
    """A bad record (empty report, bad label, missing image file) that
    `make_dataset` refuses with `PipelineOptions(on_error="raise")`; the
    message names its row, counted from 1, and the fix.

    Example:
    >>> issubclass(RecordError, ValueError)
    True
    """


class ErrorLog:
    """Counts the samples skipped with `on_error="skip"` and the negated
    reports masked by the collision guard.

    `make_dataset` attaches one to the dataset it returns
    (`dataset.error_log`); a summary is logged (logger
    `keras_clinclip.data`, level WARNING) at the end of every epoch in
    which samples were skipped or negations masked.

    Attributes:
        skipped: list of `(row, source, reason)` skipped in the records
            before the first epoch (bad labels, empty reports, missing
            files); they are left out of every epoch.
        masked_negations: list of `(row, slot, source)` of the negated
            reports whose token ids equal their report's after
            preprocessing; found before the first epoch, their
            `negation_mask` is 0 in every epoch.
        epoch_errors: `(row, source, reason)` of the current epoch.
        epochs: the list of per-epoch summaries logged so far.
        fatal: with `on_error="raise"`, the first `ImageDecodeError` of
            the pass, raised by the dataset's iterator (else None).

    Example:
    >>> log = ErrorLog()
    >>> log.add(3, "a.png", "not a readable image")
    >>> log.end_epoch()["skipped"]
    1
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.skipped = []
        self.masked_negations = []
        self.epoch_errors = []
        self.epochs = []
        self.fatal = None

    def keep_fatal(self, error):
        """Keep `error` as `fatal` unless one is kept already."""
        with self._lock:
            if self.fatal is None:
                self.fatal = error

    def add(self, row, source, reason):
        with self._lock:
            self.epoch_errors.append((int(row), str(source), str(reason)))

    def end_epoch(self):
        """Log and return the summary of the epoch just ended."""
        with self._lock:
            errors, self.epoch_errors = self.epoch_errors, []
        summary = {
            "skipped": len(errors) + len(self.skipped),
            "decode_errors": errors,
            "record_errors": list(self.skipped),
            "masked_negations": len(self.masked_negations),
        }
        self.epochs.append(summary)
        if summary["skipped"]:
            examples = (errors + self.skipped)[:3]
            logger.warning(
                "keras_clinclip.data: skipped %d sample(s) this epoch "
                "(%d unreadable images, %d bad records); first: %s",
                summary["skipped"],
                len(errors),
                len(self.skipped),
                "; ".join(f"row {r} ({s}): {m}" for r, s, m in examples),
            )
        if self.masked_negations:
            logger.warning(
                "keras_clinclip.data: %d negated report(s) masked "
                "(negation_mask 0) this epoch: their token ids equal their "
                "report's after preprocessing; first: %s",
                len(self.masked_negations),
                "; ".join(
                    f"row {r} slot {k} ({s})"
                    for r, k, s in self.masked_negations[:3]
                ),
            )
        return summary

    @property
    def total(self):
        """Samples skipped over all epochs so far."""
        return sum(summary["skipped"] for summary in self.epochs)
