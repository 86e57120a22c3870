"""The paper's component ablation on the embedded dataset.

Trains each loss preset (CLIP, D_t, D_(t+c), N, N-D_(t+c), G, G-D_(t+c+g),
N,G-D_(t+c+g)) with the same budget, data and seeds, evaluates each on the
held-out IU split, and prints one Markdown table (mean and standard
deviation over seeds): CXR-Align Task A and B, zero-shot macro AUROC,
R@5 both ways and the 10% linear probe.

    KERAS_BACKEND=jax python recipes/ablation.py --seeds=0,1 --epochs=3

Every run's own report stays in `--output_dir/<preset>-seed<k>/`.
"""

import json
import pathlib
import sys
import time

from absl import app
from absl import flags

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

FLAGS = flags.FLAGS
flags.DEFINE_list("presets", list(PRESETS), "loss presets to train")
flags.DEFINE_list("seeds", ["0", "1"], "seeds (at least 2 for the table)")
flags.DEFINE_integer("num_samples", 960, "IU studies used (all splits)")
flags.DEFINE_integer("epochs", 3, "epochs per run (equal for all presets)")
flags.DEFINE_integer("max_length", 48, "report tokens")
flags.DEFINE_string("output_dir", "runs/ablation", "where runs are written")
flags.DEFINE_string("table_out", None, "also write the table (Markdown) here")


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


def table(rows):
    """Markdown table of `{preset: [headline dict per seed]}`."""
    lines = [
        "| components | " + " | ".join(COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    for preset, runs in rows.items():
        cells = []
        for column in COLUMNS:
            mean, sd = mean_sd([run.get(column) for run in runs])
            if mean is None:
                cells.append("n/a")
            elif sd is None:
                cells.append(f"{mean:.3f}")
            else:
                cells.append(f"{mean:.3f} ± {sd:.3f}")
        lines.append(f"| {PRESETS[preset]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    import keras

    from keras_clinclip.training.config import TrainingConfig
    from keras_clinclip.training.demo import DEMO_DEFAULTS
    from keras_clinclip.training.demo import run_demo

    for preset in FLAGS.presets:
        if preset not in PRESETS:
            raise app.UsageError(
                f"--presets: unknown preset {preset!r}; "
                f"choose from {', '.join(PRESETS)}"
            )
    rows = {}
    start = time.time()
    out = pathlib.Path(FLAGS.output_dir)
    for preset in FLAGS.presets:
        rows[preset] = []
        for seed in FLAGS.seeds:
            run_dir = out / f"{preset}-seed{seed}"
            summary_path = run_dir / "summary.json"
            if summary_path.exists():  # resume a partial ablation
                summary = json.loads(summary_path.read_text())
            else:
                values = {
                    **DEMO_DEFAULTS,
                    "loss": preset,
                    "seed": int(seed),
                    "num_samples": FLAGS.num_samples,
                    "epochs": FLAGS.epochs,
                    "max_length": FLAGS.max_length,
                    "output_dir": str(run_dir),
                    "validate": False,
                }
                config = TrainingConfig.from_dict(
                    {**TrainingConfig().to_dict(), **values}
                )
                summary = run_demo(config, quick=True, baseline=False)
            rows[preset].append(summary["trained"])
            print(f"{preset} seed {seed}: {summary['trained']}", flush=True)
    minutes = (time.time() - start) / 60
    text = table(rows)
    command = "KERAS_BACKEND={} python recipes/ablation.py {}".format(
        keras.backend.backend(), " ".join(sys.argv[1:])
    )
    footer = (
        f"\n\n{len(FLAGS.seeds)} seeds ({', '.join(FLAGS.seeds)}), "
        f"{FLAGS.num_samples} IU studies, {FLAGS.epochs} epoch(s), "
        f"reports truncated to {FLAGS.max_length} tokens, on "
        f"{keras.backend.backend()}; {minutes:.0f} minutes in all.\n"
        f"Command: `{command}`\n"
    )
    print("\n" + text + footer)
    if FLAGS.table_out:
        pathlib.Path(FLAGS.table_out).write_text(text + footer)


if __name__ == "__main__":
    app.run(main)
