"""Every default has one home: the command line shows and uses the Python API's defaults."""

from __future__ import annotations

import pytest

from fieldnet.app.cli import build_parser
from fieldnet.app.commands.train import config_from_args
from fieldnet.training.config import TrainConfig


def test_train_command_line_defaults_are_the_python_defaults():
    args = build_parser().parse_args(["train", "data.h5"])
    assert config_from_args(args) == TrainConfig()


@pytest.mark.parametrize("option, field", [("--epochs", "epochs"), ("--batch-size", "batch_size"),
                                           ("--patience", "patience"), ("--schedule", "schedule")])
def test_train_help_names_the_python_default(option, field, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    after = text[text.rindex(option + " "):]  # the option list, after the usage line
    assert f"default: {getattr(TrainConfig(), field)})" in after[: after.index(")") + 1]


def test_adam_without_a_learning_rate_gets_adams_default():
    assert TrainConfig(optimizer="adam").resolved().lr == pytest.approx(1e-3)
    assert TrainConfig().resolved().lr == pytest.approx(0.01)
    assert TrainConfig(optimizer="adam", lr=0.05).resolved().lr == 0.05
