"""`clinclip train`: build data, model and losses from a config, then fit.

`train(config)` is the one training routine behind the CLI, the demo and
the three recipes. It seeds everything, builds the model, losses and
optimizer in the engine's scope (see `keras_clinclip.training.distribution`),
and runs `model.fit` through `fit_with_resume`, so a killed job restarted
with the same command continues from its last backup.
"""

import dataclasses
import functools
import pathlib
import time

import keras

from keras_clinclip.training import distribution as distribution_lib
from keras_clinclip.training.callbacks import build_callbacks
from keras_clinclip.training.callbacks import run_paths
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.config import add_config_arguments
from keras_clinclip.training.config import config_from_args
from keras_clinclip.training.fit_loop import fit_with_resume
from keras_clinclip.training.fit_loop import stream_from
from keras_clinclip.training.optim import build_optimizer


@dataclasses.dataclass
class TrainingData:
    """The data of a run, as `train` consumes it.

    Args:
        train: a one-epoch `tf.data.Dataset` of global batches `(x, y)` with
            a seeded shuffle, or a callable `start_step -> dataset` giving
            an endless deterministic stream (see `fit_with_resume`).
        steps_per_epoch: optimizer steps per epoch.
        validation: optional validation dataset.
        records: optional dict of record columns (for evaluation).
        preprocessor: optional preprocessor used to tokenize/convert.

    Example:
    >>> TrainingData(train=None, steps_per_epoch=3).steps_per_epoch
    3
    """

    train: object
    steps_per_epoch: int
    validation: object = None
    records: object = None
    preprocessor: object = None


@dataclasses.dataclass
class TrainingResult:
    """What `train` returns.

    Args:
        model: the trained model.
        history: dict of metric lists of the epochs run by this call.
        start_step: the step the run resumed from (0 when fresh).
        steps: the optimizer steps done in total.
        seconds: wall time of the `fit` calls.
        data: the `TrainingData` used.
    """

    model: object
    history: dict
    start_step: int
    steps: int
    seconds: float
    data: object = None


def build_losses(config):
    """The losses and their weights for `config.loss` (an ablation row).

    Args:
        config: a `TrainingConfig`.

    Returns:
        `(losses, weights)`: lists for `model.compile(loss=...,
        loss_weights=...)`: a `SoftLabelContrastive` (soft targets from the
        preset's sources, negation hard negatives when it has them), plus a
        `GraphAlignment` (its own `weight` is `config.graph_weight`) when
        it has G.

    Example:
    >>> losses, weights = build_losses(TrainingConfig(loss="clip"))
    >>> [type(loss).__name__ for loss in losses], weights
    (['SoftLabelContrastive'], [1.0])
    """
    from keras_clinclip import losses as losses_lib

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
                weight=float(config.graph_weight),
                sources=tuple(options["sources"]),
                soft_weight=config.soft_weight if options["sources"] else 0.0,
                target_temperature=config.target_temperature,
            )
        )
        weights.append(1.0)
    return losses, weights


def build_model(config, data=None):
    """The `ClinCLIPBackbone` of `config` (towers, embedding size, graph).

    Args:
        config: a `TrainingConfig`.
        data: the run's `TrainingData`; its records give the node feature
            size of the graph branch.

    Returns:
        A built `keras_clinclip.models.ClinCLIPBackbone`.
    """
    from keras_clinclip.training import builders

    records = data.records if data is not None else None
    return builders.build_backbone(
        config, graph_feature_dim=builders.graph_feature_dim(records)
    )


def build_data(config, setup=None):
    """The `TrainingData` of `config` for this process.

    Args:
        config: a `TrainingConfig`.
        setup: the `distribution.Setup`; under torch DDP each process gets
            its rows of every global batch.

    Returns:
        A `TrainingData`.
    """
    from keras_clinclip.training import builders

    return builders.build_training_data(config, setup)


def _default_setup():
    return distribution_lib.Setup(engine=keras.backend.backend())


def _set_precision(config):
    keras.mixed_precision.set_dtype_policy(config.mixed_precision)


def train(
    config,
    setup=None,
    model=None,
    data=None,
    losses=None,
    callbacks=(),
    write_preset=True,
):
    """Train a model as `config` describes, resuming from a backup if any.

    Args:
        config: a `TrainingConfig`.
        setup: a `distribution.Setup` (default: this process, one device
            under TF/torch, all devices' global view under JAX).
        model: a callable `() -> model` or a model built in `setup.scope`;
            default `build_model(config)`.
        data: a `TrainingData`; default `build_data(config, setup)`.
        losses: `(losses, weights)`; default `build_losses(config)`.
        callbacks: extra Keras callbacks.
        write_preset: save a KerasHub preset of the final model (chief
            only) to `<output_dir>/preset` when the model supports it.

    Returns:
        A `TrainingResult`.
    """
    setup = setup or _default_setup()
    keras.utils.set_random_seed(config.seed)
    _set_precision(config)
    paths = run_paths(config.output_dir)
    if setup.is_chief:
        config.save(paths["config"])
    data = data if data is not None else build_data(config, setup)
    steps_per_epoch = int(config.steps_per_epoch or data.steps_per_epoch)
    total_steps = steps_per_epoch * int(config.epochs)
    with setup.scope():
        if model is None:
            model = build_model(config, data)
            if setup.is_chief:
                _write_model_info(config, data)
        elif callable(model) and not isinstance(model, keras.Model):
            model = model()
        loss_list, weights = losses or build_losses(config)
        optimizer = build_optimizer(
            config.learning_rate,
            total_steps=total_steps,
            warmup_ratio=config.warmup_ratio,
            weight_decay=config.weight_decay,
            clipnorm=config.clipnorm,
        )
        if getattr(model, "_distribute_strategy", None) is not None:
            # A batch from a separate pipeline for Keras's symbolic build.
            sample = next(iter(stream_from(data.train, 0).take(1)))
            distribution_lib.fix_tf_distributed_fit(model, sample)
        if setup.engine == "tensorflow":
            distribution_lib.fix_tf_gradient_clipping(
                optimizer, setup.num_replicas
            )
        if setup.engine == "torch" and setup.num_processes > 1:
            distribution_lib.broadcast_weights(model)
            distribution_lib.all_reduce_gradients(optimizer, average=True)
        model.compile(
            optimizer=optimizer,
            loss=loss_list,
            loss_weights=weights,
            steps_per_execution=config.steps_per_execution,
        )
    all_callbacks = build_callbacks(
        config.output_dir,
        save_freq=config.save_freq,
        tensorboard=config.tensorboard,
        is_chief=setup.is_chief,
        monitor="val_loss" if data.validation is not None else None,
    )
    all_callbacks = list(callbacks) + all_callbacks
    if config.verbose:
        print(
            f"Training {config.loss!r} on {setup.description}: "
            f"{config.epochs} epoch(s) x {steps_per_epoch} steps, global "
            f"batch {config.batch_size}; outputs in {config.output_dir}"
        )
    start_time = time.time()
    stream = distribution_lib.local_stream(
        functools.partial(stream_from, data.train), setup, config.batch_size
    )
    history, start = fit_with_resume(
        model,
        stream,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=all_callbacks,
        validation_data=data.validation if config.validate else None,
        verbose=config.verbose,
    )
    seconds = time.time() - start_time
    if setup.is_chief:
        final = pathlib.Path(config.output_dir) / "final.weights.h5"
        _save_weights_atomic(model, final)
        if write_preset and hasattr(model, "save_to_preset"):
            model.save_to_preset(
                str(paths["preset"]), preprocessor=data.preprocessor
            )
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    return TrainingResult(
        model=model,
        history=history,
        start_step=start,
        steps=steps,
        seconds=seconds,
        data=data,
    )


def _write_model_info(config, data):
    """What `clinclip export` needs besides the config to rebuild it."""
    import json

    from keras_clinclip.training import builders
    from keras_clinclip.training import export

    info = {"graph_feature_dim": builders.graph_feature_dim(data.records)}
    path = pathlib.Path(config.output_dir) / export.MODEL_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info) + "\n")


def _save_weights_atomic(model, path):
    from keras_clinclip.training import atomic_io

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = atomic_io.temp_sibling(path)
    model.save_weights(str(temp), overwrite=True)
    atomic_io.commit(temp, path)


def add_arguments(parser):
    """Add the `clinclip train` options (every `TrainingConfig` field).

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--loss", "n"]).loss
    'n'
    """
    add_config_arguments(parser)
    parser.add_argument(
        "--config",
        default=None,
        help="a config.json of an earlier run; options given on the "
        "command line override it",
    )


def run(args):
    """Run `clinclip train` with parsed arguments; returns the exit code."""
    config = config_from_args(args)
    if getattr(args, "config", None):
        base = TrainingConfig.load(args.config).to_dict()
        defaults = TrainingConfig().to_dict()
        changed = {
            key: value
            for key, value in config.to_dict().items()
            if value != defaults[key]
        }
        config = TrainingConfig.from_dict({**base, **changed})
    result = train(config)
    print(
        f"Done: {result.steps} steps in {result.seconds:.0f} s; outputs in "
        f"{config.output_dir}"
    )
    return 0
