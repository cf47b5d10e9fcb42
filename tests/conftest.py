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
