"""Faults during `fieldnet simulate`: kill -9, Ctrl-C, a full disk (file size limit), an unwritable
output.  Each leaves existing files intact, and an interrupted run resumes to the file an
uninterrupted run writes."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_checks import unwritable_output
from conftest import cli_command
from interrupted import start_and_wait
from test_dist_campaign import assert_same_content

from fieldnet.io.atomic import partial_path

CAMPAIGN = ["simulate", "--L", "8", "12", "--T", "1.5:3.5:10", "--samples", "200", "--seed", "3", "-q"]
N_POINTS = 20


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    subprocess.run([*cli_command(), *CAMPAIGN, "-o", str(out)], check=True, capture_output=True)
    return out


def completed_points(partial: Path) -> int:
    """Points the running writer has flushed (read without HDF5's file lock; -1 while unreadable)."""
    try:
        with h5py.File(partial, "r", locking=False) as f:
            return int(sum(np.sum(f[g]["completed"][:]) for g in f if "completed" in f[g]))
    except (OSError, KeyError, ValueError, RuntimeError):
        return -1


def start_and_wait_for_points(out: Path, at_least: int = 2) -> subprocess.Popen:
    return start_and_wait([*cli_command(), *CAMPAIGN, "-o", str(out)],
                          lambda: completed_points(partial_path(out)) >= at_least, 120, "the run")


def resume(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *CAMPAIGN, "-o", str(out), "--resume"], capture_output=True, text=True)


def test_kill_9_then_resume_gives_the_uninterrupted_file(reference, tmp_path):
    out = tmp_path / "killed.h5"
    proc = start_and_wait_for_points(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() and partial_path(out).exists()
    assert 2 <= completed_points(partial_path(out)) < N_POINTS
    res = resume(out)
    assert res.returncode == 0, res.stderr
    assert_same_content(reference, out)
    assert not partial_path(out).exists()


def test_ctrl_c_says_how_to_resume_and_leaves_a_resumable_file(reference, tmp_path):
    out = tmp_path / "interrupted.h5"
    proc = start_and_wait_for_points(out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "--resume" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert 2 <= completed_points(partial_path(out)) < N_POINTS
    res = resume(out)
    assert res.returncode == 0, res.stderr
    assert_same_content(reference, out)


def _file_size_limit(n_bytes: int):
    def apply() -> None:
        # a process over RLIMIT_FSIZE gets SIGXFSZ (which kills it) unless it ignores the signal;
        # then its writes fail with EFBIG, as on a full disk they fail with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))

    return apply


def test_full_disk_stops_cleanly_keeps_the_existing_file_and_resumes(reference, tmp_path):
    out = tmp_path / "data.h5"
    out.write_bytes(reference.read_bytes())  # an earlier result the failing run must not damage
    before = out.read_bytes()
    res = subprocess.run(
        [*cli_command(), *CAMPAIGN, "-o", str(out), "--overwrite"],
        capture_output=True,
        text=True,
        preexec_fn=_file_size_limit(int(reference.stat().st_size * 0.8)),
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "file size limit" in res.stderr and "--resume" in res.stderr
    assert out.read_bytes() == before
    assert 0 < completed_points(partial_path(out)) < N_POINTS
    done = resume(out)  # space freed: the run continues where it stopped
    assert done.returncode == 0, done.stderr
    assert_same_content(reference, out)


def test_unwritable_output_is_one_line_and_touches_nothing(tmp_path, run_cli):
    target = unwritable_output(tmp_path, "data.h5")
    res = run_cli(*CAMPAIGN, "-o", target)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "cannot write" in res.stderr
    assert not target.exists() and not partial_path(target).exists()
