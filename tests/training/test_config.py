"""TrainingConfig, the ablation presets and the CLI/absl flag mapping."""

import argparse
import ast
import dataclasses
import re

import pytest
from absl import flags

from keras_clinclip.cli import options as cli_options
from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.evaluation import EvaluationOptions
from keras_clinclip.evaluation import ReportOptions
from keras_clinclip.training import config as config_lib
from keras_clinclip.training.config import DEMO_DEFAULTS
from keras_clinclip.training.config import QUICK_OVERRIDES
from keras_clinclip.training.config import TrainingConfig

pytestmark = pytest.mark.backend_independent


def test_presets_match_the_papers_rows():
    presets = config_lib.LOSS_PRESETS
    assert set(presets) == {
        "clip",
        "dt",
        "dtc",
        "n",
        "n_dtc",
        "g",
        "g_dtcg",
        "full",
    }
    assert presets["clip"] == {
        "sources": (),
        "negations": False,
        "graph": False,
    }
    assert presets["full"] == {
        "sources": ("text", "clinical", "graph"),
        "negations": True,
        "graph": True,
    }
    # Only presets whose name has N use negations, with G the graph.
    for name, options in presets.items():
        assert options["negations"] == name.startswith(("n", "full"))
        assert options["graph"] == name.startswith(("g", "full"))
        assert ("graph" in options["sources"]) == (name in ("g_dtcg", "full"))


def test_unknown_preset_and_bad_fields_name_the_field():
    with pytest.raises(ValueError, match="`loss`"):
        TrainingConfig(loss="siglip")
    with pytest.raises(ValueError, match="`batch_size`"):
        TrainingConfig(batch_size=0)
    with pytest.raises(ValueError, match="`warmup_ratio`"):
        TrainingConfig(warmup_ratio=1.5)
    with pytest.raises(ValueError, match="Unknown training config fields"):
        TrainingConfig.from_dict({"epochs": 1, "epochz": 2})


def test_argparse_and_absl_give_the_same_config(tmp_path):
    argv = [
        "--loss",
        "n_dtc",
        "--batch-size",
        "16",
        "--no-tensorboard",
        "--learning-rate",
        "0.001",
    ]
    parser = argparse.ArgumentParser()
    cli_options.add_config_options(parser)
    from_cli = config_lib.config_from_args(parser.parse_args(argv))

    values = flags.FlagValues()
    config_lib.define_absl_flags(values)
    values(
        [
            "prog",
            "--loss=n_dtc",
            "--batch_size=16",
            "--notensorboard",
            "--learning_rate=0.001",
        ]
    )
    from_absl = config_lib.config_from_args(values)
    assert from_cli == from_absl
    assert from_cli.tensorboard is False and from_cli.batch_size == 16
    # Every field is exposed by both.
    names = {f for f in TrainingConfig().to_dict()}
    assert names <= set(vars(parser.parse_args([])))
    assert names <= set(values)
    # JSON round trip.
    from_cli.save(tmp_path / "c.json")
    assert TrainingConfig.load(tmp_path / "c.json") == from_cli


def test_negation_capacity_parses_and_names_the_field():
    assert TrainingConfig().negation_capacity_value() == "auto"
    assert (
        TrainingConfig(negation_capacity="none").negation_capacity_value()
        is None
    )
    assert (
        TrainingConfig(negation_capacity="0.25").negation_capacity_value()
        == 0.25
    )
    assert (
        TrainingConfig(negation_capacity="1.0").negation_capacity_value() == 1.0
    )
    assert (
        TrainingConfig(negation_capacity="12").negation_capacity_value() == 12
    )
    # A JSON config may hold a number.
    assert TrainingConfig(negation_capacity=8).negation_capacity_value() == 8
    for bad in ("0", "1.5", "-3", "half", "0.0"):
        with pytest.raises(ValueError, match="`negation_capacity`"):
            TrainingConfig(negation_capacity=bad)
    assert TrainingConfig().packs_negations()
    assert not TrainingConfig(negation_capacity="none").packs_negations()
    assert not TrainingConfig(loss="dtc").packs_negations()
    assert not TrainingConfig(num_negations=0).packs_negations()


def test_the_cli_takes_the_negation_options():
    from keras_clinclip.cli.options import add_config_options

    parser = argparse.ArgumentParser()
    add_config_options(parser)
    args = parser.parse_args(
        ["--negation-capacity", "0.5", "--no-balance-negations"]
    )
    config = config_lib.config_from_args(args)
    assert config.negation_capacity_value() == 0.5
    assert config.balance_negations is False


def _documented_defaults(cls):
    """`{field: the literal its Args entry states as the default}`."""
    args = cls.__doc__.split("Args:")[1].split("Example:")[0]
    forms = (
        r"[Dd]efault:? `([^`]+)`",  # default `X`
        r"`([^`]+)` \([Dd]efault",  # `X` (default...
        r"[Dd]efault (True|False|None|-?\d+(?:\.\d+)?(?:e-?\d+)?)\b",
    )
    found = {}
    for entry in re.split(r"\n {8}(?=\w+: )", args):
        name, _, text = entry.strip().partition(": ")
        text = " ".join(text.split())
        matches = [m for form in forms if (m := re.search(form, text))]
        if matches:
            first = min(matches, key=lambda m: m.start())
            found[name] = ast.literal_eval(first.group(1))
    return found


@pytest.mark.parametrize(
    "cls",
    [
        TrainingConfig,
        PipelineOptions,
        NegationOptions,
        EvaluationOptions,
        ReportOptions,
    ],
)
def test_documented_defaults_are_the_real_ones(cls):
    real = {
        field.name: field.default
        for field in dataclasses.fields(cls)
        if field.default is not dataclasses.MISSING
    }
    assert _documented_defaults(cls) == real


def test_the_demo_is_the_training_defaults_with_a_few_changes():
    from keras_clinclip.training import demo

    base = TrainingConfig()
    # No second copy of a default: each demo value is a change.
    for name, value in DEMO_DEFAULTS.items():
        assert getattr(base, name) != value, name
    changed = dataclasses.replace(base, **DEMO_DEFAULTS, **QUICK_OVERRIDES)
    assert changed.image_size == DEMO_DEFAULTS["image_size"]
    # The demo's docstring states its changes and those of `--quick`.
    for name, value in {**DEMO_DEFAULTS, **QUICK_OVERRIDES}.items():
        assert f"`{name}={value}`" in demo.__doc__, name
