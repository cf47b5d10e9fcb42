"""What the random-corruption tests (``test_robust_*.py``) share.

The hypothesis settings (``FIELDNET_FUZZ_EXAMPLES=2000`` runs a longer search than CI's), the bytes
of a valid file with a short repr, a fresh file name for every example, and the two blind
corruptions every file kind gets: truncation and flipped bytes.  The ``short_probe`` fixture they
use is in ``conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FIELDNET_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,  # CI runs the same examples every time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: (position, xor mask) pairs; positions wrap around the file's length (see :func:`flip_bytes`)
BYTE_FLIPS = st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=12)


class FileBytes(bytes):
    """The bytes of a valid file, with a short repr (hypothesis prints failing examples)."""

    def __new__(cls, content: bytes, kind: str = "file"):
        obj = super().__new__(cls, content)
        obj.kind = kind
        return obj

    def __repr__(self) -> str:
        return f"<valid {self.kind}, {len(self)} bytes>"


def fresh_path(folder: Path, suffix: str = ".h5") -> Path:
    """A new file name for every example: xarray caches open files by name, and a rewritten
    file under a cached name would be read through the stale handle."""
    fresh_path.count += 1
    return folder / f"case{fresh_path.count}{suffix}"


fresh_path.count = 0


def write_fresh(folder: Path, content: bytes, suffix: str = ".h5") -> Path:
    """``content`` written to a :func:`fresh_path` in ``folder``."""
    path = fresh_path(folder, suffix)
    path.write_bytes(bytes(content))
    return path


def flip_bytes(valid: bytes, flips) -> bytes:
    """``valid`` with the byte at each ``position % len(valid)`` xor-ed with its ``mask``."""
    damaged = bytearray(valid)
    for position, mask in flips:
        damaged[position % len(damaged)] ^= mask
    return bytes(damaged)
