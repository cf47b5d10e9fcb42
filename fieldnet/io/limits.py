"""Size limits that hold before anything is allocated or written.

A file can declare sizes its bytes do not hold: an HDF5 dataset's shape is metadata, and a
chunked dataset whose chunks were never written (or were compressed from zeros) reads back as a
full array.  So every size a file declares is checked, from metadata only, against

* the bytes the file really stores for it (:func:`require_backed`): deflate, the compression
  HDF5 files use, expands data at most :data:`DEFLATE_MAX_RATIO`-fold, so a larger ratio means
  the declared shape is not real data; and
* a memory budget (:func:`memory_budget`): the ``FIELDNET_MEMORY_BUDGET`` environment variable
  (bytes, with an optional K/M/G/T suffix), else the memory the system reports available.

Writers check the free space of the target's file system and the file size limit
(:func:`file_size_limit`, ``ulimit -f``) before they write an output of known size
(:func:`fieldnet.io.atomic.require_free_space`).
"""

from __future__ import annotations

import os
import re

from fieldnet.errors import FieldnetError

#: the environment variable that sets the memory budget
BUDGET_VARIABLE = "FIELDNET_MEMORY_BUDGET"

#: deflate's largest possible expansion (a 258-byte match costs at least 2 bits of output)
DEFLATE_MAX_RATIO = 1032

#: bytes that may be declared without being stored (small arrays filled by HDF5's fill value)
UNBACKED_ALLOWANCE = 1 << 20

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def format_bytes(n: float) -> str:
    """``n`` bytes for people: ``"512 B"``, ``"3.0 GiB"``, ``"14.6 TiB"``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - the loop always returns


def parse_bytes(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1000000"`` -> bytes (binary multiples); FieldnetError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not match:
        raise FieldnetError(f"{BUDGET_VARIABLE}={text!r} is not a size; give bytes such as 4G, 512M or 1000000")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2).upper()])


def available_memory() -> int:
    """Bytes of memory the system can give this process now (MemAvailable, else free pages),
    further limited by the address-space limit (``ulimit -v``)."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):  # pragma: no cover - exotic platforms
            available = 1 << 33
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            available = min(available, limit)
    except (ImportError, OSError, ValueError):  # pragma: no cover - Windows
        pass
    return int(available)


def memory_budget() -> int:
    """Bytes one array (or one model's parameters) may take: ``FIELDNET_MEMORY_BUDGET``, else the
    available memory."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    return parse_bytes(text) if text else available_memory()


def require_memory(n_bytes: int, what: str, fix: str, error: type[FieldnetError] = FieldnetError) -> None:
    """Raise ``error`` naming ``what``, its size and the budget when ``n_bytes`` exceeds the budget.

    Args:
        n_bytes: the size about to be allocated.
        what: what it is, e.g. ``"model.h5: the parameters of the architecture"``.
        fix: how the user gets under the budget.
        error: the exception class (DataFileError when a file declares the size).
    """
    budget = memory_budget()
    if n_bytes > budget:
        source = f"{BUDGET_VARIABLE}" if os.environ.get(BUDGET_VARIABLE, "").strip() else "the available memory"
        raise error(
            f"{what} would take {format_bytes(n_bytes)} of memory, more than the budget of {format_bytes(budget)} "
            f"({source}); {fix}"
        )


def require_backed(declared: int, stored: int, what: str, *, ratio: float = DEFLATE_MAX_RATIO) -> None:
    """A one-line DataFileError unless ``declared`` bytes are backed by ``stored`` bytes in the
    file (at most ``ratio``-fold expansion, plus :data:`UNBACKED_ALLOWANCE`)."""
    from fieldnet.errors import DataFileError

    if declared > stored * ratio + UNBACKED_ALLOWANCE:
        raise DataFileError(
            f"{what} declares {format_bytes(declared)} but the file stores only {format_bytes(stored)} for it; "
            "the file is damaged or crafted, re-create it"
        )


def file_size_limit() -> int | None:
    """The largest file this process may write (``ulimit -f``) in bytes, None when unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if limit == resource.RLIM_INFINITY else int(limit)
