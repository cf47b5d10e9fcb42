"""Shared fixtures: running the real command line in a subprocess, small temporary files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def cli_command() -> list[str]:
    """The installed ``fieldnet`` script, or ``python -m fieldnet`` when it is not on PATH."""
    exe = shutil.which("fieldnet", path=str(Path(sys.executable).parent)) or shutil.which("fieldnet")
    return [exe] if exe else [sys.executable, "-m", "fieldnet"]


@pytest.fixture
def run_cli(tmp_path):
    """Run ``fieldnet ARGS...`` in a subprocess; returns CompletedProcess (text mode).

    Usage: ``res = run_cli("simulate", "--L", "8", ..., check=False)``.
    """

    def _run(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600, check: bool = False):
        full_env = {**os.environ, **(env or {})}
        res = subprocess.run(
            [*cli_command(), *map(str, args)],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"fieldnet {' '.join(map(str, args))} failed ({res.returncode}):\n{res.stderr}")
        return res

    return _run


#: temperatures of the shared small 2D Ising data set (J/k_B), on both sides of Onsager's Tc
ISING_TEMPERATURES = [1.4, 1.6, 1.8, 2.0, 2.15, 2.3, 2.45, 2.6, 2.9, 3.2, 3.5, 3.8]


@pytest.fixture(scope="session")
def ising_data(tmp_path_factory):
    """A real 2D Ising data file: L = 8 and 12, 12 temperatures, 64 samples each (seconds of MC)."""
    from fieldnet.simulations.campaign import run_campaign

    out = tmp_path_factory.mktemp("ising-data") / "ising.h5"
    run_campaign("ising2d", {}, [8, 12], ISING_TEMPERATURES, 64, seed=3, output=out, progress=False)
    return out


@pytest.fixture
def short_probe(monkeypatch):
    """A hang found by a corrupted file should cost seconds, not the probe's default 20 s."""
    from fieldnet.io import hdf5probe

    monkeypatch.setattr(hdf5probe, "DEFAULT_TIMEOUT", 5.0)
