"""`model.fit` that resumes mid-epoch from a `TrainingStateBackup`."""

import contextlib
import signal
import threading

import keras

from keras_clinclip.training.training_state_backup import TrainingStateBackup


class StopOnInterrupt(keras.callbacks.Callback):
    """Ctrl-C (SIGINT) stops `fit` at the next batch end, on every engine.

    Python's own handler raises `KeyboardInterrupt` wherever the main
    thread happens to be; under JAX that is often inside a callback from
    compiled code, where the exception is lost and training goes on. While
    `catching()` is active, SIGINT only sets a flag, and this callback
    raises `KeyboardInterrupt` at the next batch end, a safe point; a
    second Ctrl-C raises at once.

    Example:
    >>> stop = StopOnInterrupt()
    >>> with stop.catching():
    ...     stop.requested = True
    ...     try:
    ...         stop.on_train_batch_end(0)
    ...     except KeyboardInterrupt:
    ...         print("stopped")
    stopped
    """

    def __init__(self):
        super().__init__()
        self.requested = False

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def catching(self):
        """Route SIGINT to this callback (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def _check(self):
        if self.requested:
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_test_batch_end(self, batch, logs=None):
        self._check()


def stream_from(data, start_step):
    """An endless stream of batches starting at global batch `start_step`.

    Args:
        data: a one-epoch `tf.data.Dataset` (repeated here) or a callable
            `start_step -> dataset`.
        start_step: the global batch to start from.

    Example:
    >>> import tensorflow as tf
    >>> data = tf.data.Dataset.range(3)
    >>> [int(x) for x in stream_from(data, 2).take(3)]
    [2, 0, 1]
    """
    if callable(data):
        return data(start_step)
    # A finite `tf.data.Dataset` of one epoch: repeat it. Exact replay needs a
    # factory instead (e.g. `make_dataset(...,
    # options=PipelineOptions(start_step=...))`): the reshuffle seeds of a
    # `shuffle` are shared by all iterators of one dataset object, so a second
    # iterator continues their sequence.
    stream = data.repeat().skip(start_step)
    if getattr(data, "error_log", None) is not None:
        # Lets `fit` raise a bad image as its `ImageDecodeError`.
        stream.error_log = data.error_log
    return stream


def fit_with_resume(
    model,
    data,
    epochs,
    steps_per_epoch,
    callbacks=(),
    validation_data=None,
    verbose=1,
):
    """Train `model` for `epochs * steps_per_epoch` steps, resuming if needed.

    When `callbacks` holds a `TrainingStateBackup` whose directory has a
    saved state, the model and optimizer are restored, the batches already
    consumed are skipped, the interrupted epoch is finished, then the
    remaining epochs run: the restarted job ends with the same number of
    optimizer steps, on the same batches, as an uninterrupted one. The
    random state of the model's seed generators (dropout) and the CSV log
    are put back from the backup too.

    Args:
        model: a compiled, built Keras model.
        data: a callable `start_step -> tf.data.Dataset` that builds an
            endless, deterministic stream of batches from global batch
            `start_step`, such as `lambda step: make_dataset(records,
            preprocessor, training=True,
            options=PipelineOptions(start_step=step))` (needed for an
            exact resume: tf.data shares the reshuffle seeds of one
            dataset object among its iterators),
            or a one-epoch `tf.data.Dataset` (repeated; fine for runs that
            never resume).
        epochs: total epochs of the run.
        steps_per_epoch: optimizer steps per epoch.
        callbacks: Keras callbacks (see `build_callbacks`).
        validation_data: optional data for `fit`'s validation.
        verbose: Keras verbosity.

    Returns:
        `(history, start_step)`: a dict of metric lists over the epochs run
        by this call, and the step the run resumed from (0 when fresh).

    Example:
    >>> import tempfile, numpy as np, keras, tensorflow as tf
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> data = tf.data.Dataset.from_tensor_slices(
    ...     (np.ones((8, 2), "float32"), np.ones((8, 1), "float32"))
    ... ).batch(2)
    >>> backup = TrainingStateBackup(tempfile.mkdtemp(), save_freq=1)
    >>> history, start = fit_with_resume(model, data, epochs=2,
    ...     steps_per_epoch=4, callbacks=[backup], verbose=0)
    >>> int(model.optimizer.iterations), start, len(history["loss"])
    (8, 0, 2)
    """
    callbacks = list(callbacks)
    backups = [c for c in callbacks if isinstance(c, TrainingStateBackup)]
    start = 0
    if backups:
        start = TrainingStateBackup.restore(
            model, backups[0].backup_dir, log_csv=backups[0].log_csv
        )
    total = int(epochs) * int(steps_per_epoch)
    history = {}
    if start >= total:
        if verbose:
            print(f"Training already complete ({start}/{total} steps).")
        return history, start
    epoch, batch = divmod(start, int(steps_per_epoch))
    if start and verbose:
        print(
            f"Resuming from step {start}: epoch {epoch + 1}, batch {batch} "
            f"(backup {backups[0].backup_dir})."
        )
    plan = []
    if batch:
        plan.append((epoch, epoch + 1, int(steps_per_epoch) - batch))
        epoch += 1
    if epoch < epochs:
        plan.append((epoch, int(epochs), int(steps_per_epoch)))
    step = start
    stop = StopOnInterrupt()
    for initial_epoch, end_epoch, steps in plan:
        with stop.catching():
            result = model.fit(
                stream_from(data, step),
                initial_epoch=initial_epoch,
                epochs=end_epoch,
                steps_per_epoch=steps,
                validation_data=validation_data,
                callbacks=[stop, *callbacks],
                verbose=verbose,
                # The stream is shuffled (seeded) already.
                shuffle=False,
            )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values)
        step += (end_epoch - initial_epoch) * steps
    return history, start
