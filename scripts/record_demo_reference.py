"""Record the numbers of a micro `clinclip demo` run as the reference of
`tests/training/test_demo_reference.py`.

    KERAS_BACKEND=jax PYTHONPATH=. python scripts/record_demo_reference.py

runs `clinclip demo` (through `keras_clinclip.cli.main`, the command users
run) at the micro budget `DEMO_ARGS` with a fixed seed and writes, under the
Keras backend's name in `tests/training/demo_reference.json`:

- `loss` and `val_loss`: the training and validation loss of each epoch
  (`training_log.csv`; one step per epoch, so each is one step's loss);
- `steps`: the optimizer steps run;
- `trained` and `untrained`: the headline metrics of `summary.json`.

Only numbers computed by the library (losses, metrics) are stored, nothing
taken from the reports' text. An intended change of the demo's output:
rerun this script and say why in the commit.

`--output FILE` writes elsewhere and extra demo options go after `--`
(e.g. `-- --negation-families ''` to pin a default that changed); that is
how the output of two trees is compared. The script only uses
`keras_clinclip.cli.main` (and, with `--initial-weights`,
`keras_clinclip.training.train.build_model`), so a copy of it also runs on
older trees.

`--initial-weights FILE.npz` gives every model the demo builds the same
initial weights and dropout seeds: the first run saves them (when FILE
does not exist), the next runs load them. The draws of a seed depend on
the order in which the layers are constructed (Keras seeds each
initializer and dropout layer from Python's `random` when it is created),
so a refactor that constructs them in another order draws other initial
weights; with them pinned, the rest of the demo (data, losses, training,
evaluation) is compared alone.
"""

import argparse
import csv
import json
import math
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "training" / "demo_reference.json"

# The micro budget: the --quick demo on 48 training studies (with 6
# validation and 6 test studies), 3 epochs of one step of 4 studies, no
# bootstrap. Every output the demo computes is still computed.
DEMO_ARGS = (
    "--quick",
    "--num-samples",
    "48",
    "--batch-size",
    "4",
    "--epochs",
    "3",
    "--steps-per-epoch",
    "1",
    "--seed",
    "0",
    "--bootstrap",
    "0",
    "--no-tensorboard",
    "--verbose",
    "0",
)


def _number(value):
    """A JSON-safe float (None for a missing or NaN value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _epoch_column(rows, name):
    return [_number(None if r[name] == "NA" else float(r[name])) for r in rows]


def demo_numbers(output_dir):
    """The numbers to compare of a finished demo run in `output_dir`.

    Args:
        output_dir: the demo's `--output-dir`.

    Returns:
        A dict with `loss` and `val_loss` (lists per epoch), `steps`, and
        `trained` and `untrained` (metric name -> float or None).

    Example:
    >>> import tempfile, pathlib, json
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (out / "training_log.csv").write_text(
    ...     "epoch,loss,val_loss\\n0,2.5,NA\\n")
    >>> _ = (out / "summary.json").write_text(json.dumps(
    ...     {"steps": 1, "trained": {"m": 0.5}, "untrained": None}))
    >>> demo_numbers(out)
    {'loss': [2.5], 'val_loss': [None], 'steps': 1, 'trained': {'m': 0.5}, \
'untrained': {}}
    """
    output_dir = pathlib.Path(output_dir)
    with open(output_dir / "training_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads((output_dir / "summary.json").read_text())
    return {
        "loss": _epoch_column(rows, "loss"),
        "val_loss": _epoch_column(rows, "val_loss"),
        "steps": summary["steps"],
        "trained": {
            k: _number(v) for k, v in (summary["trained"] or {}).items()
        },
        "untrained": {
            k: _number(v) for k, v in (summary["untrained"] or {}).items()
        },
    }


def run_micro_demo(output_dir, extra_args=()):
    """Run `clinclip demo` at the micro budget; returns `demo_numbers`.

    Args:
        output_dir: the demo's `--output-dir` (created).
        extra_args: more demo options, after `DEMO_ARGS`.

    Returns:
        The `demo_numbers` of the run.
    """
    from keras_clinclip.cli import main

    args = ["demo", *DEMO_ARGS, "--output-dir", str(output_dir)]
    code = main(args + list(extra_args))
    if code != 0:
        raise RuntimeError(f"clinclip demo exited {code}: {args}")
    return demo_numbers(output_dir)


def pin_initial_weights(path):
    """Make every `build_model` of the demo use the variables in `path`.

    Args:
        path: an `.npz` file of a model's variables (weights and seed
            generator states); written from the first model built when it
            does not exist, read into every model built.
    """
    import numpy as np

    from keras_clinclip.training import demo
    from keras_clinclip.training import train

    built = train.build_model

    def build_model(*args, **kwargs):
        model = built(*args, **kwargs)
        # The variables: the weights and the dropout layers' seed states.
        if not path.exists():
            values = [np.asarray(v) for v in model.variables]
            np.savez(path, **{f"v{i}": v for i, v in enumerate(values)})
        with np.load(path) as saved:
            if len(saved) != len(model.variables):
                raise ValueError(f"{path}: another model's variables")
            for i, variable in enumerate(model.variables):
                variable.assign(saved[f"v{i}"])
        return model

    train.build_model = demo.build_model = build_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        default=REFERENCE,
        help="JSON file; its backend entry is replaced (default: %(default)s)",
    )
    parser.add_argument(
        "--initial-weights",
        type=pathlib.Path,
        help="an .npz of initial weights: saved if absent, else loaded",
    )
    parser.add_argument(
        "extra", nargs="*", help="demo options after --, added to DEMO_ARGS"
    )
    args = parser.parse_args(argv)

    import keras

    if args.initial_weights:
        pin_initial_weights(args.initial_weights)
    with tempfile.TemporaryDirectory() as folder:
        numbers = run_micro_demo(pathlib.Path(folder) / "demo", args.extra)
    numbers["demo_args"] = list(DEMO_ARGS) + list(args.extra)
    reference = {}
    if args.output.exists():
        reference = json.loads(args.output.read_text())
    reference[keras.backend.backend()] = numbers
    text = json.dumps(reference, indent=1, sort_keys=True)
    args.output.write_text(text + "\n")
    print(f"wrote {args.output} ({keras.backend.backend()})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
