"""The command line's front door: help is instant and bad usage is one line with status 2."""

from __future__ import annotations


def test_help_lists_every_verb(run_cli):
    res = run_cli("--help")
    assert res.returncode == 0
    for verb in ("simulate", "info", "train", "predict", "analyze", "pipeline"):
        assert verb in res.stdout


def test_help_does_not_import_heavy_modules():
    import subprocess
    import sys

    code = (
        "import sys; from fieldnet.app.cli import build_parser; build_parser(); "
        "heavy = [m for m in ('numba', 'h5py', 'xarray', 'matplotlib', 'scipy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"building the CLI imported {out}"


def test_unknown_verb_is_one_line_and_status_2(run_cli):
    res = run_cli("frobnicate")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr
