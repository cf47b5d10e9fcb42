"""What the command-line robustness tests (``test_robust_*.py``, ``test_fuzz_cli.py``) share:
the one-line-error check, a snapshot of a folder to show nothing was damaged or left behind,
an output path nobody may write,
running the command line under a file size limit, and its peak memory."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from conftest import cli_command


def assert_one_line_error(res, *fragments: str) -> None:
    """Exit status 2, exactly one line on stderr (the error), no traceback, each fragment in it."""
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for fragment in fragments:
        assert fragment in res.stderr, res.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stray_files(folder: Path) -> list[str]:
    """Temporary or lock files an interrupted writer could leave: ``.NAME.tmp-PID``, ``.NAME.lock``,
    ``*.partial.new``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if ".tmp-" in p.name or p.name.endswith(".lock") or p.name.endswith(".partial.new"))


def unwritable_output(tmp_path: Path, name: str) -> Path:
    """An output path ``name`` that cannot be written: inside a read-only folder under ``tmp_path``,
    or, for root (who writes anywhere an ordinary user may not), under /proc, which refuses everyone."""
    if os.geteuid() == 0:
        return Path("/proc") / f"fieldnet-{name}"
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / name


def file_size_limit(n_bytes: int):
    """A ``preexec_fn`` that limits the files the child writes to ``n_bytes`` (``ulimit -f``).

    A process over RLIMIT_FSIZE gets SIGXFSZ, which kills it unless ignored (Python ignores it);
    its writes then fail with EFBIG, as on a full disk they fail with ENOSPC.
    """

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))

    return apply


def run_limited(args, cwd: Path, limit: int | None = None, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """``fieldnet ARGS`` in a subprocess, optionally under a file size limit of ``limit`` bytes."""
    return subprocess.run([*cli_command(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, preexec_fn=file_size_limit(limit) if limit else None)


_PEAK_RSS = """
import json, resource, subprocess, sys
res = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"returncode": res.returncode, "stderr": res.stderr,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_measuring_memory(args, cwd: Path, env: dict | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """``fieldnet ARGS`` and its peak resident memory in bytes (measured by a fresh parent,
    so no earlier child of the test process counts)."""
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, *cli_command(), *map(str, args)], cwd=cwd,
                         capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600, check=True)
    result = json.loads(out.stdout)
    res = subprocess.CompletedProcess(args, result["returncode"], "", result["stderr"])
    return res, result["peak_rss_kib"] * 1024
