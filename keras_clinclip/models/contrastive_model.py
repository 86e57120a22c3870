"""A `keras.Model` whose `compile` takes losses over whole dicts."""

import warnings

import keras
from keras import ops

from keras_clinclip.backend.keras_compat import KerasCompatMixin
from keras_clinclip.backend.keras_compat import functional_subclass
from keras_clinclip.data.strict_images import images_errors_raised


def _as_loss_list(loss):
    if loss is None:
        return []
    if isinstance(loss, (list, tuple)):
        return list(loss)
    if isinstance(loss, dict):
        raise ValueError(
            "ContrastiveModel losses take the whole `y_true`/`y_pred` dicts; "
            "pass a loss or a list of losses, not a dict keyed by output. "
            f"Got keys {sorted(loss)}."
        )
    return [loss]


def _is_tf_dataset(x):
    return hasattr(x, "element_spec") and any(
        (base.__module__ or "").startswith("tensorflow")
        for base in type(x).__mro__
    )


def _batch_keys(x):
    """The input keys of a dict batch (or of a dataset's batches)."""
    if _is_tf_dataset(x):
        x = x.element_spec
        x = x[0] if isinstance(x, tuple) and x else x
    return sorted(x) if isinstance(x, dict) else None


def check_batch_keys(model, x):
    """Raises when a functional model's dict inputs miss batch keys.

    Keras matches a dict batch to a functional model's dict inputs by
    position in the sorted keys, so a batch key the model does not
    declare shifts every later input (Keras then says "Invalid input
    shape ... 'token_ids' (16, 1, 32)", or trains on the wrong arrays).
    Models with their own `call` (`ClinCLIPBackbone` picks its keys) and
    Tasks with a preprocessor are not checked.

    Args:
        model: a Keras model.
        x: what `fit`/`evaluate`/`predict` were given.

    Example:
    >>> import keras
    >>> a = keras.Input((2,), name="images")
    >>> model = keras.Model({"images": a}, keras.layers.Dense(1)(a))
    >>> check_batch_keys(model, {"images": None})
    >>> try:
    ...     check_batch_keys(model, {"images": None, "token_ids": None})
    ... except ValueError as error:
    ...     print(str(error)[:60])
    Functional declares the inputs ['images'] but the batches ha
    """
    declared = getattr(model, "_inputs_struct", None)
    if not isinstance(declared, dict):
        return
    if getattr(type(model).call, "__qualname__", "") != "Functional.call":
        return
    if getattr(model, "preprocessor", None) is not None:
        return
    keys = _batch_keys(x)
    if keys is None or set(keys) == set(declared):
        return
    extra = [key for key in keys if key not in declared]
    missing = sorted(key for key in declared if key not in keys)
    fixes = []
    if extra:
        fixes.append(
            f"declare {extra} too (`keras.Input(shape, name=key)` in the "
            "inputs dict), or drop them from the batch (`dataset.map("
            "lambda x, y: ({k: x[k] for k in KEYS}, y))`)"
        )
    if missing:
        fixes.append(f"the batches lack {missing}")
    raise ValueError(
        f"{type(model).__name__} declares the inputs {sorted(declared)} but "
        f"the batches have {keys}: " + "; ".join(fixes) + ". Keras matches "
        "dict inputs by position, so every key must be declared "
        "(docs/training.md, 'Your own model')."
    )


def _output_names(model):
    structure = getattr(model, "_outputs_struct", None)
    return set(structure) if isinstance(structure, dict) else set()


def _warn_untrained_outputs(model, losses):
    """Warn once when a graph branch gets no gradient from the losses.

    The graph source of the soft targets is under stop-gradient, so only
    a loss that reads `graph_embeddings` with gradient (`GraphAlignment`)
    trains the graph encoder. Losses that do not declare what they train
    (`trained_keys`) are assumed to train anything.
    """
    if "graph_embeddings" not in _output_names(model) or not losses:
        return
    trained = set()
    for loss in losses:
        keys = getattr(loss, "trained_keys", None)
        if keys is None:
            return
        trained |= set(keys)
    if "graph_embeddings" in trained:
        return
    if getattr(model, "_warned_untrained_graph", False):
        return
    model._warned_untrained_graph = True
    warnings.warn(
        f"{type(model).__name__} has a graph branch (`graph_embeddings`) "
        "but no compiled loss trains it: the graph source of the soft "
        "targets is stop-gradient, so the graph encoder's weights will not "
        "change. Add `keras_clinclip.losses.GraphAlignment()` to the losses "
        "(`loss=[SoftLabelContrastive(), GraphAlignment()]`), or build the "
        "model without a graph branch.",
        stacklevel=3,
    )


class ContrastiveLossMixin(KerasCompatMixin):
    """Mixin that routes whole `y_true`/`y_pred` dicts to the losses.

    Keras's `compile(loss=...)` maps a single loss onto *each* output of a
    dict-output model, which is wrong for contrastive losses that need
    several outputs at once (image and text embeddings, logit scale,
    negations, graph embeddings). This mixin keeps the losses given to
    `compile` aside and calls each one as `loss(y_true, y_pred)` with the
    full dicts; a list of losses is summed, optionally weighted with
    `loss_weights` (a list of floats). Regularization losses added by
    layers are added as usual.

    Use it for your own models by listing it before the Keras base class:
    `class MyModel(ContrastiveLossMixin, keras.Model)`.

    Losses whose `uses_training_step` is true (a `soft_weight` schedule) get
    the optimizer's step count as `y_pred["training_step"]`.

    Example:
    >>> import keras
    >>> import numpy as np
    >>> from keras_clinclip.losses import SoftLabelContrastive
    >>> class TwoTowers(ContrastiveLossMixin, keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.image = keras.layers.Dense(4)
    ...         self.text = keras.layers.Dense(4)
    ...     def call(self, x):
    ...         image = self.image(x["images"])
    ...         return {
    ...             "image_embeddings": image,
    ...             "text_embeddings": self.text(x["texts"]),
    ...             "logit_scale": keras.ops.ones_like(image[:, :1]) * 10.0,
    ...         }
    >>> model = TwoTowers()
    >>> model.compile(optimizer="sgd", loss=SoftLabelContrastive(sources=()))
    >>> rng = np.random.default_rng(0)
    >>> x = {"images": rng.random((8, 3), "float32"),
    ...      "texts": rng.random((8, 5), "float32")}
    >>> y = {"labels": np.zeros((8, 14), "float32")}
    >>> history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    >>> bool(np.isfinite(history.history["loss"][0]))
    True
    """

    def default_compile_arguments(self, optimizer, loss, loss_weights=None):
        """Resolves `"auto"`: Keras's `"rmsprop"` and no loss.

        The one hook for compile defaults: `ClinCLIPCompileMixin` overrides
        it with the ClinCLIP defaults; `compile` itself is defined once.

        Args:
            optimizer: `"auto"` or anything `keras.Model.compile` takes.
            loss: `"auto"`, None, a loss or a list of losses.
            loss_weights: None (equal weights) or one float per loss.

        Returns:
            `(optimizer, loss, loss_weights)`.

        Example:
        >>> ContrastiveLossMixin().default_compile_arguments("auto", "auto")
        ('rmsprop', None, None)
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = "rmsprop"
        if isinstance(loss, str) and loss == "auto":
            loss = None
        return optimizer, loss, loss_weights

    def compile(
        self, optimizer="auto", loss="auto", loss_weights=None, **kwargs
    ):
        """Configures training; the losses see the whole dicts.

        Args:
            optimizer: `"auto"` (the model's default, see
                `default_compile_arguments`) or any Keras optimizer.
            loss: `"auto"`, a loss taking `(y_true, y_pred)` dicts, or a
                list of them.
            loss_weights: list of floats, one per loss (None: those of the
                `"auto"` loss, else equal).
            **kwargs: passed to `keras.Model.compile`.
        """
        optimizer, loss, loss_weights = self.default_compile_arguments(
            optimizer, loss, loss_weights
        )
        losses = _as_loss_list(loss)
        losses = [keras.losses.get(item) for item in losses]
        if loss_weights is None:
            weights = [1.0] * len(losses)
        else:
            weights = [float(w) for w in _as_loss_list(loss_weights)]
            if len(weights) != len(losses):
                raise ValueError(
                    f"`loss_weights` has {len(weights)} entries but "
                    f"{len(losses)} losses were given."
                )
        self.contrastive_losses = losses
        self.contrastive_loss_weights = weights
        _warn_untrained_outputs(self, losses)
        super().compile(optimizer=optimizer, loss=None, **kwargs)
        self._patch_compiled_optimizer()
        # Record the real losses so that `.keras` files recompile on load.
        self._compile_config.config["loss"] = losses or None
        self._compile_config.config["loss_weights"] = weights or None

    def compile_from_config(self, config):
        # Keras skips recompiling, on load, a model whose `compile` is
        # overridden unless this is overridden too; `.keras` files then
        # come back with their contrastive losses.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built and getattr(self, "optimizer", None) is not None:
            self.optimizer.build(self.trainable_variables)

    # A bad image of a `make_dataset` dataset stops TensorFlow's graph;
    # these raise its `ImageDecodeError` instead of TF's error.
    def fit(self, x=None, y=None, *args, shuffle=None, **kwargs):
        # Keras ignores `shuffle` for a `tf.data.Dataset` but warns when it
        # is True, its default: the datasets shuffle themselves.
        if shuffle is None:
            shuffle = not _is_tf_dataset(x)
        check_batch_keys(self, x)
        with images_errors_raised(x, kwargs.get("validation_data")):
            return super().fit(x, y, *args, shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        check_batch_keys(self, x)
        with images_errors_raised(x):
            return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        check_batch_keys(self, x)
        with images_errors_raised(x):
            return super().predict(x, *args, **kwargs)

    def _training_step(self):
        """The optimizer's step count (a traced value under JAX's fit)."""
        step = getattr(self, "_contrastive_step_override", None)
        if step is not None:
            return step
        optimizer = getattr(self, "optimizer", None)
        if optimizer is None:
            return None
        return optimizer.iterations

    def compute_loss_and_updates(
        self, *args, optimizer_variables=None, **kwargs
    ):
        # JAX only: read the step from the optimizer state being traced,
        # not from the variable (whose value would be frozen into the jit).
        step = None
        optimizer = getattr(self, "optimizer", None)
        if optimizer_variables is not None and optimizer is not None:
            for ref, value in zip(optimizer.variables, optimizer_variables):
                if ref is optimizer.iterations:
                    step = value
        self._contrastive_step_override = step
        try:
            return super().compute_loss_and_updates(
                *args, optimizer_variables=optimizer_variables, **kwargs
            )
        finally:
            self._contrastive_step_override = None

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        del x, training
        terms = []
        for loss, weight in zip(
            getattr(self, "contrastive_losses", []),
            getattr(self, "contrastive_loss_weights", []),
        ):
            if getattr(loss, "uses_training_step", False) and isinstance(
                y_pred, dict
            ):
                step = self._training_step()
                if step is not None:
                    y_pred = dict(
                        y_pred, training_step=ops.cast(step, "float32")
                    )
            value = loss(y, y_pred, sample_weight=sample_weight)
            if weight != 1.0:
                value = ops.multiply(value, weight)
            terms.append(ops.cast(value, "float32"))
        for extra in self.losses:
            terms.append(
                ops.cast(self._aggregate_additional_loss(extra), "float32")
            )
        if not terms:
            # Keras's TensorFlow trainer raises here and its JAX trainer
            # would train on a loss of 0.0: the same error everywhere.
            raise ValueError(
                f"No loss to compute: `{type(self).__name__}.compile()` was "
                "given no loss and no layer adds one. Pass `loss=`, e.g. "
                "`model.compile(optimizer, loss=keras_clinclip.losses."
                "SoftLabelContrastive())`."
            )
        total = terms[0]
        for term in terms[1:]:
            total = ops.add(total, term)
        return total


@keras.saving.register_keras_serializable(package="keras_clinclip")
class ContrastiveModel(ContrastiveLossMixin, keras.Model):
    """A `keras.Model` (functional or subclassed) for contrastive losses.

    Build it like any Keras model; `compile(loss=...)` then passes the full
    `y_true` and `y_pred` dicts to each loss (see `ContrastiveLossMixin`).

    Example:
    >>> import numpy as np
    >>> import keras
    >>> from keras_clinclip.models import ContrastiveModel
    >>> class Gap(keras.losses.Loss):
    ...     def call(self, y_true, y_pred):
    ...         d = y_pred["a"] - y_pred["b"]
    ...         return keras.ops.mean(d * d, axis=-1)
    >>> x = keras.Input((3,))
    >>> model = ContrastiveModel(
    ...     x, {"a": keras.layers.Dense(2)(x), "b": keras.layers.Dense(2)(x)}
    ... )
    >>> model.compile(optimizer="sgd", loss=Gap())
    >>> data = np.ones((4, 3), "float32")
    >>> labels = {"labels": np.zeros((4, 1), "float32")}
    >>> history = model.fit(data, labels, epochs=1, verbose=0)
    >>> len(history.history["loss"])
    1
    """

    def __new__(cls, *args, **kwargs):
        # A functional call gets a subclass of its own, so that the class
        # stays subclassable (keras_compat.FUNCTIONAL_SUBCLASS_BASES).
        cls = functional_subclass(cls, args, kwargs)
        return super().__new__(cls, *args, **kwargs)
