"""The `clinclip` command (also `python -m keras_clinclip`).

Each subcommand has two halves: its options, in a light module of this
package (`keras_clinclip.cli.train`, ...) that imports only the standard
library, and its work, in the module that owns it
(`keras_clinclip.training.train`, ...), which exposes `run(args) -> int`.
The command parses first and imports the work (and with it Keras and the
backend) only then, so `clinclip --help`, `clinclip COMMAND --help` and
`clinclip --version` answer at once.

The conventions of the options are in `keras_clinclip.cli.options`. User
errors (`keras_clinclip.errors`) are printed as one line on stderr
with exit status 2; `--debug` shows their traceback too.

Example:
>>> from keras_clinclip.cli import build_parser
>>> parser = build_parser()
>>> sorted(SUBCOMMANDS)[:2]
['benchmark', 'classify']
>>> parser.parse_args(["train", "--batch-size", "8"]).batch_size
8
"""

import argparse
import collections
import importlib
import os
import sys
import traceback

import keras_clinclip
from keras_clinclip.cli import benchmark
from keras_clinclip.cli import classify
from keras_clinclip.cli import demo
from keras_clinclip.cli import evaluate
from keras_clinclip.cli import explain
from keras_clinclip.cli import export
from keras_clinclip.cli import prepare
from keras_clinclip.cli import train
from keras_clinclip.cli.options import BACKEND_HINT
from keras_clinclip.cli.options import ArgumentParser
from keras_clinclip.cli.outputs import check_outputs
from keras_clinclip.errors import UserError
from keras_clinclip.errors import check_keras_backend
from keras_clinclip.errors import is_user_error
from keras_clinclip.errors import one_line
from keras_clinclip.version import __version__

Subcommand = collections.namedtuple(
    "Subcommand", "options work help keras", defaults=(True,)
)

# subcommand -> (module of its options, module of its work, one-line help,
# whether the work needs the Keras classes registered)
SUBCOMMANDS = {
    "demo": Subcommand(
        demo,
        "keras_clinclip.training.demo",
        "prepare, train, evaluate and report on the embedded dataset",
    ),
    "prepare": Subcommand(
        prepare,
        "keras_clinclip.reports.prepare",
        "label, negate and graph a CSV/JSONL of reports into JSONL",
        keras=False,
    ),
    "train": Subcommand(
        train, "keras_clinclip.training.train", "train a ClinCLIP model"
    ),
    "evaluate": Subcommand(
        evaluate,
        "keras_clinclip.evaluation.evaluate",
        "evaluate a saved preset (zero-shot, retrieval, CXR-Align)",
    ),
    "export": Subcommand(
        export,
        "keras_clinclip.training.export",
        "export a checkpoint to a KerasHub preset directory",
    ),
    "benchmark": Subcommand(
        benchmark,
        "keras_clinclip.evaluation.benchmark",
        "run the papers' protocols on datasets; one table with bootstrap CIs",
    ),
    "classify": Subcommand(
        classify,
        "keras_clinclip.evaluation.classify",
        "print each finding's zero-shot probability for radiographs",
    ),
    "explain": Subcommand(
        explain,
        "keras_clinclip.evaluation.explain",
        "write a PNG of where in an image a preset sees a text",
    ),
}

_DEBUG_HELP = "show the traceback of a user error too"


def build_parser():
    """The `clinclip` argument parser, every subcommand included.

    Building it imports no backend: the options live in light modules.

    Returns:
        A `keras_clinclip.cli.options.ArgumentParser`.

    Example:
    >>> args = build_parser().parse_args(["export", "runs/x"])
    >>> args.command, args.run_dir
    ('export', 'runs/x')
    """
    parser = ArgumentParser(
        prog="clinclip",
        description="keras_clinclip: CLIP for chest X-rays on Keras 3.",
        epilog="`clinclip COMMAND --help` lists the options of a command. "
        f"Backend: {BACKEND_HINT}.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="print the version and exit",
    )
    parser.add_argument(
        "--debug", action="store_true", default=False, help=_DEBUG_HELP
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands"
    )
    parser.commands = {}
    for name, subcommand in SUBCOMMANDS.items():
        sub = subparsers.add_parser(
            name, help=subcommand.help, description=subcommand.help
        )
        parser.commands[name] = sub
        subcommand.options.add_arguments(sub)
        # Also accepted after the command; SUPPRESS keeps a `--debug`
        # given before it.
        sub.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help=_DEBUG_HELP,
        )
    return parser


def _report(prog, error, debug):
    if debug:
        traceback.print_exception(error)
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr, flush=True)
    return 2


def main(argv=None):
    """Run the `clinclip` command; returns its exit status.

    Args:
        argv: the arguments (default: `sys.argv[1:]`).

    Returns:
        0 on success, 2 for a user error (one line on stderr), the
        subcommand's own status otherwise; other exceptions propagate
        with their traceback.

    Example:
    >>> main(["export", "/nonexistent"])
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    prog = f"clinclip {args.command}"
    subcommand = SUBCOMMANDS[args.command]
    try:
        check_outputs(parser.commands[args.command], args)
        check = getattr(subcommand.options, "check", None)
        if check is not None:
            check(args)
        if subcommand.keras:
            check_keras_backend(os.environ)
            # The Keras classes register now, not at `import
            # keras_clinclip` (see `keras_clinclip.registration_deferred`);
            # `prepare` (pure Python) never loads Keras.
            keras_clinclip._register_keras_objects()
        work = importlib.import_module(subcommand.work)
        return int(work.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if not is_user_error(error):
            raise
        return _report(prog, error, args.debug)
    finally:
        lock = getattr(args, "run_lock", None)  # `clinclip train`'s
        if lock is not None:
            lock.release()


__all__ = ["SUBCOMMANDS", "UserError", "build_parser", "main"]
