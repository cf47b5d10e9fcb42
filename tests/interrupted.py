"""Starting a command-line job that a fault test then interrupts mid-way (kill -9, Ctrl-C)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence


def default_sigint() -> None:
    """Undo an inherited 'SIGINT ignored' (a test run from a background shell) so Ctrl-C reaches the job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_wait(args: Sequence[str], ready: Callable[[], bool], timeout: float, what: str) -> subprocess.Popen:
    """Start ``args`` (pipes for stdout and stderr); return once ``ready()`` holds, the job mid-way.

    Fails when the job ends first (``what`` names it in the message) or after ``timeout`` seconds.
    """
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"{what} ended before it could be interrupted: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc
