"""The command line lets numba's OpenMP threads sleep while they wait (OMP_WAIT_POLICY=PASSIVE):
spinning threads slow a job down wherever other processes share the cores.  A user's own
setting is kept."""

from __future__ import annotations

import os

import pytest

from fieldnet.app.cli import main


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_wait_policy_is_passive_unless_the_user_set_one(monkeypatch, capsys, preset, expected):
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    assert main(["info", "--models"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == expected
