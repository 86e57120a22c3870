"""The ClinCLIP optimizer: AdamW with CLIP's settings, clipping, a schedule.

`build_optimizer` is what `clinclip train` compiles (a warm-up + cosine
schedule over the run's steps) and what `model.compile()` gets for
`optimizer="auto"` (a constant rate: the run's length is unknown there).
Its defaults are `keras_clinclip.training_defaults`.
"""

import keras

from keras_clinclip import training_defaults

# Variables without weight decay: biases, normalisation scales/offsets,
# the learnable logit scale/bias and embeddings of positions/tokens.
NO_DECAY_NAMES = (
    "bias",
    "gamma",
    "beta",
    "logit_scale",
    "logit_bias",
    "temperature",
)


def _check_schedule(total_steps, warmup_steps, peak, final):
    if total_steps <= 0:
        raise ValueError(f"`total_steps` must be positive, got {total_steps}.")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"`warmup_steps` must be in [0, total_steps={total_steps}], "
            f"got {warmup_steps}."
        )
    if peak <= 0 and final != 0:
        raise ValueError(
            f"`final_learning_rate` ({final}) must be 0 when "
            f"`peak_learning_rate` is {peak}: the final rate is a fraction "
            "of the peak."
        )


def _cosine_arguments(peak, total_steps, warmup_steps, final):
    return dict(
        initial_learning_rate=0.0,
        # Keras needs at least one decay step; with warm-up over the whole
        # run the rate is `peak` at `total_steps` and `final` after, as before.
        decay_steps=max(int(total_steps) - int(warmup_steps), 1),
        alpha=float(final) / float(peak) if peak > 0 else 0.0,
        warmup_target=float(peak),
        warmup_steps=int(warmup_steps),
    )


def warmup_cosine_schedule(
    peak_learning_rate,
    total_steps,
    warmup_steps=0,
    final_learning_rate=0.0,
):
    """Linear warm-up from 0 to `peak_learning_rate`, then cosine decay.

    Keras's own `keras.optimizers.schedules.CosineDecay` with
    `warmup_target`/`warmup_steps`:

    lr(t) = peak * t / warmup                                for t < warmup
    lr(t) = final + (peak - final) * (1 + cos(pi * p)) / 2   after,
    with p = (t - warmup) / (total - warmup) clipped to [0, 1].

    Args:
        peak_learning_rate: the rate reached at the end of warm-up.
        total_steps: the training length in optimizer steps.
        warmup_steps: steps of linear warm-up (0: none).
        final_learning_rate: the rate at `total_steps` and after.

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.

    Example:
    >>> schedule = warmup_cosine_schedule(1.0, total_steps=10, warmup_steps=2)
    >>> [round(float(schedule(s)), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    _check_schedule(
        total_steps, warmup_steps, peak_learning_rate, final_learning_rate
    )
    return keras.optimizers.schedules.CosineDecay(
        **_cosine_arguments(
            peak_learning_rate, total_steps, warmup_steps, final_learning_rate
        )
    )


def build_optimizer(
    learning_rate=training_defaults.LEARNING_RATE,
    total_steps=None,
    warmup_ratio=training_defaults.WARMUP_RATIO,
    weight_decay=training_defaults.WEIGHT_DECAY,
    clipnorm=training_defaults.CLIPNORM,
    beta_2=training_defaults.BETA_2,
    epsilon=training_defaults.EPSILON,
):
    """AdamW with global-norm clipping, on a warm-up + cosine schedule.

    Biases, normalisation parameters and the logit scale/bias are excluded
    from weight decay (`NO_DECAY_NAMES`), as in CLIP. Every default is
    `keras_clinclip.training_defaults`' (those of `TrainingConfig`).

    Args:
        learning_rate: peak learning rate. Default `0.0005`.
        total_steps: optimizer steps of the whole run; None (the default,
            as in `model.compile()`, where the run's length is unknown):
            a constant `learning_rate`, no schedule.
        warmup_ratio: share of `total_steps` in linear warm-up. Default
            `0.1`.
        weight_decay: decoupled weight decay. Default `0.05`.
        clipnorm: clip the global gradient norm to this (0 or None: none).
            Default `1.0`.
        beta_2: AdamW's second-moment decay. Default `0.98` (CLIP's).
        epsilon: AdamW's epsilon. Default `1e-06`.

    Returns:
        A `keras.optimizers.AdamW`.

    Example:
    >>> optimizer = build_optimizer(1e-3, total_steps=100)
    >>> optimizer.global_clipnorm
    1.0
    >>> round(float(optimizer.learning_rate), 6)  # step 0 of warm-up
    0.0
    >>> round(float(build_optimizer().learning_rate), 6)  # constant
    0.0005
    """
    schedule = float(learning_rate)
    if total_steps is not None:
        schedule = warmup_cosine_schedule(
            learning_rate,
            total_steps=max(int(total_steps), 1),
            warmup_steps=int(round(warmup_ratio * max(int(total_steps), 1))),
        )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=float(clipnorm) if clipnorm else None,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer
