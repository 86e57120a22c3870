"""Build the model, preprocessor and data of a `TrainingConfig`.

Tower names of the config:

- image: `small_resnet` (the default three-stage ResNet of
  `small_resnet_image_encoder`, trained from scratch), `tiny` (one
  64-filter stage, for tests) or a KerasHub preset name/path;
- text: `minilm` (the pretrained all-MiniLM-L6-v2), `tiny` (a 1-layer,
  16-wide BERT over the MiniLM vocabulary, random weights, for tests) or a
  KerasHub preset name/path.

The tokenizer is MiniLM's (a WordPiece `BertTokenizer`) for `minilm` and
`tiny`, and the preset's own for a preset.
"""

import dataclasses

import keras
import keras_hub

from keras_clinclip import data as data_lib
from keras_clinclip import losses as losses_lib
from keras_clinclip import models
from keras_clinclip.data import sources
from keras_clinclip.errors import UserValueError
from keras_clinclip.layers import negation_capacity_for
from keras_clinclip.training.training_data import TrainingData


def build_preprocessor(config):
    """The `ClinCLIPPreprocessor` of `config` (tokenizer, image size).

    Args:
        config: a `TrainingConfig`.

    Returns:
        A `keras_clinclip.models.ClinCLIPPreprocessor`.
    """
    converter = models.ClinCLIPImageConverter(image_size=config.image_size)
    if config.text_encoder in ("minilm", "tiny"):
        tokenizer = models.minilm_tokenizer()
    else:
        tokenizer = keras_hub.models.Tokenizer.from_preset(config.text_encoder)
    return models.ClinCLIPPreprocessor(
        tokenizer=tokenizer,
        image_converter=converter,
        sequence_length=config.max_length,
    )


def _image_encoder(config):
    if config.image_encoder == "small_resnet":
        return "small_resnet"
    if config.image_encoder == "tiny":
        return models.small_resnet_image_encoder(
            image_size=config.image_size, filters=(64,), blocks=(1,)
        )
    return config.image_encoder


def _text_encoder(config):
    if config.text_encoder == "minilm":
        return "all-minilm-l6-v2"
    if config.text_encoder == "tiny":
        vocabulary = models.minilm_tokenizer().vocabulary_size()
        return keras_hub.models.BertBackbone(
            vocabulary_size=vocabulary,
            num_layers=1,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=max(config.max_length, 16),
            dropout=0.0,
        )
    return config.text_encoder


def freeze_text_layers(text_encoder, trainable_layers):
    """Leave only the top `trainable_layers` transformer layers trainable.

    Args:
        text_encoder: a KerasHub text backbone with `transformer_layers`
            (BERT family); other models are frozen whole or left as is.
        trainable_layers: -1 leaves everything trainable; 0 freezes the
            tower; k > 0 freezes the embeddings and all but the top k
            transformer layers.

    Example:
    >>> import keras_hub
    >>> bert = keras_hub.models.BertBackbone(
    ...     vocabulary_size=10, num_layers=2, num_heads=1, hidden_dim=4,
    ...     intermediate_dim=8, max_sequence_length=8)
    >>> freeze_text_layers(bert, 1)
    >>> [layer.trainable for layer in bert.transformer_layers]
    [False, True]
    """
    if trainable_layers < 0:
        return
    if trainable_layers == 0:
        text_encoder.trainable = False
        return
    layers = getattr(text_encoder, "transformer_layers", None)
    if not layers:
        return
    for layer in text_encoder.layers:
        if layer not in layers:
            layer.trainable = False
    for layer in layers[: max(len(layers) - trainable_layers, 0)]:
        layer.trainable = False


def build_backbone(config, graph_feature_dim=None, negation_capacity=None):
    """The `ClinCLIPBackbone` of `config`.

    Args:
        config: a `TrainingConfig`.
        graph_feature_dim: node feature size F of the report graphs; the
            graph branch is built when the loss preset uses graphs.
        negation_capacity: the resolved `negation_capacity` (see
            `negation_capacity`); None encodes every slot.

    Returns:
        A `keras_clinclip.models.ClinCLIPBackbone`.
    """
    options = config.loss_options()
    kwargs = {
        "embedding_dim": config.embed_dim,
        "num_negations": config.num_negations if options["negations"] else 0,
    }
    if options["graph"]:
        if not graph_feature_dim:
            raise UserValueError(
                f"--loss {config.loss} uses report graphs, but the data "
                f"({config.dataset}) has none: choose a loss without them "
                "(clip, dt, dtc, n, n_dtc)"
            )
        kwargs["graph_encoder"] = models.ClinCLIPGraphEncoder(
            int(graph_feature_dim)
        )
    if kwargs["num_negations"] and negation_capacity is not None:
        kwargs["negation_capacity"] = negation_capacity
    model = models.clinclip_from_towers(
        image_encoder=_image_encoder(config),
        text_encoder=_text_encoder(config),
        image_size=config.image_size,
        **kwargs,
    )
    freeze_text_layers(model.text_encoder, config.trainable_text_layers)
    return model


def load_records(config, error_log=None):
    """The records dict of `config.dataset`.

    Resolved by `keras_clinclip.data.sources.load_source` (the one
    resolver of dataset strings): `iu_xray` (or `iu`): the IU reports with
    SynthCXR images (cached); `synthetic[:N]`: `synthetic_pairs` (2,000
    studies unless `num_samples`); `mimic-cxr:ROOT`, `chexpert:ROOT` and
    the other registered datasets; a path: saved `.npz` records or a
    CSV/JSONL table (`config.image_column`, `report_column`,
    `image_root`). Sources of reports get labels, `config.num_negations`
    negated variants and, when the loss uses them, report graphs.

    Args:
        config: a `TrainingConfig`.
        error_log: optional `ErrorLog` that counts the rows of a table
            skipped with `on_error="skip"`.
    """
    count, graphs = config.num_samples or 2000, config.loss_options()["graph"]
    if config.dataset in ("iu", "iu_xray"):
        # With `num_samples`, render only the reports needed (train is
        # about 80% of them).
        count = (
            int(config.num_samples / 0.75) + 1 if config.num_samples else None
        )
    elif config.dataset.startswith("synthetic"):
        graphs = True
    return sources.load_source(
        config.dataset,
        image_size=config.image_size,
        seed=config.seed,
        count=count,
        num_negations=max(config.num_negations, 1),
        graphs=graphs,
        on_error=config.on_error,
        table_options={
            "image_column": config.image_column,
            "report_column": config.report_column,
            "image_root": config.image_root,
        },
        error_log=error_log,
    )


def _split_size(records, split):
    return sum(1 for value in records["split"] if value == split)


def _limit(records, config):
    if not config.num_samples or config.dataset == "synthetic":
        return records
    keep = []
    count = 0
    for index, split in enumerate(records["split"]):
        if split != "train" or count < config.num_samples:
            keep.append(index)
            count += split == "train"
    return data_lib.select(records, keep)


def build_training_data(config, setup=None, records=None, preprocessor=None):
    """The `TrainingData` of `config`: a resumable stream and validation.

    The training stream is a factory `start_step -> dataset` that rebuilds
    the pipeline (seeded shuffle and augmentation) and skips the batches
    already consumed, so that a resumed run sees exactly the batches of an
    uninterrupted one.

    Args:
        config: a `TrainingConfig`.
        setup: unused (sharding happens in `train`); kept for symmetry.
        records: optional records dict (default: `load_records(config)`).
        preprocessor: optional preprocessor (default:
            `build_preprocessor(config)`).

    Returns:
        A `TrainingData` with `records` and `preprocessor` set.
    """
    del setup
    # The table rows skipped while loading count in the run's summary.
    error_logs = [data_lib.ErrorLog()]
    if records is None:
        records = load_records(config, error_log=error_logs[0])
    records = _limit(records, config)
    preprocessor = preprocessor or build_preprocessor(config)
    options = config.loss_options()
    negations = config.num_negations if options["negations"] else 0
    common = {
        "batch_size": config.batch_size,
        "image_size": config.image_size,
        "negations": data_lib.NegationOptions(count=negations),
    }
    n_train = _split_size(records, "train")
    steps = n_train // config.batch_size
    if steps == 0:
        raise UserValueError(
            f"the training split of {config.dataset} has {n_train} "
            f"studies, fewer than one batch (--batch-size "
            f"{config.batch_size}): lower --batch-size or add studies"
        )

    if negations:
        common["negations"] = data_lib.NegationOptions(
            count=negations,
            balance=config.balance_negations,
            mask_input=config.packs_negations(),
            families=config.negation_families or None,
        )
    pipeline = data_lib.PipelineOptions(
        seed=config.seed, graphs=options["graph"], on_error=config.on_error
    )
    built = {}

    def stream(start_step):
        # The stream built to size the buffer is handed out once, for
        # step 0 (any iterator of it yields the same batches); the first
        # call drops it either way, so a resumed run does not keep it.
        kept = built.pop(start_step, None)
        built.clear()
        if kept is not None:
            return kept
        dataset = data_lib.make_dataset(
            records,
            preprocessor,
            split="train",
            training=True,
            options=dataclasses.replace(pipeline, start_step=start_step),
            **common,
        )
        error_logs.append(dataset.error_log)
        return dataset

    negation_mask = None
    if negations:
        # The training rows' mask after truncation and the collision
        # guard, which size the negation buffer (`negation_capacity`).
        built[0] = stream(0)
        negation_mask = built[0].negation_mask

    validation = None
    notes = []
    n_val = _split_size(records, "validate")
    if config.validate and n_val < config.batch_size:
        notes.append(validation_skipped_note(n_val, config.batch_size))
    if config.validate and n_val >= config.batch_size:
        validation = data_lib.make_dataset(
            records,
            preprocessor,
            split="validate",
            training=False,
            options=dataclasses.replace(pipeline, drop_remainder=True),
            **common,
        )
        error_logs.append(validation.error_log)
    return TrainingData(
        train=stream,
        steps_per_epoch=steps,
        validation=validation,
        records=records,
        preprocessor=preprocessor,
        error_logs=error_logs,
        negation_mask=negation_mask,
        notes=notes,
    )


def validation_skipped_note(n_val, batch_size):
    """Why a run has no validation loss, in one line for the user.

    Args:
        n_val: the studies of the `validate` split.
        batch_size: the global batch size.

    Returns:
        A string.

    Example:
    >>> validation_skipped_note(7, 8)[:47]
    'Validation skipped: the validation split has 7 '
    """
    return (
        f"Validation skipped: the validation split has {n_val} "
        f"stud{'y' if n_val == 1 else 'ies'}, fewer than one batch of "
        f"{batch_size} (val_loss stays empty). Give more rows the split "
        "'validate', lower --batch-size, or pass --no-validate."
    )


def negation_capacity(config, data, replicas=1):
    """The model's `negation_capacity` for `config` on `data`.

    `config.negation_capacity`: `none` (or a preset without negations)
    gives None; a number is used as is; `auto` sizes the buffer for the
    batch one replica sees (`batch_size / replicas`) with
    `negation_capacity_for` on the training rows' negation mask, balanced
    as `config.balance_negations` says.

    Args:
        config: a `TrainingConfig`.
        data: the run's `TrainingData` (its `negation_mask`).
        replicas: replicas a global batch is split over in the model's
            call (TF `MirroredStrategy`, torch DDP); 1 under JAX, whose
            model sees the global batch.

    Returns:
        None, a float in (0, 1] or an int row count.

    Example:
    >>> import numpy as np
    >>> from keras_clinclip.training.config import TrainingConfig
    >>> from keras_clinclip.training.training_data import TrainingData
    >>> mask = np.zeros((64, 1), "float32")
    >>> mask[::4] = 1.0
    >>> data = TrainingData(None, 2, negation_mask=mask)
    >>> negation_capacity(TrainingConfig(batch_size=32), data)
    0.25
    """
    if not config.packs_negations():
        return None
    value = config.negation_capacity_value()
    if value != "auto":
        return value
    if data is None or data.negation_mask is None:
        raise ValueError(
            "`negation_capacity=auto` needs the training data's negation "
            "mask (`TrainingData.negation_mask`)."
        )
    per_replica = config.batch_size // max(int(replicas), 1)
    return negation_capacity_for(
        data.negation_mask, per_replica, balanced=config.balance_negations
    )


def graph_feature_dim(records):
    """F of the records' `graph_nodes` or `graphs` (None when absent)."""
    if records is not None and records.get("graphs") is not None:
        return records["graphs"].feature_dim
    nodes = records.get("graph_nodes") if records is not None else None
    if nodes is None:
        return None
    return int(keras.ops.shape(nodes)[-1])


def build_losses(config):
    """The losses and their weights for `config.loss` (an ablation row).

    Args:
        config: a `TrainingConfig`.

    Returns:
        `(losses, weights)`: lists for `model.compile(loss=...,
        loss_weights=...)`: a `SoftLabelContrastive` (soft targets from the
        preset's sources, negation hard negatives when it has them), plus a
        `GraphAlignment` (weighted `config.graph_weight` in `weights`) when
        it has G.

    Example:
    >>> from keras_clinclip.training.config import TrainingConfig
    >>> losses, weights = build_losses(TrainingConfig(loss="clip"))
    >>> [type(loss).__name__ for loss in losses], weights
    (['SoftLabelContrastive'], [1.0])
    """
    options = config.loss_options()
    contrastive = losses_lib.SoftLabelContrastive(
        sources=tuple(options["sources"]),
        soft_weight=config.soft_weight if options["sources"] else 0.0,
        target_temperature=config.target_temperature,
        negatives="batch" if options["negations"] else None,
    )
    losses, weights = [contrastive], [1.0]
    if options["graph"]:
        losses.append(
            losses_lib.GraphAlignment(
                sources=tuple(options["sources"]),
                soft_weight=config.soft_weight if options["sources"] else 0.0,
                target_temperature=config.target_temperature,
            )
        )
        weights.append(float(config.graph_weight))
    return losses, weights


def build_optimizer(config, total_steps):
    """The optimizer of `config`'s run: AdamW, warm-up + cosine schedule.

    Args:
        config: a `TrainingConfig` (`learning_rate` is the schedule's peak,
            `warmup_ratio`, `weight_decay`, `clipnorm`).
        total_steps: optimizer steps of the whole run.

    Returns:
        A `keras.optimizers.AdamW` (`models.build_optimizer`).

    Example:
    >>> from keras_clinclip.training.config import TrainingConfig
    >>> optimizer = build_optimizer(TrainingConfig(), total_steps=100)
    >>> round(float(optimizer.learning_rate), 6)  # step 0 of the warm-up
    0.0
    """
    return models.build_optimizer(
        config.learning_rate,
        total_steps=total_steps,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        clipnorm=config.clipnorm,
    )
