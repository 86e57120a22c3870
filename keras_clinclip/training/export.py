"""`clinclip export`: a run's checkpoint to a KerasHub preset directory.

The run directory holds `config.json` and `model.json` (written by
`train`); the model is rebuilt from them, the chosen weights loaded, and
`ClinCLIPPretrainer.save_to_preset` writes the preset (`task.json`, the
backbone, its preprocessor and the model card). The preset then loads with
`keras_hub.models.Backbone.from_preset(dir)` once `keras_clinclip` is
imported, or `ClinCLIPBackbone.from_preset(dir)`. Its model card
(`README.md`) records the data set, the training configuration, the last
logged metrics and, for the embedded data sets, that the image tower saw
only synthetic images.
"""

import csv
import json
import os
import pathlib

from keras_clinclip import models
from keras_clinclip.training import builders
from keras_clinclip.training import run_folder
from keras_clinclip.training.builders import build_losses
from keras_clinclip.training.callbacks import run_paths
from keras_clinclip.training.config import TrainingConfig
from keras_clinclip.training.config_file import ConfigFileError
from keras_clinclip.training.config_file import read_config_file
from keras_clinclip.training.training_state_backup import TrainingStateBackup

MODEL_INFO = "model.json"

# Data sets whose images are rendered (SynthCXR), not real radiographs.
SYNTHETIC_IMAGE_DATASETS = ("iu_xray", "synthetic")


def run_model_card(config, log_csv=None):
    """The model card of a training run (see `ClinCLIPBackbone.save_to_preset`).

    Args:
        config: the run's `TrainingConfig`.
        log_csv: optional path of the run's `training_log.csv`; its last
            row gives the metrics.

    Returns:
        A model-card dict.

    Example:
    >>> card = run_model_card(TrainingConfig(dataset="iu_xray"))
    >>> card["synthetic_images"], card["training_config"]["dataset"]
    (True, 'iu_xray')
    """
    dataset = str(config.dataset)
    if dataset == "iu":
        dataset = "iu_xray"
    # Known for the named data sets; for a user's table or saved records
    # nothing here tells real radiographs from renders: unknown (None).
    synthetic = True if dataset in SYNTHETIC_IMAGE_DATASETS else None
    if dataset == "iu_xray":
        data = "IU X-ray reports (embedded) with SynthCXR images rendered "
        data += "from their findings"
    elif dataset == "synthetic":
        data = "synthetic reports and SynthCXR images"
    else:
        data = f"records from {pathlib.Path(dataset).resolve()}"
    if config.num_samples:
        data += f" ({config.num_samples} studies at most)"
    metrics = {}
    if log_csv is not None and pathlib.Path(log_csv).exists():
        with open(log_csv, newline="") as file:
            rows = list(csv.DictReader(file))
        if rows:
            for key, value in rows[-1].items():
                try:
                    metrics[key] = float(value)
                except (TypeError, ValueError):
                    continue
    return {
        "training_data": data,
        "synthetic_images": synthetic,
        "training_config": config.to_dict(),
        "metrics": metrics,
    }


def find_checkpoint(run_dir):
    """The weights to export from a run: final, else best, else backup.

    Args:
        run_dir: the run's `output_dir`.

    Returns:
        A `pathlib.Path` to a `.weights.h5` file.

    Example:
    >>> import tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "final.weights.h5").write_bytes(b"")
    >>> find_checkpoint(folder).name
    'final.weights.h5'
    """
    run_dir = pathlib.Path(run_dir)
    paths = run_paths(run_dir)
    candidates = [
        run_dir / "final.weights.h5",
        paths["checkpoints"] / "best.weights.h5",
    ]
    epochs = sorted(paths["checkpoints"].glob("epoch-*.weights.h5"))
    candidates.extend(reversed(epochs))
    for path in candidates:
        if path.exists():
            return path
    state = TrainingStateBackup.read_state(paths["backup"])
    if state is not None:
        return paths["backup"] / state["weights"]
    raise FileNotFoundError(
        f"No weights in {run_dir}: expected final.weights.h5, "
        "checkpoints/*.weights.h5 or a backup/latest.json."
    )


def export_preset(run_dir, preset_dir, weights=None):
    """Rebuild a run's model, load its weights and save a KerasHub preset.

    Args:
        run_dir: the run's `output_dir` (with `config.json`, `model.json`).
        preset_dir: the preset directory to write.
        weights: a `.weights.h5` file (default `find_checkpoint(run_dir)`).

    Returns:
        The `pathlib.Path` of the preset directory.

    Raises:
        RunFolderError: a training run holds `run_dir` and the export
            would read its rotating backups (no `weights`) or write its
            own `preset/`; or `weights` does not fit the run's model.
    """

    run_dir = pathlib.Path(run_dir)
    paths = run_paths(run_dir)
    if not paths["config"].exists():
        raise FileNotFoundError(
            f"{paths['config']} is missing: is {run_dir} the output_dir of "
            "a `clinclip train` run?"
        )
    own_preset = os.path.realpath(preset_dir) == os.path.realpath(
        paths["preset"]
    )
    if (weights is None or own_preset) and _in_use(run_dir):
        raise run_folder.RunFolderError(
            f"{run_dir} is in use by a training run (see {run_dir}/.lock): "
            "export it when the run has ended, or give --weights FILE and "
            "--preset-dir DIR outside the run"
        )
    values = read_config_file(paths["config"])  # ConfigFileError if bad
    try:
        config = TrainingConfig.from_dict(values)
    except ValueError as error:
        raise ConfigFileError(f"{paths['config']}: {error}") from None
    info_path = run_dir / MODEL_INFO
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    weights = pathlib.Path(weights) if weights else find_checkpoint(run_dir)
    model = builders.build_backbone(
        config,
        graph_feature_dim=info.get("graph_feature_dim"),
        negation_capacity=info.get("negation_capacity"),
    )
    # The checkpoints hold the optimizer state too: build one to match.
    losses, loss_weights = build_losses(config)
    model.compile(
        optimizer=builders.build_optimizer(config, total_steps=1),
        loss=losses,
        loss_weights=loss_weights,
    )
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(str(weights))
    except Exception as error:  # h5py and Keras raise many kinds here
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise run_folder.RunFolderError(
            f"{weights}: not weights of this run's model ({lines[0]}); "
            "give another --weights file"
        ) from error
    preprocessor = builders.build_preprocessor(config)
    preset_dir = pathlib.Path(preset_dir)
    task = models.ClinCLIPPretrainer(model, preprocessor, compile=False)
    task.save_to_preset(
        str(preset_dir), model_card=run_model_card(config, paths["log_csv"])
    )
    print(f"Exported {weights} to the preset {preset_dir}")
    return preset_dir


def _in_use(run_dir):
    """Whether a training run holds the lock of `run_dir`."""
    try:
        run_folder.RunLock(run_dir).acquire().release()
    except run_folder.RunFolderError:
        return True
    except OSError:  # a read-only folder: no run writes there
        return False
    return False


def run(args):
    """Run `clinclip export`; returns the exit code."""
    preset_dir = args.preset_dir or run_paths(args.run_dir)["preset"]
    export_preset(args.run_dir, preset_dir, weights=args.weights)
    return 0
