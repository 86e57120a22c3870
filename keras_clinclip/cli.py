"""The `clinclip` command (also `python -m keras_clinclip`).

Each subcommand lives in the module that owns its work and exposes two
functions: `add_arguments(parser)` and `run(args) -> int`. The module is
imported only when its subcommand runs, so `clinclip prepare` never loads
a model.

Example:
>>> from keras_clinclip.cli import build_parser
>>> parser = build_parser()
>>> sorted(parser._subcommands)[:2]
['demo', 'evaluate']
"""

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "demo": (
        "keras_clinclip.training.demo",
        "prepare, train, evaluate and report on the embedded dataset",
    ),
    "prepare": (
        "keras_clinclip.reports.prepare",
        "label, negate and graph a CSV/JSONL of reports into JSONL",
    ),
    "train": ("keras_clinclip.training.train", "train a ClinCLIP model"),
    "evaluate": (
        "keras_clinclip.evaluation.cli",
        "evaluate a saved preset (zero-shot, retrieval, CXR-Align)",
    ),
    "export": (
        "keras_clinclip.training.export",
        "export a checkpoint to a KerasHub preset directory",
    ),
    "explain": (
        "keras_clinclip.evaluation.localization",
        "write a PNG of where in an image a preset sees a text",
    ),
}


def build_parser():
    """The argument parser; subcommand arguments are added on demand."""
    parser = argparse.ArgumentParser(
        prog="clinclip",
        description="keras_clinclip: CLIP for chest X-rays on Keras 3.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser._subcommands = {}
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        parser._subcommands[name] = (module, sub)
    return parser


def main(argv=None):
    """Entry point of the `clinclip` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    name = argv[0]
    if name not in parser._subcommands:
        parser.error(
            f"unknown command {name!r}; choose from "
            f"{', '.join(parser._subcommands)}"
        )
    module_name, sub = parser._subcommands[name]
    module = importlib.import_module(module_name)
    module.add_arguments(sub)
    args = parser.parse_args(argv)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
