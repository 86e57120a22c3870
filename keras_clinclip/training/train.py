"""`clinclip train`: build data, model and losses from a config, then fit.

`train(config)` is the one training routine behind the CLI, the demo and
the three recipes. It seeds everything, builds the model, losses and
optimizer in the engine's scope (see `keras_clinclip.backend.engines`),
and runs `model.fit` through `fit_with_resume`, so a killed job restarted
with the same command continues from its last backup.
"""

import dataclasses
import functools
import json
import pathlib
import sys
import time

import keras

from keras_clinclip import file_writes
from keras_clinclip import models
from keras_clinclip.backend import engines
from keras_clinclip.backend import keras_compat
from keras_clinclip.backend import torch_ddp
from keras_clinclip.data import sharding
from keras_clinclip.data import sources
from keras_clinclip.errors import is_user_error
from keras_clinclip.errors import one_line
from keras_clinclip.training import builders
from keras_clinclip.training import export
from keras_clinclip.training import run_folder
from keras_clinclip.training.builders import build_losses
from keras_clinclip.training.callbacks import build_callbacks
from keras_clinclip.training.callbacks import run_paths
from keras_clinclip.training.config import config_from_args
from keras_clinclip.training.fit_loop import fit_with_resume
from keras_clinclip.training.fit_loop import stream_from
from keras_clinclip.training.training_data import skipped_summary


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
        skipped: `skipped_summary(data)`: the samples skipped with
            `on_error="skip"`.
    """

    model: object
    history: dict
    start_step: int
    steps: int
    seconds: float
    data: object = None
    skipped: dict = None


def build_model(config, data=None, setup=None):
    """The `ClinCLIPBackbone` of `config` (towers, embedding size, graph).

    Args:
        config: a `TrainingConfig`.
        data: the run's `TrainingData`; its records give the node feature
            size of the graph branch, its negation mask the size of the
            negation buffer (`builders.negation_capacity`).
        setup: the engine set-up (the replicas a batch is split over).

    Returns:
        A built `keras_clinclip.models.ClinCLIPBackbone`.
    """
    records = data.records if data is not None else None
    return builders.build_backbone(
        config,
        graph_feature_dim=builders.graph_feature_dim(records),
        negation_capacity=builders.negation_capacity(
            config, data, _model_replicas(setup)
        ),
    )


def _model_replicas(setup):
    """Replicas that split a global batch before the model sees it."""
    if setup is None or setup.engine == "jax":
        return 1
    return setup.num_replicas


def build_data(config, setup=None):
    """The `TrainingData` of `config` for this process.

    Args:
        config: a `TrainingConfig`.
        setup: the `distribution.Setup`; under torch DDP each process gets
            its rows of every global batch.

    Returns:
        A `TrainingData`.
    """
    return builders.build_training_data(config, setup)


def _default_setup():
    return engines.Setup(engine=keras.backend.backend())


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
    restart=False,
    run_lock=None,
):
    """Train a model as `config` describes, resuming from a backup if any.

    The run folder (`config.output_dir`) is locked for the whole call
    (`run_folder.RunLock`: a second run on it stops at once). A folder
    that holds a run of other options is refused (`RunFolderError` naming
    them) unless `restart`; `config.json` is written only after that
    check.

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
        restart: delete the outputs of an earlier run in `output_dir`
            and start afresh (`run_folder.clear_run`).
        run_lock: a `run_folder.RunLock` of `output_dir` already held
            (`clinclip train` takes it before loading Keras); released
            at the end.

    Returns:
        A `TrainingResult`.
    """
    setup = setup or _default_setup()
    if not setup.is_chief:
        return _train(
            config, setup, model, data, losses, callbacks, write_preset
        )
    with run_lock or run_folder.RunLock(config.output_dir):
        run_folder.check_run_config(config, restart=restart)
        return _train(
            config, setup, model, data, losses, callbacks, write_preset
        )


def _save_config(config, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    file_writes.write_text_atomic(
        path, json.dumps(config.to_dict(), indent=2) + "\n"
    )


def _train(config, setup, model, data, losses, callbacks, write_preset):
    keras.utils.set_random_seed(config.seed)
    _set_precision(config)
    paths = run_paths(config.output_dir)
    data = data if data is not None else build_data(config, setup)
    steps_per_epoch = int(config.steps_per_epoch or data.steps_per_epoch)
    total_steps = steps_per_epoch * int(config.epochs)
    with setup.scope():
        if model is None:
            model = build_model(config, data, setup)
            if setup.is_chief:
                _write_model_info(config, data, model)
        elif callable(model) and not isinstance(model, keras.Model):
            model = model()
        if setup.is_chief:
            # Only now, with the data and the model built: a run that
            # fails before does not hold its folder.
            _save_config(config, paths["config"])
        loss_list, weights = losses or build_losses(config)
        optimizer = builders.build_optimizer(config, total_steps)
        if getattr(model, "_distribute_strategy", None) is not None:
            # A batch from a separate pipeline for Keras's symbolic build.
            sample = next(iter(stream_from(data.train, 0).take(1)))
            keras_compat.patch_model(model, sample_batch=sample)
        if setup.engine == "tensorflow":
            keras_compat.clip_after_reduce(optimizer, setup.num_replicas)
        if setup.engine == "torch" and setup.num_processes > 1:
            torch_ddp.broadcast_weights(model)
            torch_ddp.all_reduce_gradients(optimizer, average=True)
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
    if setup.is_chief:
        for note in getattr(data, "notes", ()):
            print(note)
    start_time = time.time()
    stream = sharding.local_stream(
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
            task = models.ClinCLIPPretrainer(
                model, data.preprocessor, compile=False
            )
            task.save_to_preset(str(paths["preset"]))
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    return TrainingResult(
        model=model,
        history=history,
        start_step=start,
        steps=steps,
        seconds=seconds,
        data=data,
        skipped=skipped_summary(data),
    )


def _write_model_info(config, data, model=None):
    """What `clinclip export` needs besides the config to rebuild it."""

    info = {"graph_feature_dim": builders.graph_feature_dim(data.records)}
    info["negation_capacity"] = getattr(model, "negation_capacity", None)
    path = pathlib.Path(config.output_dir) / export.MODEL_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info) + "\n")


def _save_weights_atomic(model, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_writes.replace_atomically(
        path, lambda temp: model.save_weights(str(temp), overwrite=True)
    )


def run(args):
    """Run `clinclip train` with parsed arguments; returns the exit code.

    `args.training_config` and `args.run_lock` come from
    `keras_clinclip.cli.train.check` (the config with `--config` merged,
    and the run folder's lock, taken before Keras loaded).
    """
    config = getattr(args, "training_config", None) or config_from_args(args)
    # A bad dataset string is a one-line user error, before any work.
    sources.check_spec(config.dataset)
    try:
        result = train(
            config,
            restart=bool(getattr(args, "restart", False)),
            run_lock=getattr(args, "run_lock", None),
        )
    except KeyboardInterrupt:
        print(interrupted_message(config), file=sys.stderr, flush=True)
        return 130
    except Exception as error:  # noqa: BLE001 (reported, then exit 1)
        return _report_failure(error, config)
    print(
        f"Done: {result.steps} steps in {result.seconds:.0f} s; outputs in "
        f"{config.output_dir}"
    )
    if config.on_error == "skip":
        skipped = result.skipped
        line = (
            f"Skipped (--on-error skip): {skipped['records']} bad "
            f"record(s), {skipped['images']} unreadable image(s)"
        )
        if skipped["examples"]:
            line += "; first: " + "; ".join(skipped["examples"])
        print(line)
    return 0


def interrupted_message(config):
    """The line `clinclip train` prints when Ctrl-C stops it.

    Args:
        config: the run's `TrainingConfig`.

    Returns:
        A string.

    Example:
    >>> from keras_clinclip.training.config import TrainingConfig
    >>> line = interrupted_message(TrainingConfig(output_dir="runs/x"))
    >>> "rerun the same command to resume" in line, "runs/x" in line
    (True, True)
    """
    return (
        "clinclip train: interrupted; rerun the same command to resume "
        f"from the last backup in {config.output_dir} (--restart starts "
        "afresh)"
    )


# Seconds a failed run may spend shutting down before it is ended.
EXIT_DEADLINE = 30


def _report_failure(error, config):
    """Print one clear line for `error`, free the pipeline; the exit code.

    A user error (bad data, a refused or corrupt run folder) returns 2,
    like every other `clinclip` user error; anything else prints its
    traceback first and returns 1.

    A `tf.data` iterator that failed inside a `numpy_function` (an
    unreadable image) is still referenced by the traceback's frames; left
    to the interpreter's shutdown, its threads may wait for the GIL that
    the finalizing thread holds, and the process hangs. Dropping the
    traceback and collecting it here destroys the iterator while the
    interpreter is alive; from the start of the shutdown (`atexit`),
    `faulthandler` ends the process with exit code 1 if the shutdown still
    takes longer than `EXIT_DEADLINE` seconds.
    """
    import atexit
    import faulthandler
    import gc
    import traceback

    message, known = _error_message(error, config)
    if not known:
        traceback.print_exception(error)
    error.__traceback__ = None
    del error
    gc.collect()
    print(f"clinclip train: error: {message}", file=sys.stderr, flush=True)
    atexit.register(faulthandler.dump_traceback_later, EXIT_DEADLINE, exit=True)
    return 2 if known else 1


def _error_message(error, config):
    """`(line, known)`: the useful line of `error` (a data error is buried
    in TF's text) and whether it is a known, explained failure."""
    text = str(error)
    hint = ""
    if config.on_error == "raise":
        hint = (
            " (pass --on-error skip to skip bad records and unreadable "
            "images; they are counted in the run summary)"
        )
    if is_user_error(error):
        line = one_line(error)
        if type(error).__name__ == "ImageDecodeError" or line.startswith(
            "records row "
        ):  # a bad record or image: it can be skipped
            return line.rstrip(".") + hint, True
        return line, True
    marker = "ImageDecodeError: "
    if marker in text:
        line = text.split(marker, 1)[1].strip().splitlines()[0]
        return line.rstrip(".") + hint, True
    if text.startswith("records row "):  # make_dataset's record checks
        return text.strip().splitlines()[0].rstrip(".") + hint, True
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return f"{type(error).__name__}: {first}", False
