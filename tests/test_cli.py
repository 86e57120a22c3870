"""The `clinclip` command line: one spelling per option (old ones are
usage errors), `--flag/--no-flag` booleans, `--version`, help without a
backend, user errors as one line with exit status 2, `--debug`."""

import argparse
import subprocess
import sys
import types

import pytest

from keras_clinclip import cli
from keras_clinclip import tables
from keras_clinclip.cli import options
from keras_clinclip.cli import prepare as prepare_options
from keras_clinclip.version import __version__

pytestmark = pytest.mark.backend_independent

HEAVY = ("keras", "keras_hub", "tensorflow", "jax", "torch", "tf_keras")


def _subparsers():
    parser = cli.build_parser()
    (group,) = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return group.choices


def _options(sub):
    return [a for a in sub._actions if a.option_strings and a.dest != "help"]


def _help(sub):
    return " ".join(sub.format_help().split())


@pytest.mark.parametrize("command", sorted(cli.SUBCOMMANDS))
def test_every_option_is_dashed_with_help_and_its_default(command):
    sub = _subparsers()[command]
    formatter = options.HelpFormatter(prog="clinclip")
    text = _help(sub)
    for action in _options(sub):
        shown = action.option_strings
        for string in shown:
            assert "_" not in string, string
            assert string in text
        assert action.help, f"{shown[0]} has no help"
        default = action.default
        if default not in (None, "", argparse.SUPPRESS) and (
            action.nargs != 0 or isinstance(action, options.BooleanFlag)
        ):
            assert "%(default)" in formatter._get_help_string(action), shown


# Spellings the parser once accepted as hidden aliases: now usage errors.
OLD_SPELLINGS = {
    "train": [
        ["--batch_size", "8"],
        ["--tensorboard", "false"],
        ["--tensorboard=false"],
        ["--notensorboard"],
    ],
    "demo": [["--no_baseline"], ["--n_bootstrap", "5"]],
    "export": [["r", "--preset_dir", "p"]],
    "evaluate": [["--preset", "p", "--output", "o"]],
    "prepare": [["--reports", "r.csv", "--output", "o", "--quiet"]],
}
NEW_SPELLINGS = {
    "train": (
        ["--batch-size", "8", "--no-tensorboard"],
        {"tensorboard": False},
    ),
    "demo": (["--no-baseline", "--bootstrap", "5"], {"n_bootstrap": 5}),
    "export": (["r", "--preset-dir", "p"], {"preset_dir": "p"}),
    "evaluate": (["--preset", "p", "--output-dir", "o"], {"output": "o"}),
    "prepare": (
        ["--reports", "r", "--output", "o", "--verbose", "0", "--no-graph"],
        {"out": "o", "verbose": 0, "graph": False},
    ),
}


def test_one_spelling_per_option_and_old_spellings_are_errors(capsys):
    parser = cli.build_parser()
    for command, (argv, expected) in NEW_SPELLINGS.items():
        args = parser.parse_args([command, *argv])
        assert {k: getattr(args, k) for k in expected} == expected
    for command, cases in OLD_SPELLINGS.items():
        prog = f"clinclip {command}: error: "
        for argv in cases:
            with pytest.raises(SystemExit) as exit:
                parser.parse_args([command, *argv])
            assert exit.value.code == 2, argv
            (line,) = capsys.readouterr().err.splitlines()[-1:]
            assert line.startswith(("clinclip: error: ", prog)), line
            assert "unrecognized arguments" in line or (
                "ignored explicit argument" in line
            ), line


def test_booleans_are_boolean_optional_actions():
    parser = argparse.ArgumentParser()
    options.add_config_options(parser)
    flags = {
        a.dest: a for a in parser._actions if isinstance(a, options.BooleanFlag)
    }
    assert {"tensorboard", "validate"} <= set(flags)
    for action in flags.values():
        assert isinstance(action, argparse.BooleanOptionalAction)
    forms = {
        (): True,
        ("--validate",): True,
        ("--no-validate",): False,
        ("--no-validate", "--validate"): True,
    }
    for argv, value in forms.items():
        args = parser.parse_args(list(argv))
        assert args.validate is value, argv
        assert options.given_options(args) == ({"validate"} if argv else set())


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"clinclip {__version__}\n"


def test_no_command_prints_the_commands(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.SUBCOMMANDS)


_HELP_WITHOUT_BACKEND = f"""
import sys
sys.argv[0] = "clinclip"  # as the console script starts
import keras_clinclip
assert keras_clinclip.registration_deferred()
from keras_clinclip.cli import SUBCOMMANDS, main
for command in [[], *([name] for name in SUBCOMMANDS)]:
    try:
        main([*command, "--help"])
    except SystemExit as exit:
        assert exit.code == 0, (command, exit.code)
assert main(["evaluate", "--preset", "/nonexistent"]) == 2
# `prepare` is pure Python: it runs without Keras too.
table, out = sys.argv[1:3]
argv = ["prepare", "--reports", table, "--output", out, "--verbose", "0"]
assert main(argv) == 0
print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY}))
"""


def test_help_and_prepare_import_no_backend(tmp_path):
    table = tmp_path / "reports.csv"
    table.write_text("id,report\na,Small left pleural effusion.\n")
    out = tmp_path / "prepared.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", _HELP_WITHOUT_BACKEND, str(table), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED []" in result.stdout, result.stdout[-3000:]
    assert "Traceback" not in result.stderr
    assert '"Pleural Effusion": 1.0' in out.read_text()


def test_python_m_help_imports_no_backend():
    # `-X importtime` lists every module the command imported.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keras_clinclip"]
        + ["train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--batch-size" in result.stdout
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "keras_clinclip.cli" in imported
    assert not [m for m in imported if m.split(".")[0] in HEAVY]


def test_a_user_error_is_one_line_with_exit_2(capsys):
    assert cli.main(["evaluate", "--preset", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "clinclip evaluate: error: --preset '/nonexistent' does not exist\n"
    )
    assert cli.main(["train", "--epochs", "0"]) == 2
    assert capsys.readouterr().err == (
        "clinclip train: error: --epochs must be positive, got 0\n"
    )


def test_a_bad_value_is_one_line_with_exit_2(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["train", "--batch-size", "many"])
    assert exit.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--batch-size" in err[0] and "many" in err[0]


def test_the_backend_is_named_in_help_and_in_the_backend_error(capsys):
    # There is no `--backend`: both say how the backend is chosen.
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "KERAS_BACKEND" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:
        cli.main(["train", "--backend", "jax"])
    assert exit.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--backend jax" in err[0]
    assert "KERAS_BACKEND environment variable" in err[0]
    assert "tensorflow, jax, torch" in err[0]


def _fake_work(monkeypatch, error):
    def run(args):
        raise error

    module = types.ModuleType("fake_clinclip_work")
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    fake = cli.SUBCOMMANDS["export"]._replace(work=module.__name__)
    monkeypatch.setitem(cli.SUBCOMMANDS, "export", fake)


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory", "a.csv"),
        tables.TableError("a.csv row 3: no 'report' column"),
        cli.UserError("--weights: not a Keras weights file\nmore details"),
    ],
)
def test_user_errors_from_the_work_are_one_line(monkeypatch, capsys, error):
    _fake_work(monkeypatch, error)
    assert cli.main(["export", "."]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("clinclip export: error: ")
    assert str(error).splitlines()[0] in err[0]


def test_a_bug_keeps_its_traceback(monkeypatch):
    _fake_work(monkeypatch, KeyError("labels"))
    with pytest.raises(KeyError, match="labels"):
        cli.main(["export", "."])


@pytest.mark.parametrize(
    "argv", [["--debug", "export", "."], ["export", ".", "--debug"]]
)
def test_debug_shows_the_traceback_of_a_user_error(monkeypatch, capsys, argv):
    _fake_work(monkeypatch, cli.UserError("--weights is empty"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1] == "clinclip export: error: --weights is empty"


def test_constants_kept_for_a_light_help_match_their_homes():
    from keras_clinclip.reports import GRAPH_MAX_NODES

    assert prepare_options.GRAPH_MAX_NODES == GRAPH_MAX_NODES
