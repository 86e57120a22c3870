"""Issue 30 and issue 25 (items 5, 7, 10): one rule for user mistakes.

A user mistake is one line on stderr naming the thing and the fix, exit
status 2, and nothing is written; a bug keeps its traceback. The command
cases run in one subprocess that never loads a backend (the mistakes are
refused before Keras is imported; the run-folder lock too).
"""

import errno
import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_clinclip import file_writes
from keras_clinclip import tables
from keras_clinclip.cli import build_parser
from keras_clinclip.cli import train as train_options
from keras_clinclip.data import load_records
from keras_clinclip.errors import is_user_error
from keras_clinclip.errors import one_line
from keras_clinclip.training import run_folder
from keras_clinclip.training.config import TrainingConfig

pytestmark = pytest.mark.backend_independent

HEAVY = ("keras", "tensorflow", "jax", "torch")

# Runs each case through `clinclip`'s `main` in a process that starts as
# the console script does; prints {case: [exit status, stderr]} and the
# heavy modules loaded.
_RUNNER = textwrap.dedent(
    f"""
    import contextlib, io, json, os, resource, sys
    sys.argv[0] = "clinclip"
    import keras_clinclip
    from keras_clinclip.cli import main
    cases = json.loads(open(sys.argv[1]).read())
    results = {{}}
    for name, argv, env, fsize in cases:
        os.environ.update(env)
        if fsize:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
        for key in env:
            del os.environ[key]
        results[name] = [code, err.getvalue()]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY})
    print(json.dumps({{"results": results, "loaded": loaded}}))
    """
)


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("cases")
    reports = _write(root / "r.csv", "study_id,report\n1,No effusion.\n")
    big = _write(
        root / "big.csv",
        "id,report\n"
        + "".join(f"{i},Small left pleural effusion.\n" for i in range(200)),
    )
    good = TrainingConfig(epochs=2).to_dict()
    configs = {
        "config_unknown_key": {**good, "epoch": 2},
        "config_float_batch": {"batch_size": 8.5},
        "config_bool_epochs": {"epochs": True},
        "config_list": [1, 2],
    }
    for name, values in configs.items():
        _write(root / f"{name}.json", json.dumps(values))
    _write(root / "config_bad_json.json", '{"epochs": 2')
    gz = root / "trunc.csv.gz"
    gz.write_bytes(gzip.compress(b"id,report\n1,Edema.\n" * 50)[:40])
    os.mkfifo(root / "fifo")
    (root / "folder").mkdir()
    (root / "target.jsonl").write_text("old\n")
    os.symlink(root / "target.jsonl", root / "link.jsonl")
    other = root / "other_run"
    other.mkdir()
    TrainingConfig(epochs=5, output_dir=str(other)).save(other / "config.json")
    locked = root / "locked"
    prep = ["prepare", "--reports", reports, "--verbose", "0"]

    def case(name, argv, env=None, fsize=0):
        return [name, argv, env or {}, fsize]

    def train(name, *argv):
        out = str(root / "runs" / name)
        return case(name, ["train", "--output-dir", out, *argv])

    def prepare(name, output, *argv):
        return case(name, [*prep, "--output", str(output), *argv])

    cases = [
        *(
            train(name, "--config", str(root / f"{name}.json"))
            for name in (*configs, "config_bad_json")
        ),
        train("config_missing", "--config", str(root / "nothere.json")),
        train("nan_learning_rate", "--learning-rate", "nan"),
        train("soft_weight_2", "--soft-weight", "2"),
        case("locked", ["train", "--output-dir", str(locked)]),
        case("other_options", ["train", "--output-dir", str(other)]),
        case(
            "pytorch",
            ["train", "--output-dir", str(root / "runs" / "pytorch")],
            env={"KERAS_BACKEND": "pytorch"},
        ),
        prepare("output_is_fifo", root / "fifo"),
        prepare("output_is_device", os.devnull),
        prepare("output_is_folder", root / "folder"),
        prepare("output_is_input", reports),
        prepare("symlink", root / "link.jsonl"),
        prepare("id_column", root / "x.jsonl", "--id-column", "sid"),
        prepare("max_nodes", root / "x.jsonl", "--max-nodes", "0"),
        case(
            "explain_over_image",
            ["explain", "--preset", str(root), "--image", reports]
            + ["--text", "edema", "--output", reports],
        ),
        case(
            "evaluate_into_file",
            ["evaluate", "--preset", str(root), "--output-dir", reports],
        ),
        case(
            "evaluate_missing_column",
            ["evaluate", "--preset", str(root), "--data", reports],
        ),
        case(
            "export_into_file", ["export", str(root), "--preset-dir", reports]
        ),
        case(
            "truncated_gz",
            ["prepare", "--reports", str(gz), "--output", str(root / "y")],
        ),
        # Last: the file-size limit stays for the rest of the process.
        case(
            "disk_full",
            ["prepare", "--reports", big, "--output", str(root / "full.jsonl")]
            + ["--verbose", "0"],
            fsize=4096,
        ),
    ]
    spec = root / "cases.json"
    spec.write_text(json.dumps(cases))
    with run_folder.RunLock(locked):
        result = subprocess.run(
            [sys.executable, "-c", _RUNNER, str(spec)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return root, data["results"], data["loaded"]


# case -> what its one line must say
EXPECTED = {
    "config_unknown_key": "unknown field(s) ['epoch']",
    "config_float_batch": "`batch_size` must be an integer, got 8.5",
    "config_bool_epochs": "`epochs` must be an integer, got True",
    "config_list": "expected a JSON object",
    "config_bad_json": "not a JSON config file",
    "config_missing": "no such config file",
    "nan_learning_rate": "--learning-rate must be a finite number, got nan",
    "soft_weight_2": "--soft-weight must be in [0, 1], got 2.0",
    "locked": "is in use by another training run",
    "other_options": "holds a run with other options: epochs 5 -> 3",
    "pytorch": "KERAS_BACKEND='pytorch' is not a Keras backend: set it to "
    "one of tensorflow, jax, torch",
    "output_is_fifo": "is a FIFO, not a regular file",
    "output_is_device": "is a device, not a regular file",
    "output_is_folder": "is a folder, not a regular file",
    "output_is_input": "is the input --reports",
    "id_column": "no column 'sid' (--id-column); the columns are: "
    "study_id, report",
    "max_nodes": "--max-nodes must be >= 1, got 0",
    "explain_over_image": "--output",
    "evaluate_into_file": "--output-dir",
    "evaluate_missing_column": "r.csv: no column 'image_path' "
    "(--image-column); the columns are: study_id, report",
    "export_into_file": "--preset-dir",
    "truncated_gz": "not a complete gzip file",
    "disk_full": "free some space or choose another output folder",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_user_mistake_is_one_line_and_exit_2(outcomes, name):
    _, results, _ = outcomes
    code, stderr = results[name]
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert EXPECTED[name] in lines[0], lines[0]


def test_outputs_that_are_inputs_name_both(outcomes):
    _, results, _ = outcomes
    assert "is the input --image" in results["explain_over_image"][1]
    assert "not a folder" in results["evaluate_into_file"][1]
    assert "not a folder" in results["export_into_file"][1]


def test_every_mistake_is_refused_before_a_backend_loads(outcomes):
    _, _, loaded = outcomes
    assert loaded == []


def test_nothing_is_written_by_a_refused_command(outcomes):
    root, _, _ = outcomes
    assert (root / "r.csv").read_text().startswith("study_id,report")
    assert not (root / "x.jsonl").exists()
    assert not (root / "full.jsonl").exists()  # the partial file removed
    assert not [p for p in os.listdir(root) if p.startswith(".tmp-")]
    assert not (root / "locked" / "config.json").exists()
    for run in (root / "runs").iterdir():
        assert "config.json" not in os.listdir(run), run


def test_a_symlinked_output_writes_its_target(outcomes):
    root, results, _ = outcomes
    assert results["symlink"][0] == 0, results["symlink"][1]
    assert os.path.islink(root / "link.jsonl")
    assert '"No effusion."' in (root / "target.jsonl").read_text()


def _train_args(*argv):
    parser = build_parser()
    return parser.parse_args(["train", *argv])


def test_the_command_line_wins_over_config_even_at_the_default(tmp_path):
    path = tmp_path / "a.json"
    TrainingConfig(epochs=2, batch_size=4, loss="n").save(path)
    args = _train_args(
        "--config", str(path), "--epochs", "3",  # 3 is the default
        "--output-dir", str(tmp_path / "run"),
    )  # fmt: skip
    train_options.check(args)
    args.run_lock.release()
    config = args.training_config
    assert (config.epochs, config.batch_size, config.loss) == (3, 4, "n")
    assert config.output_dir == str(tmp_path / "run")
    # Without the option, the file's value.
    args = _train_args("--config", str(path))
    assert train_options.check_config(args).epochs == 2


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 8.5, "must be an integer"),
        ("epochs", True, "must be an integer"),
        ("learning_rate", float("nan"), "must be a finite number"),
        ("soft_weight", float("inf"), "must be a finite number"),
        ("tensorboard", 1, "must be true or false"),
        ("soft_weight", 1.5, "must be in [0, 1]"),
        ("target_temperature", 0.0, "must be > 0"),
        ("verbose", 3, "must be 0, 1 or 2"),
    ],
)
def test_config_values_are_checked_for_type_range_and_finiteness(
    field, value, message
):
    with pytest.raises(
        ValueError,
        match=f"`{field}` {message}".replace("[", r"\[").replace("]", r"\]"),
    ):
        TrainingConfig(**{field: value})


def test_disk_full_leaves_no_temporary_file_and_is_a_user_error(tmp_path):
    target = tmp_path / "state.weights.h5"
    target.write_bytes(b"old")

    def write(temp):
        temp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(temp))

    with pytest.raises(OSError) as info:
        file_writes.replace_atomically(target, write)
    assert sorted(os.listdir(tmp_path)) == ["state.weights.h5"]
    assert target.read_bytes() == b"old"
    assert is_user_error(info.value)
    assert one_line(info.value).endswith("choose another output folder")
    # h5py hides the errno in its text.
    assert is_user_error(OSError("Unable to create file (errno = 28)"))
    assert not is_user_error(OSError("something else"))


def test_tables_name_missing_columns_and_wrong_json_types(tmp_path):
    table = tmp_path / "t.jsonl"
    rows = [
        {"image_path": "a.png", "report": "Edema.", "Edema": 1},
        {"image_path": "b.png", "report": ["Edema."]},
        {"image_path": "c.png", "report": 42},
        {"image_path": "d.png", "report": "Edema.", "Edema": [1]},
    ]
    table.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(tables.TableError, match=r"line 2\): 'report' must"):
        load_records(table)
    kept = load_records(table, on_error="skip")
    assert kept["report"] == ["Edema."]
    with pytest.raises(tables.TableError) as info:
        load_records(table, id_column="studyid")
    assert "no column 'studyid' (id_column); the columns are: image_path" in (
        str(info.value)
    )
    with pytest.raises(ValueError, match="label \\[1\\] is a list"):
        tables.parse_label([1], "here")
    bad = tmp_path / "t.csv.gz"
    bad.write_bytes(b"id,report\n")
    with pytest.raises(tables.TableError, match="not a complete gzip file"):
        load_records(bad)


def test_a_dicom_that_cannot_be_windowed_is_named_and_skipped(tmp_path):
    from keras_clinclip.data import PipelineOptions
    from keras_clinclip.data import make_dataset
    from keras_clinclip.data.images import ImageDecodeError
    from keras_clinclip.data.images import decode_image
    from tests.data import trees
    from tests.data.test_images import write_dicom
    from tests.data.test_pipeline import HashPreprocessor

    pixels = np.tile(np.linspace(0, 4000, 16), (16, 1))
    bad = write_dicom(tmp_path / "ww0.dcm", pixels, window=(100, 0))
    with pytest.raises(ImageDecodeError, match="ww0.dcm: cannot convert"):
        decode_image(bad)
    paths = [trees.write_image(tmp_path / f"{i}.png", seed=i) for i in (1, 2)]
    records = {
        "id": ["a", "b", "c"],
        "image_path": [str(paths[0]), str(bad), str(paths[1])],
        "report": ["Edema.", "Clear.", "Effusion."],
        "labels": np.full((3, 14), np.nan, np.float32),
        "split": ["train"] * 3,
    }
    dataset = make_dataset(
        records,
        HashPreprocessor(),
        3,
        image_size=16,
        options=PipelineOptions(on_error="skip"),
    )
    batches = list(dataset)
    assert sum(int(x["token_ids"].shape[0]) for x, _ in batches) == 2
    assert dataset.error_log.epochs[0]["skipped"] == 1
    assert "ww0.dcm" in dataset.error_log.epochs[0]["decode_errors"][0][1]


def test_an_incomplete_preset_names_the_missing_file(tmp_path):
    from keras_clinclip.evaluation.model_loading import PresetError
    from keras_clinclip.evaluation.model_loading import load_preset_model

    for name in ("config.json", "preprocessor.json", "metadata.json"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(PresetError, match="no model.weights.h5;") as info:
        load_preset_model(tmp_path)
    assert is_user_error(info.value)
    (tmp_path / "preprocessor.json").unlink()
    with pytest.raises(PresetError, match="model.weights.h5, preprocessor"):
        load_preset_model(tmp_path)


def test_an_h5py_disk_error_is_one_line_naming_the_final_file():
    # As h5py raised it when a checkpoint hit the file-size limit.
    error = OSError(
        "Can't synchronously write data (file write failed: time = Sun Dec"
        "  6 12:21:28 2026\n, filename = 'run/checkpoints/.tmp-25844-epoch-"
        "001.weights.h5', file descriptor = 5, errno = 27, error message = "
        "'File too large', buf = 0x562ec999c648)"
    )
    assert is_user_error(error)
    assert one_line(error) == (
        "run/checkpoints/epoch-001.weights.h5: File too large: free some "
        "space or choose another output folder"
    )


def test_read_only_and_permission_errors_name_the_path_and_the_fix():
    read_only = OSError(errno.EROFS, "Read-only file system", "/ro/run")
    denied = PermissionError(errno.EACCES, "Permission denied", "/x/run")
    assert is_user_error(read_only) and is_user_error(denied)
    assert one_line(read_only) == (
        "/ro/run: Read-only file system: choose an output folder on a "
        "writable file system"
    )
    assert one_line(denied).startswith("/x/run: permission denied: check")
