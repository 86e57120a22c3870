"""The paper's component ablation on the embedded dataset.

Trains each loss preset (CLIP, D_t, D_(t+c), N, N-D_(t+c), G, G-D_(t+c+g),
N,G-D_(t+c+g)) with the same budget, data and seeds, evaluates each on the
held-out IU split, and prints one Markdown table (mean and standard
deviation over seeds): CXR-Align Task A and B, zero-shot macro AUROC,
R@5 both ways and the 10% linear probe.

    KERAS_BACKEND=jax python recipes/ablation.py --seeds=0,1 --epochs=3

Every run's own report stays in `--output-dir/<preset>-seed<k>/`.

With `--negation-families` (sets of negation generator families separated
by ";"), each preset is trained once per set, and the table gives
CXR-Align on benchmarks built by the families training used (same-family)
and by those it did not (cross-family), and per family:

    KERAS_BACKEND=jax python recipes/ablation.py --presets=full \
        --negation-families="templates;templates,in_place,vocabulary,synonyms"
"""

import argparse
import json
import pathlib
import shlex
import sys
import time

from keras_clinclip.cli.options import ArgumentParser
from keras_clinclip.cli.options import add_option
from keras_clinclip.reports.negation_families import FAMILIES
from keras_clinclip.reports.negation_mix import parse_families

PRESETS = {
    "clip": "CLIP",
    "dt": "D_t",
    "dtc": "D_(t+c)",
    "n": "N",
    "n_dtc": "N-D_(t+c)",
    "g": "G",
    "g_dtcg": "G-D_(t+c+g)",
    "full": "N,G-D_(t+c+g)",
}
COLUMNS = (
    "CXR-Align Task A",
    "CXR-Align Task B",
    "zero-shot macro AUROC",
    "R@5 i2t",
    "R@5 t2i",
    "linear probe 10% AUROC",
)
FAMILY_COLUMNS = (
    "CXR-Align Task A same-family",
    "CXR-Align Task A cross-family",
    *(f"CXR-Align Task A [{name}]" for name in FAMILIES),
    "CXR-Align Task B same-family",
    "CXR-Align Task B cross-family",
)


def mean_sd(values):
    """Mean and sample standard deviation of the non-missing values.

    Example:
    >>> mean_sd([0.5, 0.7, None])
    (0.6, 0.1414213562373095)
    """
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, var**0.5


def table(rows, columns=COLUMNS):
    """Markdown table of `{preset: [headline dict per seed]}` (a key may
    also be `(preset, families)`)."""
    lines = [
        "| components | " + " | ".join(columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for key, runs in rows.items():
        preset, families = key if isinstance(key, tuple) else (key, None)
        label = PRESETS[preset]
        if families:
            label += f", negations: {families}"
        cells = []
        for column in columns:
            mean, sd = mean_sd([run.get(column) for run in runs])
            if mean is None:
                cells.append("n/a")
            elif sd is None:
                cells.append(f"{mean:.3f}")
            else:
                cells.append(f"{mean:.3f} ± {sd:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _presets(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in PRESETS:
            raise argparse.ArgumentTypeError(
                f"unknown preset {name!r}; choose from {', '.join(PRESETS)}"
            )
    return names


def _family_sets(text):
    try:
        return [
            ",".join(parse_families(part))
            for part in text.split(";")
            if part.strip()
        ]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seeds(text):
    try:
        return [str(int(seed)) for seed in text.split(",") if seed.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def parse_args(argv=None):
    """The ablation's options (spelled as in `clinclip`)."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    add_option(
        parser,
        "--presets",
        type=_presets,
        default=",".join(PRESETS),
        help="loss presets to train, comma-separated",
    )
    add_option(
        parser,
        "--seeds",
        type=_seeds,
        default="0,1",
        help="seeds, comma-separated (at least 2 for the table)",
    )
    add_option(
        parser,
        "--num-samples",
        dest="num_samples",
        type=int,
        default=960,
        help="IU studies used (all splits)",
    )
    add_option(
        parser,
        "--epochs",
        type=int,
        default=3,
        help="epochs per run (equal for all presets)",
    )
    add_option(
        parser,
        "--max-length",
        dest="max_length",
        type=int,
        default=48,
        help="report tokens",
    )
    add_option(
        parser,
        "--negation-families",
        dest="negation_families",
        type=_family_sets,
        default=None,
        help="sets of training negation families separated by ';' (each "
        "comma-separated); adds same- and cross-family CXR-Align columns",
    )
    add_option(
        parser,
        "--output-dir",
        dest="output_dir",
        default="runs/ablation",
        help="where runs are written",
    )
    add_option(
        parser,
        "--table-out",
        dest="table_out",
        default=None,
        help="also write the table (Markdown) to this file",
    )
    args = parser.parse_args(argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    import keras

    from keras_clinclip.training.config import TrainingConfig
    from keras_clinclip.training.demo import DEMO_DEFAULTS
    from keras_clinclip.training.demo import run_demo

    rows = {}
    start = time.time()
    out = pathlib.Path(args.output_dir)
    family_sets = args.negation_families or [None]
    runs = [
        (preset, families)
        for preset in args.presets
        for families in family_sets
    ]
    for preset, families in runs:
        key = (preset, families) if families else preset
        rows[key] = []
        for seed in args.seeds:
            name = preset if not families else f"{preset}-{families}"
            run_dir = out / f"{name.replace(',', '+')}-seed{seed}"
            summary_path = run_dir / "summary.json"
            if summary_path.exists():  # resume a partial ablation
                summary = json.loads(summary_path.read_text())
            else:
                values = {
                    **DEMO_DEFAULTS,
                    "loss": preset,
                    "seed": int(seed),
                    "num_samples": args.num_samples,
                    "epochs": args.epochs,
                    "max_length": args.max_length,
                    "output_dir": str(run_dir),
                    "validate": False,
                    "negation_families": families or "",
                }
                config = TrainingConfig.from_dict(
                    {**TrainingConfig().to_dict(), **values}
                )
                summary = run_demo(config, quick=True, baseline=False)
            rows[key].append(summary["trained"])
            print(f"{key} seed {seed}: {summary['trained']}", flush=True)
    minutes = (time.time() - start) / 60
    text = table(rows, FAMILY_COLUMNS if args.negation_families else COLUMNS)
    arguments = shlex.join(sys.argv[1:])
    command = (
        f"KERAS_BACKEND={keras.backend.backend()} python "
        f"recipes/ablation.py {arguments}"
    )
    footer = (
        f"\n\n{len(args.seeds)} seeds ({', '.join(args.seeds)}), "
        f"{args.num_samples} IU studies, {args.epochs} epoch(s), "
        f"reports truncated to {args.max_length} tokens, on "
        f"{keras.backend.backend()}; {minutes:.0f} minutes in all.\n"
        f"Command: `{command}`\n"
    )
    print("\n" + text + footer)
    if args.table_out:
        pathlib.Path(args.table_out).write_text(text + footer)


if __name__ == "__main__":
    sys.exit(main())
