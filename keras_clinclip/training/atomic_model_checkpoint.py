"""`keras.callbacks.ModelCheckpoint` that never leaves a half-written file."""

import os

import keras

from keras_clinclip import file_writes


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` writing to a temporary file, then renaming it.

    Keras writes checkpoints in place: a job killed while saving leaves a
    truncated file under the final name. This subclass saves to a
    temporary sibling and renames it atomically, so the file named by
    `filepath` is always complete. It takes the arguments of
    `keras.callbacks.ModelCheckpoint`.

    Args:
        filepath: as for `ModelCheckpoint` (may hold `{epoch}` etc.).
        **kwargs: the other `ModelCheckpoint` arguments.

    Example:
    >>> import os, tempfile, numpy as np, keras
    >>> path = os.path.join(tempfile.mkdtemp(), "e{epoch}.weights.h5")
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
    ...               callbacks=[AtomicModelCheckpoint(
    ...                   path, save_weights_only=True)])
    >>> sorted(os.listdir(os.path.dirname(path)))
    ['e1.weights.h5', 'e2.weights.h5']
    """

    def _save_model(self, epoch, batch, logs):
        final = self._get_file_path(epoch, batch, logs)
        temp = str(file_writes.temp_sibling(final))
        original = self._get_file_path
        self._get_file_path = lambda *args, **kwargs: temp
        try:
            super()._save_model(epoch, batch, logs)
        except BaseException:
            # A full disk: no orphan temporary file is left behind.
            if os.path.exists(temp):
                os.remove(temp)
            raise
        finally:
            self._get_file_path = original
        if os.path.exists(temp):
            file_writes.commit(temp, final)
