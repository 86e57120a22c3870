"""A clear error when Keras's own `compile` is given a whole-dict loss.

Our losses (`SoftLabelContrastive`, `SoftLabelSigmoid`, `GraphAlignment`)
read several outputs of a model at once, so they take the whole
`y_true`/`y_pred` dicts. `keras.Model.compile` maps a loss onto each
output of the model instead, and Keras fails inside `fit`, with "y_true
and y_pred have different structures" or "The path: ('image_embeddings',)
in the `loss` argument, can't be found", before any of our code runs.

`install()` (called by the losses' constructor) wraps
`keras.Model.compile` once so that compiling a model that is not a
`ContrastiveLossMixin` model with one of these losses raises at once,
naming `ContrastiveModel` and the outputs the loss reads. Any other
`compile` call is passed through unchanged.
"""

import functools

import keras
from keras import tree

__all__ = ["install", "whole_dict_losses"]

# The attribute that marks a loss taking the whole dicts.
MARK = "takes_whole_dicts"


def whole_dict_losses(loss):
    """The losses in a `compile(loss=...)` value that take whole dicts.

    Args:
        loss: what `compile` was given (a loss, a list, a dict or None).

    Returns:
        A list of the losses whose `takes_whole_dicts` is true.

    Example:
    >>> class Whole(keras.losses.Loss):
    ...     takes_whole_dicts = True
    >>> [type(x).__name__ for x in whole_dict_losses(["mse", Whole()])]
    ['Whole']
    """
    if loss is None or isinstance(loss, str):
        return []
    leaves = tree.flatten(loss) if tree.is_nested(loss) else [loss]
    return [item for item in leaves if getattr(item, MARK, False)]


def _message(model, losses):
    names = ", ".join(type(item).__name__ for item in losses)
    keys = []
    for item in losses:
        for key in getattr(item, "required_outputs", ()):
            if key not in keys:
                keys.append(key)
    return (
        f"{names} reads several outputs of the model at once "
        f"(at least {', '.join(keys)}), but {type(model).__name__}.compile "
        "(Keras's own) gives each loss one output: build the model as "
        "keras_clinclip.models.ContrastiveModel(inputs, outputs) (or "
        "subclass `class MyModel(ContrastiveLossMixin, keras.Model)`), "
        "whose call returns a dict with these keys (docs/training.md, "
        "'Your own model')."
    )


@functools.cache
def install():
    """Wraps `keras.Model.compile` once (see the module's docstring).

    Returns:
        `True` (the wrapper is in place).

    Example:
    >>> import keras
    >>> install()
    True
    >>> class Whole(keras.losses.Loss):
    ...     takes_whole_dicts = True
    ...     required_outputs = ("image_embeddings", "text_embeddings")
    >>> try:
    ...     keras.Sequential([keras.layers.Dense(1)]).compile(loss=Whole())
    ... except ValueError as error:
    ...     print(str(error)[:54])
    Whole reads several outputs of the model at once (at l
    """
    original = keras.Model.compile

    @functools.wraps(original)
    def compile(self, *args, **kwargs):
        loss = kwargs.get("loss", args[1] if len(args) > 1 else None)
        losses = whole_dict_losses(loss)
        if losses:
            raise ValueError(_message(self, losses))
        return original(self, *args, **kwargs)

    keras.Model.compile = compile
    return True
