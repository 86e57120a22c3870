"""Workarounds for Keras bugs: one module, each gated on Keras's version.

Each `Workaround` names the bug, the first Keras release known to have it
and the last one checked (`checked`). It is active from `first` on: a
newer Keras keeps it until `tests/backend/test_keras_compat.py`, which
reproduces every bug on the *unpatched* Keras, fails because the bug is
gone; then set `fixed_in` and the workaround switches itself off.

The workarounds reach users without any call: `ContrastiveLossMixin`
(hence `ClinCLIPBackbone`, `ClinCLIPPretrainer` and `ContrastiveModel`)
inherits `KerasCompatMixin`, and its `compile` patches the optimizer it is
given (`_patch_compiled_optimizer`). `patch_model` applies the same fixes
to another model instance.

`KERAS_CLINCLIP_WORKAROUNDS_OFF=name,name` switches workarounds off (to
check whether the installed Keras still needs them).
"""

import dataclasses
import os

import keras

__all__ = [
    "KERAS_VERSION",
    "WORKAROUNDS",
    "KerasCompatMixin",
    "Workaround",
    "batch_size_at_run_time",
    "clip_after_reduce",
    "patch_model",
]

KERAS_VERSION = tuple(
    int(part) for part in keras.version().split(".")[:3] if part.isdigit()
)


@dataclasses.dataclass(frozen=True)
class Workaround:
    """A Keras bug worked around here, and the versions that have it.

    Args:
        name: a short identifier.
        bug: what goes wrong without the workaround.
        first: the first Keras version known to have the bug.
        checked: the newest version on which the bug was reproduced.
        fixed_in: the first version without the bug (None: not yet).

    Example:
    >>> w = Workaround("demo", "a bug", first=(3, 0, 0), checked=(3, 1, 0),
    ...                fixed_in=(3, 2, 0))
    >>> w.active((3, 1, 5)), w.active((3, 2, 0))
    (True, False)
    """

    name: str
    bug: str
    first: tuple
    checked: tuple
    fixed_in: tuple = None

    def active(self, version=None):
        """Whether Keras `version` (default: the installed one) needs it."""
        off = os.environ.get("KERAS_CLINCLIP_WORKAROUNDS_OFF", "")
        if self.name in off.split(","):
            return False
        version = KERAS_VERSION if version is None else tuple(version)
        if version < self.first:
            return False
        return self.fixed_in is None or version < self.fixed_in


TF_DISTRIBUTED_BUILD = Workaround(
    "tf_distributed_build",
    "Under a tf.distribute strategy, fit/evaluate build the model from a "
    "first batch reduced with strategy.reduce('MEAN', batch): boolean "
    "padding masks fail (AddN on bool) and, under "
    "MultiWorkerMirroredStrategy, so does any dict batch.",
    first=(3, 0, 0),
    checked=(3, 15, 1),
)
TF_MULTI_WORKER_SCALAR_LOGS = Workaround(
    "tf_multi_worker_scalar_logs",
    "Under MultiWorkerMirroredStrategy each step's logs are reduced with "
    "strategy.reduce('MEAN', v, axis=0), which fails on scalar losses.",
    first=(3, 0, 0),
    checked=(3, 15, 1),
)
TF_DISTRIBUTED_CLIPPING = Workaround(
    "tf_distributed_clipping",
    "Under a tf.distribute strategy, global_clipnorm clips each replica's "
    "gradients by their own norm before the cross-replica sum, so a "
    "clipped step differs from the single-device step.",
    first=(3, 0, 0),
    checked=(3, 15, 1),
)
TF_END_OF_DATA_STEP = Workaround(
    "tf_end_of_data_step",
    "A dataset whose length Keras does not know is read until the "
    "end-of-sequence error of the compiled step; the step's updates that "
    "do not read the batch may still run (always under a tf.distribute "
    "strategy, often without): the loss tracker counts one more batch of "
    "the static batch size and `evaluate` reports the loss times n/(n+1) "
    "(n batches). `fit` on such data can also count one optimizer step "
    "too many; the training stream is endless, so only evaluation is "
    "patched, by reading the batch size from the batch at run time.",
    first=(3, 0, 0),
    checked=(3, 15, 1),
)
FUNCTIONAL_SUBCLASS_BASES = Workaround(
    "functional_subclass_bases",
    "Calling a Model subclass functionally (`inputs=`, `outputs=`) "
    "rewrites the bases of that class in place (Model -> Functional), so "
    "every later subclass of it that calls `super().__init__()` without "
    'inputs fails with "Functional.__init__() missing 2 required '
    'positional arguments".',
    first=(3, 0, 0),
    checked=(3, 15, 1),
)
WORKAROUNDS = (
    FUNCTIONAL_SUBCLASS_BASES,
    TF_DISTRIBUTED_BUILD,
    TF_MULTI_WORKER_SCALAR_LOGS,
    TF_DISTRIBUTED_CLIPPING,
    TF_END_OF_DATA_STEP,
)


_FUNCTIONAL_SUBCLASSES = {}


def functional_subclass(cls, args, kwargs):
    """The class a functional call `cls(inputs, outputs)` should build.

    With `FUNCTIONAL_SUBCLASS_BASES` active and a functional call, a
    subclass of `cls` and Keras's `Functional`, made once per class, with
    the name and module of `cls` (so that saved models load as `cls`):
    Keras finds `Functional` among its bases and leaves the bases of `cls`
    alone. Otherwise `cls`.

    Args:
        cls: a `keras.Model` subclass.
        args: the positional arguments of the call.
        kwargs: its keyword arguments.

    Returns:
        The class to instantiate.

    Example:
    >>> import keras
    >>> class Net(keras.Model):
    ...     pass
    >>> x = keras.Input((2,))
    >>> built = functional_subclass(Net, (), {"inputs": x, "outputs": x})
    >>> issubclass(built, Net), built.__name__, Net.__bases__
    (True, 'Net', (<class 'keras.src.models.model.Model'>,))
    >>> functional_subclass(Net, (), {}) is Net
    True
    """
    from keras.src.models.functional import Functional
    from keras.src.models.model import functional_init_arguments

    if (
        not FUNCTIONAL_SUBCLASS_BASES.active()
        or issubclass(cls, Functional)
        or not functional_init_arguments(args, kwargs)
    ):
        return cls
    if cls not in _FUNCTIONAL_SUBCLASSES:
        made = type(
            cls.__name__,
            (cls, Functional),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
        # Saved under the name of `cls`; that name now loads `made` (a
        # saved functional model of `cls` is one).
        registered = keras.saving.get_registered_name(cls)
        if ">" in registered:
            package, name = registered.split(">", 1)
            keras.saving.register_keras_serializable(package, name)(made)
        _FUNCTIONAL_SUBCLASSES[cls] = made
    return _FUNCTIONAL_SUBCLASSES[cls]


def _strategy(model):
    if keras.backend.backend() != "tensorflow":
        return None
    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is None or strategy.num_replicas_in_sync <= 1:
        return None
    return strategy


def _multi_worker(strategy):
    import tensorflow as tf

    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def _symbolic_build(model, iterator=None, data_batch=None):
    """Keras's distributed symbolic build, from one replica's batch.

    Only the batch's shapes and dtypes matter for the build, so the first
    replica's local batch serves: no reduction, any dtype, any nesting.
    Nothing is built when every layer already is (a functional model).
    """
    import tensorflow as tf

    strategy = model.distribute_strategy
    if data_batch is None and iterator is not None:
        for _, _, step_iterator in iterator:
            data_batch = next(step_iterator)
            break

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    data_batch = tf.nest.map_structure(local, data_batch)
    with strategy.scope():
        model._symbolic_build(data_batch=data_batch)


def _rank_one_logs(logs):
    """Scalar step logs as shape (1,), which MWMS's reduction accepts."""
    import tensorflow as tf

    return tf.nest.map_structure(
        lambda v: tf.reshape(v, (1,)) if v.shape.rank == 0 else v, logs
    )


def batch_size_at_run_time(data):
    """`data` with the batch dimension of its inputs left unknown.

    Keras weighs each step's loss by the first input's batch size; once
    that size is read from the batch at run time, the end-of-data step
    of `tf_end_of_data_step` no longer adds a phantom batch to the mean.

    Args:
        data: a `(x, y)` or `(x, y, sample_weight)` batch of tensors.

    Returns:
        The same structure; every tensor of `x` of rank >= 1 has an unknown
        first dimension.

    Example:
    >>> import tensorflow as tf
    >>> traced = []
    >>> @tf.function
    ... def step(data):
    ...     x, y = batch_size_at_run_time(data)
    ...     traced.append((x["a"].shape.as_list(), y.shape.as_list()))
    >>> step(({"a": tf.ones((2, 3))}, tf.ones(2)))
    >>> traced
    [([None, 3], [2])]
    """
    import tensorflow as tf

    def relax(value):
        if not isinstance(value, tf.Tensor) or value.shape.rank in (None, 0):
            return value
        shape = tf.TensorShape([None]).concatenate(value.shape[1:])
        return tf.raw_ops.PlaceholderWithDefault(input=value, shape=shape)

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    x = tf.nest.map_structure(relax, x)
    return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)


def clip_after_reduce(optimizer, num_replicas):
    """Clip the cross-replica *sum* of the gradients (TF optimizers).

    Keras clips each replica's gradients by their own global norm before
    the sum (`tf_distributed_clipping`); this moves the clipping after
    it. Returns the optimizer; a no-op with one replica, no
    `global_clipnorm`, or an optimizer already patched.

    Args:
        optimizer: a Keras optimizer (TensorFlow backend).
        num_replicas: replicas in sync.

    Returns:
        The optimizer.

    Example:
    >>> import keras
    >>> optimizer = keras.optimizers.SGD(global_clipnorm=1.0)
    >>> clip_after_reduce(optimizer, 1).global_clipnorm
    1.0
    """
    clip = getattr(optimizer, "global_clipnorm", None)
    if (
        num_replicas <= 1
        or not clip
        or not TF_DISTRIBUTED_CLIPPING.active()
        or getattr(optimizer, "_clinclip_clip_after_reduce", False)
    ):
        return optimizer
    import tensorflow as tf

    original = optimizer._all_reduce_sum_gradients

    def reduce_then_clip(grads_and_vars):
        grads_and_vars = list(original(grads_and_vars))
        grads = [g for g, _ in grads_and_vars]
        clipped, _ = tf.clip_by_global_norm(grads, clip)
        return list(zip(clipped, [v for _, v in grads_and_vars]))

    optimizer.global_clipnorm = None
    optimizer._all_reduce_sum_gradients = reduce_then_clip
    optimizer._clinclip_clip_after_reduce = True
    return optimizer


class KerasCompatMixin:
    """Applies the active workarounds to a Keras model class.

    `ContrastiveLossMixin` inherits it, so every ClinCLIP model trains
    with plain `model.fit` under `tf.distribute` without any extra call.

    Example:
    >>> import keras
    >>> class MyModel(KerasCompatMixin, keras.Model):
    ...     pass
    >>> isinstance(MyModel(), keras.Model)
    True
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if _strategy(self) is None or not TF_DISTRIBUTED_BUILD.active():
            return super()._maybe_symbolic_build(
                iterator=iterator, data_batch=data_batch
            )
        _symbolic_build(self, iterator=iterator, data_batch=data_batch)

    def train_step(self, *args, **kwargs):
        # (data) under TF and torch, (state, data) under JAX.
        return self._compat_logs(super().train_step(*args, **kwargs))

    def test_step(self, *args, **kwargs):
        if (
            keras.backend.backend() == "tensorflow"
            and len(args) == 1
            and TF_END_OF_DATA_STEP.active()
        ):
            args = (batch_size_at_run_time(args[0]),)
        return self._compat_logs(super().test_step(*args, **kwargs))

    def _compat_logs(self, logs):
        strategy = _strategy(self)
        if (
            strategy is not None
            and TF_MULTI_WORKER_SCALAR_LOGS.active()
            and _multi_worker(strategy)
        ):
            return _rank_one_logs(logs)
        return logs

    def _patch_compiled_optimizer(self):
        # Called by `ContrastiveLossMixin.compile` after Keras's compile
        # (not a `compile` of its own: one `compile` per model class).
        strategy = _strategy(self)
        optimizer = getattr(self, "optimizer", None)
        if strategy is not None and optimizer is not None:
            clip_after_reduce(optimizer, strategy.num_replicas_in_sync)


def patch_model(model, sample_batch=None):
    """Apply the active workarounds to one model instance (any class).

    ClinCLIP models need no call (see `KerasCompatMixin`); this is for
    a plain `keras.Model` (`tf_end_of_data_step`) or one trained under
    `tf.distribute`. Call it after `compile`. No-op on other backends.

    Args:
        model: a Keras model created and compiled in a strategy's scope.
        sample_batch: optional `(x, y)` batch used for the symbolic build
            instead of the training iterator's first batch.

    Returns:
        The model.

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.layers.Dense(1)])
    >>> patch_model(model) is model
    True
    """
    if (
        keras.backend.backend() == "tensorflow"
        and TF_END_OF_DATA_STEP.active()
        and not isinstance(model, KerasCompatMixin)
        and not getattr(model, "_clinclip_end_of_data", False)
    ):
        test_step = model.test_step

        def counted_test_step(data):
            return test_step(batch_size_at_run_time(data))

        model.test_step = counted_test_step
        model._clinclip_end_of_data = True
    strategy = _strategy(model)
    if strategy is None:
        return model
    if TF_DISTRIBUTED_BUILD.active():

        def maybe_symbolic_build(iterator=None, data_batch=None):
            if data_batch is None and sample_batch is not None:
                data_batch = sample_batch
                iterator = None
            _symbolic_build(model, iterator=iterator, data_batch=data_batch)

        model._maybe_symbolic_build = maybe_symbolic_build
    if TF_MULTI_WORKER_SCALAR_LOGS.active() and _multi_worker(strategy):
        for name in ("train_step", "test_step"):
            step = getattr(model, name)

            def wrapped(data, step=step):
                return _rank_one_logs(step(data))

            setattr(model, name, wrapped)
    if getattr(model, "optimizer", None) is not None:
        clip_after_reduce(model.optimizer, strategy.num_replicas_in_sync)
    return model
