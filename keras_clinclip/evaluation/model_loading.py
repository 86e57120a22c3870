"""Load a saved preset (backbone and preprocessor) for the commands.

`clinclip evaluate` (`evaluation.evaluate`) and `clinclip explain`
(`evaluation.explain`) both start from a preset directory written by
`clinclip export`; this module is their one way to read it, and turns a
corrupt file into an error that names the file and the fix.
"""

import json
import pathlib

import h5py

from keras_clinclip.models import ClinCLIPBackbone
from keras_clinclip.models import ClinCLIPPreprocessor

# The files without which a local preset cannot load.
PRESET_FILES = ("config.json", "model.weights.h5", "preprocessor.json")


class PresetError(ValueError):
    """A preset that cannot be loaded; the message names the file and fix.

    Example:
    >>> issubclass(PresetError, ValueError)
    True
    """


def load_preset_model(preset):
    """The backbone and preprocessor of a KerasHub preset.

    Args:
        preset: a preset directory (saved by `clinclip export` or
            `ClinCLIPBackbone.save_to_preset` with its preprocessor) or a
            preset URL (`kaggle://...`, `hf://...`).

    Returns:
        `(backbone, preprocessor)`.

    Example:
    >>> try:
    ...     load_preset_model("/nonexistent")
    ... except FileNotFoundError as error:
    ...     print(error)
    --preset '/nonexistent' does not exist
    """
    preset = str(preset)
    if not pathlib.Path(preset).exists() and "://" not in preset:
        raise FileNotFoundError(f"--preset {preset!r} does not exist")
    folder = pathlib.Path(preset)
    missing = [n for n in PRESET_FILES if not (folder / n).exists()]
    if folder.is_dir() and missing and _unreadable_preset_file(preset) is None:
        raise PresetError(
            f"{folder}: no {', '.join(missing)}; it is not a complete "
            "preset. Export it again (`clinclip export RUN_DIR "
            "--preset-dir DIR`) or give the folder that holds the preset."
        )
    try:
        backbone = ClinCLIPBackbone.from_preset(preset)
        preprocessor = ClinCLIPPreprocessor.from_preset(preset)
    except Exception as error:
        bad = _unreadable_preset_file(preset)
        if bad is None:
            raise
        raise PresetError(
            f"{bad[0]}: {bad[1]}; the preset is corrupt. Export it again "
            "(`clinclip export RUN_DIR --preset-dir DIR`) or retrain."
        ) from error
    return backbone, preprocessor


def _unreadable_preset_file(preset):
    """`(path, reason)` of the first unreadable file of a local preset."""
    folder = pathlib.Path(preset)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            return path, f"not valid JSON ({error})"
    for path in sorted(folder.glob("*.h5")):
        try:
            with h5py.File(path, "r"):
                pass
        except OSError as error:
            return path, f"not a readable HDF5 file ({error})"
    return None
