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


# -- every verb alike (issue 16's command-line items) --------------------------------------------


def _verb_parsers():
    """(name, parser) of every verb and every analyze sub-verb."""
    import argparse

    from fieldnet.app.cli import build_parser

    def subparsers(parser):
        for action in parser._actions:  # argparse keeps its sub-commands here
            if isinstance(action, argparse._SubParsersAction):
                return action.choices
        return {}

    out = []
    for verb, parser in subparsers(build_parser()).items():
        inner = subparsers(parser)
        out.extend((f"{verb} {sub}", p) for sub, p in inner.items()) if inner else out.append((verb, parser))
    return out


def test_every_verb_takes_quiet_and_threads():
    verbs = _verb_parsers()
    assert len(verbs) >= 13  # 5 verbs and 8 analyses
    for name, parser in verbs:
        options = parser._option_string_actions
        assert "-q" in options and "--quiet" in options and "--threads" in options, name


def test_every_seed_option_takes_only_seeds(run_cli):
    for name, parser in _verb_parsers():
        if "--seed" in parser._option_string_actions:
            assert parser._option_string_actions["--seed"].type.__name__ == "seed_value", name
    res = run_cli("analyze", "tc", "pred.nc", "--seed", "-1")
    assert res.returncode == 2 and "a seed is between 0 and 2^63 - 1" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_threads_zero_is_one_line_for_every_verb(run_cli, tmp_path):
    for args in (["info", "--models"], ["analyze", "rg", "missing.h5"], ["simulate", "--L", "4"]):
        res = run_cli(*args, "--threads", "0", "-q")
        assert res.returncode == 2 and "--threads must be at least 1" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_quiet_info_still_describes(run_cli):
    res = run_cli("info", "--models", "-q", "--threads", "1")
    assert res.returncode == 0 and "ising2d" in res.stdout


def test_an_unknown_option_points_to_its_own_verbs_help(run_cli):
    for words in (["train", "data.h5"], ["predict", "m.h5", "d.h5"], ["analyze", "rg", "d.h5"], ["analyze", "tc", "p.nc"],
                  ["simulate"], ["info", "x.h5"], ["pipeline", "c.toml"]):
        res = run_cli(*words, "--bogus", "7")
        verb = " ".join(w for w in words if not w.endswith((".h5", ".nc", ".toml")))
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert res.stderr.strip() == (f"fieldnet {verb}: error: unrecognized arguments: --bogus 7 "
                                      f"(see 'fieldnet {verb} --help')"), res.stderr
    res = run_cli("analyze", "rg")  # a missing argument names the sub-verb's help too
    assert "(see 'fieldnet analyze rg --help')" in res.stderr and res.returncode == 2
