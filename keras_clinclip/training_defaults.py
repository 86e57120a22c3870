"""The training defaults of keras_clinclip, in one place.

Everything that trains reads these values: `TrainingConfig` (the options of
`clinclip train` and `clinclip demo`), the `"auto"` optimizer and loss of
`ClinCLIPBackbone.compile()` / `ClinCLIPPretrainer.compile()`
(`keras_clinclip.models.clinclip_compile`), `build_optimizer` and the loss
classes' constructor defaults. `clinclip demo` is `TrainingConfig()` with a
few changes (`keras_clinclip.training.config.DEMO_DEFAULTS`).

The optimizer is CLIP's AdamW: `beta_2` 0.98 and `epsilon` 1e-6, as in
open_clip, with global-norm clipping. `clinclip train` knows the run's
length and takes `LEARNING_RATE` as the peak of a linear warm-up
(`WARMUP_RATIO` of the steps) and cosine decay; `model.compile()` does not
know it and keeps the rate constant.

Example:
>>> from keras_clinclip import training_defaults
>>> training_defaults.LEARNING_RATE, training_defaults.WEIGHT_DECAY
(0.0005, 0.05)
"""

# Optimizer (`keras_clinclip.models.clinclip_optimizer.build_optimizer`).
LEARNING_RATE = 5e-4
WEIGHT_DECAY = 0.05
WARMUP_RATIO = 0.1
CLIPNORM = 1.0
BETA_2 = 0.98
EPSILON = 1e-6

# Loss (`SoftLabelContrastive`, `GraphAlignment`).
SOFT_WEIGHT = 0.5
TARGET_TEMPERATURE = 0.1
GRAPH_WEIGHT = 0.5
