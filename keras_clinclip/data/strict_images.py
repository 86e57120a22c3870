"""A bad image under `on_error="raise"`: the `ImageDecodeError` itself.

`make_dataset` decodes files in a `tf.numpy_function`; an exception raised
there would reach the user as TensorFlow's `InvalidArgumentError`
("{{function_node ...}}") after a Python traceback logged by every
parallel map call. Instead the loader keeps the error in a side channel
(`ErrorLog.fatal`) and returns a flag and a one-line message; the graph
stops on the flag with that message (one short TensorFlow log line), and
the dataset's iterator (JAX, PyTorch, plain iteration) or the model's
`fit`/`evaluate`/`predict` (`images_errors_raised`, TensorFlow) raise the
kept `ImageDecodeError`, naming the file and the records row (from 1).
"""

import contextlib

import numpy as np

from keras_clinclip.data import images as image_io

_EMPTY = np.zeros((1, 1, 1), np.uint8)


def load_image_fn(paths, log, on_error, reduce_to=None):
    """`row -> (image (H, W, 1) uint8, ok, message)` for `numpy_function`.

    A file that fails to decode is counted in `log` (`on_error="skip"`)
    or kept as `log.fatal` with its row (`"raise"`); it never raises.

    Args:
        paths: the image path of each records row.
        log: the dataset's `ErrorLog`.
        on_error: `"raise"` or `"skip"`.
        reduce_to: passed to `decode_image` (JPEGs decoded at a reduced
            size whose sides stay >= it).

    Returns:
        The loader, a function of the row index.

    Example:
    >>> from keras_clinclip.data.error_log import ErrorLog
    >>> log = ErrorLog()
    >>> load = load_image_fn(["absent.png"], log, "raise")
    >>> image, ok, message = load(0)
    >>> bool(ok), message.decode()
    (False, 'records row 1: absent.png: image file not found.')
    >>> log.fatal is not None
    True
    """

    def load(row):
        row = int(row)
        path = paths[row]
        try:
            image = image_io.decode_image(path, reduce_to=reduce_to)
        except image_io.ImageDecodeError as error:
            if on_error != "raise":
                log.add(row, path, error)
                return _EMPTY, False, b""
            fatal = image_io.ImageDecodeError(f"records row {row + 1}: {error}")
            fatal.__cause__ = error
            log.keep_fatal(fatal)
            return _EMPTY, False, str(fatal).encode()
        return image[..., None], True, b""

    return load


def stop_on_failure(tf, image, ok, message):
    """`image`, after an in-graph check that stops the pass on `ok=False`.

    Args:
        tf: the `tensorflow` module.
        image: the decoded image tensor.
        ok: a scalar bool tensor, false when the file failed to decode.
        message: a scalar string tensor, the error's one line.

    Returns:
        `image`, computed only after the check passed.

    Example:
    >>> import tensorflow as tf
    >>> stop_on_failure(tf, tf.ones([1]), tf.constant(True), "").numpy()
    array([1.], dtype=float32)
    """
    check = tf.debugging.Assert(ok, [message])
    with tf.control_dependencies([check]):
        return tf.identity(image)


@contextlib.contextmanager
def images_errors_raised(*datasets):
    """Re-raise a TensorFlow error of a bad image as its `ImageDecodeError`.

    Args:
        *datasets: what a model was given (`x`, `validation_data`); those
            made by `make_dataset` carry an `error_log`.

    Returns:
        A context manager.

    Example:
    >>> from keras_clinclip.data.error_log import ErrorLog
    >>> class Data:
    ...     error_log = ErrorLog()
    >>> data = Data()
    >>> try:
    ...     with images_errors_raised(data):
    ...         data.error_log.keep_fatal(image_io.ImageDecodeError("a.png"))
    ...         raise RuntimeError("{{function_node ...}}")
    ... except image_io.ImageDecodeError as error:
    ...     print(error)
    a.png
    """
    logs = [getattr(d, "error_log", None) for d in datasets]
    logs = [log for log in logs if log is not None]
    for log in logs:
        log.fatal = None
    try:
        yield
    except Exception as error:
        _raise_kept(logs, error)
        raise


def _raise_kept(logs, error):
    for log in logs:
        fatal = log.fatal
        if fatal is not None and fatal is not error:
            log.fatal = None
            raise fatal from fatal.__cause__


class _Iterator:
    def __init__(self, iterator, log):
        self._iterator = iterator
        self._log = log

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._iterator)
        except Exception as error:
            _raise_kept([self._log], error)
            raise

    def __getattr__(self, name):
        return getattr(self._iterator, name)


_CLASSES = {}


def raise_image_errors(dataset, log):
    """`dataset`, whose iterators raise a bad image's `ImageDecodeError`.

    Args:
        dataset: a `tf.data.Dataset` made by `make_dataset`.
        log: its `ErrorLog`.

    Returns:
        The same dataset object (its class swapped for a subclass whose
        `__iter__` wraps the iterator).

    Example:
    >>> import tensorflow as tf
    >>> from keras_clinclip.data.error_log import ErrorLog
    >>> log = ErrorLog()
    >>> def load(i):
    ...     log.keep_fatal(image_io.ImageDecodeError("row 1: a.png"))
    ...     raise ValueError("what TensorFlow would say")
    >>> data = tf.data.Dataset.range(2).map(
    ...     lambda i: tf.numpy_function(load, [i], tf.int64))
    >>> try:
    ...     list(raise_image_errors(data, log))
    ... except image_io.ImageDecodeError as error:
    ...     print(error)
    row 1: a.png
    """
    base = type(dataset)
    if base not in _CLASSES:

        def __iter__(self):
            self.error_log.fatal = None
            return _Iterator(base.__iter__(self), self.error_log)

        # Same name and module as TensorFlow's class: code that tells a
        # dataset by its class's module (`fit`'s `shuffle` default) still
        # sees a `tf.data.Dataset`.
        _CLASSES[base] = type(
            base.__name__,
            (base,),
            {"__iter__": __iter__, "__module__": base.__module__},
        )
    dataset.__class__ = _CLASSES[base]
    dataset.error_log = log
    return dataset
