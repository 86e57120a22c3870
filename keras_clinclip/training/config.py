"""One training configuration shared by the CLI, the demo and the recipes.

`TrainingConfig` holds every field a training run needs. The `clinclip`
CLI (argparse) and the three recipes (absl flags) expose exactly these
fields, generated from the dataclass, so a run is described the same way
wherever it starts. `LOSS_PRESETS` maps the paper's ablation rows
(`--loss=clip|dt|dtc|n|n_dtc|g|g_dtcg|full`) to loss and model options.
"""

import dataclasses
import json
import pathlib

from keras_clinclip import training_defaults
from keras_clinclip.reports.negation_families import TRAINING_FAMILIES
from keras_clinclip.reports.negation_mix import parse_families
from keras_clinclip.training.config_checks import FIELD_RANGES
from keras_clinclip.training.config_checks import FIELD_TYPES
from keras_clinclip.training.config_checks import TYPE_NAMES
from keras_clinclip.training.config_checks import has_type

# The paper's component decomposition (Ko & Park, CVPR 2025, Table 4):
# D = dynamic soft labels from the listed similarity sources, N = negation
# hard negatives, G = graph alignment.
LOSS_PRESETS = {
    "clip": {"sources": (), "negations": False, "graph": False},
    "dt": {"sources": ("text",), "negations": False, "graph": False},
    "dtc": {
        "sources": ("text", "clinical"),
        "negations": False,
        "graph": False,
    },
    "n": {"sources": (), "negations": True, "graph": False},
    "n_dtc": {
        "sources": ("text", "clinical"),
        "negations": True,
        "graph": False,
    },
    "g": {"sources": (), "negations": False, "graph": True},
    "g_dtcg": {
        "sources": ("text", "clinical", "graph"),
        "negations": False,
        "graph": True,
    },
    "full": {
        "sources": ("text", "clinical", "graph"),
        "negations": True,
        "graph": True,
    },
}

# `clinclip demo` is `TrainingConfig()` with only these changes, for a
# 2-core CPU (see docs/training.md): 64-pixel images; MiniLM with its top
# layer trainable (the text tower dominates the step time); two epochs; its
# own output folder. Every other field keeps its `TrainingConfig` default.
DEMO_DEFAULTS = {
    "image_size": 64,
    "trainable_text_layers": 1,
    "epochs": 2,
    "output_dir": "runs/demo",
}
# `--quick`: the same recipe on fewer studies and steps.
QUICK_OVERRIDES = {
    "num_samples": 960,
    "max_length": 48,
}


def loss_options(name):
    """The loss/model options of one ablation preset.

    Args:
        name: one of `LOSS_PRESETS` (`clip`, `dt`, `dtc`, `n`, `n_dtc`,
            `g`, `g_dtcg`, `full`).

    Returns:
        A dict with `sources` (tuple of similarity sources for the soft
        labels), `negations` (bool: negated reports as hard negatives) and
        `graph` (bool: graph encoder and graph-alignment loss).

    Example:
    >>> loss_options("n_dtc")["sources"]
    ('text', 'clinical')
    >>> loss_options("clip")["negations"]
    False
    """
    if name not in LOSS_PRESETS:
        raise ValueError(
            f"Unknown loss preset {name!r} for field `loss`; choose one of "
            f"{', '.join(LOSS_PRESETS)}."
        )
    return dict(LOSS_PRESETS[name])


def _field(default, help_text, choices=None, short=None, output=None):
    return dataclasses.field(
        default=default,
        metadata={
            "help": help_text,
            "choices": choices,
            "short": short,
            "output": output,
        },
    )


@dataclasses.dataclass
class TrainingConfig:
    """Every option of a training run, with defaults for the embedded data.

    The one source of the training defaults: a CPU run of the full method
    (`loss="full"`) on the embedded IU data with 96-pixel images, a small
    ResNet trained from scratch, the pretrained MiniLM text tower with its
    top 2 layers trainable, reports truncated to 64 tokens, a global batch
    of 32, 3 epochs, AdamW at a peak learning rate of 5e-4 (weight decay
    0.05, 10% warm-up, cosine decay). `clinclip demo` changes only the
    fields of `DEMO_DEFAULTS`, `clinclip train` none.
    Each field's default is stated below (checked by a test).

    Args:
        dataset: a dataset string of `keras_clinclip.data.sources`: `iu_xray`
            (IU reports + SynthCXR images), `synthetic[:N]` (template reports +
            SynthCXR), `mimic-cxr:ROOT`, `chexpert:ROOT` or a CSV/JSONL/NPZ
            file, with `?key=value` options (e.g.
            `mimic-cxr:ROOT?views=PA,AP&images=all`). Default `'iu_xray'`.
        image_column: the image-path column of a CSV/JSONL dataset. Default
            `'image_path'`.
        report_column: the report column of a CSV/JSONL dataset. Default
            `'report'`.
        image_root: the folder relative image paths of a table start from
            (empty: the table's folder). Default `''`.
        num_samples: keep at most this many training studies (0: all). Default
            `0`.
        image_size: side of the square input images, in pixels. Default `96`.
        max_length: report token length (longer reports are truncated). Default
            `64`.
        num_negations: negated reports per study (K). Default `1`.
        negation_capacity: how many negation slots the text tower encodes per
            batch: `auto` the most valid slots any batch holds (balanced
            batches: never overflows; random batches: 99% of batches fit);
            `none` every slot; a fraction in (0, 1] of the batch's B·K slots or
            a row count (see `keras_clinclip.layers.NegationPacking`). Default
            `'auto'`.
        balance_negations: every batch holds the same number of studies with
            negations (`NegationOptions(balance=True)`). Default `True`.
        negation_families: the negation generator families that write the
            training negations, comma-separated
            (`keras_clinclip.reports.negation_families`), applied to
            records that carry `negated_findings`; empty keeps the dataset's
            own negated reports (a table's radiologist-written negations).
            Default `'in_place,resolution,vocabulary,synonyms'`: every family
            but `templates`, which the CXR-Align benchmark then scores
            cross-family.
        on_error: `raise` stops at the first bad record (empty report, bad
            label, missing file) or unreadable image, naming its row and file;
            `skip` leaves such samples out and counts them
            (`keras_clinclip.data.PipelineOptions`' `on_error`). Default
            `'raise'`.
        image_encoder: image tower: `small_resnet`, `tiny` or a KerasHub preset
            name/path. Default `'small_resnet'`.
        text_encoder: text tower: `minilm` (pretrained all-MiniLM-L6-v2), `tiny`
            or a KerasHub preset name/path. Default `'minilm'`.
        trainable_text_layers: transformer layers of the text tower left
            trainable, counted from the top (-1: all, 0: frozen tower). Default
            `2`.
        embed_dim: size of the shared embedding space. Default `128`.
        loss: ablation preset, see `LOSS_PRESETS`. Default `'full'`.
        soft_weight: weight of the soft targets against the identity. Default
            `0.5`.
        target_temperature: temperature of the soft-target softmax. Default
            `0.1`.
        graph_weight: weight of the graph-alignment loss. Default `0.5`.
        batch_size: global batch size (split over replicas). Default `32`.
        epochs: training epochs. Default `3`.
        steps_per_epoch: steps per epoch (0: one pass over the data). Default
            `0`.
        learning_rate: peak learning rate of the cosine schedule. Default
            `0.0005`.
        weight_decay: AdamW decoupled weight decay. Default `0.05`.
        warmup_ratio: share of the total steps spent in linear warm-up. Default
            `0.1`.
        clipnorm: global gradient-norm clip (0: none). Default `1.0`.
        mixed_precision: Keras dtype policy, `float32` or
            `mixed_bfloat16`/`mixed_float16`. Default `'float32'`.
        seed: seed of weights, data order and augmentation. Default `0`.
        output_dir: directory for logs, checkpoints and the preset. Default
            `'runs/clinclip'`.
        save_freq: back up the training state every this many steps (0: at the
            end of each epoch). Default `50`.
        tensorboard: write TensorBoard logs. Default `True`.
        validate: evaluate the loss on the validation split every epoch. Default
            `True`.
        steps_per_execution: training steps per compiled call. Default `1`.
        verbose: Keras progress output (0 silent, 1 bar, 2 one line). Default
            `1`.

    Example:
    >>> config = TrainingConfig(loss="n", epochs=1)
    >>> config.loss_options()["negations"]
    True
    >>> TrainingConfig.from_dict(config.to_dict()) == config
    True
    """

    # Data.
    dataset: str = _field(
        "iu_xray",
        "iu, synthetic[:N], mimic-cxr:ROOT, chexpert:ROOT or a "
        "CSV/JSONL/NPZ file; options after ?, e.g. "
        "mimic-cxr:ROOT?views=PA,AP&images=all (docs/data.md)",
    )
    image_column: str = _field(
        "image_path", "the image column of a CSV/JSONL dataset"
    )
    report_column: str = _field(
        "report", "the report column of a CSV/JSONL dataset"
    )
    image_root: str = _field(
        "", "folder of relative image paths (default: the table's folder)"
    )
    num_samples: int = _field(0, "keep at most this many studies (0: all)")
    image_size: int = _field(96, "image side in pixels")
    max_length: int = _field(64, "report token length")
    num_negations: int = _field(1, "negated reports per study (K)")
    negation_capacity: str = _field(
        "auto",
        "negation slots encoded per batch: auto, none (all), a fraction "
        "of B*K or a row count",
    )
    balance_negations: bool = _field(
        True, "the same number of negations in every batch"
    )
    negation_families: str = _field(
        TRAINING_FAMILIES,
        "negation generator families of training, comma-separated; empty "
        "(--negation-families '') keeps the dataset's own negations",
    )
    on_error: str = _field(
        "raise",
        "bad record or unreadable image: raise, or skip and count it",
        choices=("raise", "skip"),
    )
    # Model.
    image_encoder: str = _field(
        "small_resnet", "image tower: small_resnet, tiny or a preset"
    )
    text_encoder: str = _field("minilm", "text tower: minilm, tiny or a preset")
    trainable_text_layers: int = _field(
        2, "top text layers left trainable (-1 all, 0 frozen)"
    )
    embed_dim: int = _field(128, "shared embedding size")
    # Loss.
    loss: str = _field(
        "full", "ablation preset of the loss", choices=tuple(LOSS_PRESETS)
    )
    soft_weight: float = _field(
        training_defaults.SOFT_WEIGHT, "weight of the soft targets"
    )
    target_temperature: float = _field(
        training_defaults.TARGET_TEMPERATURE,
        "temperature of the soft-target softmax",
    )
    graph_weight: float = _field(
        training_defaults.GRAPH_WEIGHT, "weight of the graph-alignment loss"
    )
    # Optimisation.
    batch_size: int = _field(32, "global batch size")
    epochs: int = _field(3, "training epochs")
    steps_per_epoch: int = _field(0, "steps per epoch (0: one data pass)")
    learning_rate: float = _field(
        training_defaults.LEARNING_RATE, "peak learning rate"
    )
    weight_decay: float = _field(
        training_defaults.WEIGHT_DECAY, "AdamW weight decay"
    )
    warmup_ratio: float = _field(
        training_defaults.WARMUP_RATIO, "share of steps in linear warm-up"
    )
    clipnorm: float = _field(
        training_defaults.CLIPNORM, "global gradient-norm clip (0: none)"
    )
    mixed_precision: str = _field(
        "float32",
        "Keras dtype policy",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
    )
    seed: int = _field(0, "seed of weights, data order, augmentation")
    # Outputs.
    output_dir: str = _field(
        "runs/clinclip", "logs, checkpoints, preset", output="folder"
    )
    save_freq: int = _field(50, "back up state every N steps (0: epoch)")
    tensorboard: bool = _field(True, "write TensorBoard logs")
    validate: bool = _field(True, "validation loss every epoch")
    steps_per_execution: int = _field(1, "steps per compiled call")
    verbose: int = _field(1, "0 silent, 1 progress bar, 2 one line")

    def __post_init__(self):
        self.validate_fields()

    def validate_fields(self):
        """Raise a `ValueError` naming the first invalid field.

        Each field is checked against its type (an integer field takes no
        `8.5` and no `true`, a number field no `nan`/`inf`), then its
        range (`FIELD_RANGES`) and choices.
        """
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind = FIELD_TYPES.get(field.name)
            kind = kind or FIELD_TYPES.get(field.type, field.type)
            if not has_type(value, kind):
                raise ValueError(
                    f"Field `{field.name}` must be {TYPE_NAMES[kind]}, got "
                    f"{value!r}."
                )
            bound = FIELD_RANGES.get(field.name)
            if bound is not None and not bound[0](value):
                raise ValueError(
                    f"Field `{field.name}` must be {bound[1]}, got {value!r}."
                )
        loss_options(self.loss)
        self.negation_capacity_value()
        if self.negation_families:
            try:
                parse_families(self.negation_families)
            except ValueError as error:
                raise ValueError(
                    f"Field `negation_families`: {error}."
                ) from None
        for name, allowed in _choices().items():
            if allowed and getattr(self, name) not in allowed:
                raise ValueError(
                    f"Field `{name}` must be one of {allowed}, got "
                    f"{getattr(self, name)!r}."
                )

    def loss_options(self):
        """The options of `self.loss`, see `loss_options`."""
        return loss_options(self.loss)

    def negation_capacity_value(self):
        """`negation_capacity` parsed: `"auto"`, None, a float or an int.

        Example:
        >>> TrainingConfig(negation_capacity="0.5").negation_capacity_value()
        0.5
        >>> TrainingConfig(negation_capacity="none").negation_capacity_value()
        """
        value = str(self.negation_capacity).strip().lower()
        if value in ("auto", "none"):
            return None if value == "none" else "auto"
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and "." not in value and number >= 1:
            return int(number)
        if number is not None and 0.0 < number <= 1.0:
            return number
        raise ValueError(
            "Field `negation_capacity` must be auto, none, a fraction in "
            f"(0, 1] or a row count >= 1, got {self.negation_capacity!r}."
        )

    def packs_negations(self):
        """True when the model encodes only some negation slots.

        Example:
        >>> TrainingConfig().packs_negations()
        True
        >>> TrainingConfig(loss="clip").packs_negations()
        False
        """
        return bool(
            self.loss_options()["negations"]
            and self.num_negations
            and self.negation_capacity_value() is not None
        )

    def to_dict(self):
        """A JSON-friendly dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """Build a config from a dict; unknown keys raise a `ValueError`."""
        if not isinstance(values, dict):
            raise ValueError(
                "A training config must be a JSON object of fields, got "
                f"{type(values).__name__}."
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"Unknown training config fields {unknown}; known fields: "
                f"{sorted(names)}."
            )
        return cls(**values)

    def save(self, path):
        """Write the config as JSON to `path`."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path):
        """Read a config written by `save`."""
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))

    def replace(self, **changes):
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


def _choices():
    return {
        f.name: f.metadata.get("choices")
        for f in dataclasses.fields(TrainingConfig)
    }


def config_from_args(args):
    """The `TrainingConfig` of parsed argparse (or absl) values.

    Args:
        args: an object with one attribute per config field, such as the
            `argparse.Namespace` of a parser set up by
            `keras_clinclip.cli.options.add_config_options` or absl's
            `flags.FLAGS`.

    Example:
    >>> import types
    >>> values = TrainingConfig().to_dict()
    >>> values["loss"] = "g"
    >>> config_from_args(types.SimpleNamespace(**values)).loss
    'g'
    """
    values = {}
    for field in dataclasses.fields(TrainingConfig):
        values[field.name] = getattr(args, field.name)
    return TrainingConfig(**values)


def define_absl_flags(flag_values=None, defaults=None):
    """Define one absl flag per `TrainingConfig` field.

    Args:
        flag_values: an `absl.flags.FlagValues` (default: the global
            `absl.flags.FLAGS`).
        defaults: optional dict of field -> default.

    Example:
    >>> from absl import flags
    >>> values = flags.FlagValues()
    >>> define_absl_flags(values)
    >>> _ = values(["prog", "--loss=n_dtc", "--batch_size=8"])
    >>> config_from_args(values).batch_size
    8
    """
    from absl import flags

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    defaults = dict(defaults or {})
    base = TrainingConfig()
    for field in dataclasses.fields(TrainingConfig):
        default = defaults.get(field.name, getattr(base, field.name))
        help_text = field.metadata["help"]
        choices = field.metadata.get("choices")
        if choices:
            flags.DEFINE_enum(
                field.name,
                default,
                list(choices),
                help_text,
                flag_values=flag_values,
            )
        elif isinstance(default, bool):
            flags.DEFINE_bool(
                field.name, default, help_text, flag_values=flag_values
            )
        elif isinstance(default, int):
            flags.DEFINE_integer(
                field.name, default, help_text, flag_values=flag_values
            )
        elif isinstance(default, float):
            flags.DEFINE_float(
                field.name, default, help_text, flag_values=flag_values
            )
        else:
            flags.DEFINE_string(
                field.name, default, help_text, flag_values=flag_values
            )
