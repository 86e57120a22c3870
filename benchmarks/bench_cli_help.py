"""How long `clinclip --help` and each `clinclip COMMAND --help` take.

    python benchmarks/bench_cli_help.py [--repeats 7]

Each run is a fresh process, as a user's shell starts it: the installed
console script next to this Python (`.venv/bin/clinclip`), else `python -m
keras_clinclip`. Prints the median wall time of the repeats per command,
and the same for `import keras_clinclip` with the Keras registration (what
every command paid before it parsed first), as a Markdown table.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

from keras_clinclip.cli import SUBCOMMANDS


def _command():
    script = pathlib.Path(sys.executable).with_name("clinclip")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "keras_clinclip"]


def _median_seconds(argv, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=7,
        help="runs per command (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    command = _command()
    rows = [("clinclip --help", command + ["--help"])]
    rows.append(("clinclip --version", command + ["--version"]))
    for name in SUBCOMMANDS:
        rows.append((f"clinclip {name} --help", command + [name, "--help"]))
    rows.append(
        (
            "python -c 'import keras_clinclip' (registers Keras classes)",
            [sys.executable, "-c", "import keras_clinclip"],
        )
    )
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"KERAS_BACKEND={backend}, {os.cpu_count()} CPUs\n")
    print(f"| command | median of {args.repeats} (s) |")
    print("| --- | --- |")
    for label, argv_ in rows:
        seconds = _median_seconds(argv_, args.repeats)
        print(f"| `{label}` | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
