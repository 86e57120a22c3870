"""The checks of `TrainingConfig`'s fields, one table each.

`TrainingConfig.validate_fields` checks every field's type (annotation,
or `FIELD_TYPES` for a field that takes more) and its range
(`FIELD_RANGES`) before anything is written. A new field adds one line to
`FIELD_RANGES` when it has a range.
"""

import math

TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a finite number",
    str: "a string",
    (str, float): "a string or a finite number",
}
# The type of a field: from its annotation (a type, or its name when
# annotations are strings), or this table for a field that takes more.
FIELD_TYPES = {
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "negation_capacity": (str, float),
}


def has_type(value, kind):
    """Whether `value` is of the config type `kind`.

    An integer field takes no `True` and no `8.5`; a number field takes
    integers but no `nan`, `inf` or booleans.

    Args:
        value: a field's value.
        kind: `bool`, `int`, `float`, `str` or a tuple of them.

    Returns:
        `True` or `False`.

    Example:
    >>> has_type(True, int), has_type(8.5, int), has_type(float("nan"), float)
    (False, False, False)
    >>> has_type(3, float), has_type("auto", (str, float))
    (True, True)
    """
    if isinstance(kind, tuple):
        return any(has_type(value, one) for one in kind)
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _at_least(low):
    return (lambda value: value >= low), "positive" if low == 1 else (
        f">= {low}"
    )


# The range of each numeric field: (test, what the message says). A new
# field adds its line here.
FIELD_RANGES = {
    "num_samples": _at_least(0),
    "image_size": _at_least(1),
    "max_length": _at_least(1),
    "num_negations": _at_least(0),
    "trainable_text_layers": _at_least(-1),
    "embed_dim": _at_least(1),
    "soft_weight": (lambda value: 0 <= value <= 1, "in [0, 1]"),
    "target_temperature": (lambda value: value > 0, "> 0"),
    "graph_weight": _at_least(0),
    "batch_size": _at_least(1),
    "epochs": _at_least(1),
    "steps_per_epoch": _at_least(0),
    "learning_rate": (lambda value: value > 0, "positive"),
    "weight_decay": _at_least(0),
    "warmup_ratio": (lambda value: 0 <= value < 1, "in [0, 1)"),
    "clipnorm": _at_least(0),
    "seed": _at_least(0),
    "save_freq": _at_least(0),
    "steps_per_execution": _at_least(1),
    "verbose": (lambda value: value in (0, 1, 2), "0, 1 or 2"),
}
