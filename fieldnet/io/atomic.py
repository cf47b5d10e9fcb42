"""Atomic file output: write beside the target, then rename, so a reader never sees half a file.

A long job writes to ``<name>.partial`` (which ``--resume`` reopens); a short one to a temporary
name.  The final name appears only when the content is complete, and an existing file at the
final name is untouched until that moment.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from fieldnet.errors import FieldnetError


def partial_path(path: str | os.PathLike) -> Path:
    """Where an unfinished job keeps its output: ``data.h5`` -> ``data.h5.partial``."""
    p = Path(path)
    return p.with_name(p.name + ".partial")


def check_output_path(path: str | os.PathLike, *, overwrite: bool, resume: bool = False) -> Path:
    """Validate an output path before any work starts.

    Raises FieldnetError when the file exists and neither ``overwrite`` nor ``resume`` is given,
    or when its folder does not exist or cannot be written.
    """
    p = Path(path)
    if p.exists() and p.is_dir():
        raise FieldnetError(f"output {p} is a directory; give a file name such as {p / 'data.h5'}")
    if p.exists() and not (overwrite or resume):
        raise FieldnetError(f"output {p} already exists; pass --overwrite to replace it or choose another name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FieldnetError(f"cannot write {p}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FieldnetError(f"cannot write {p}: folder {parent} is not writable; choose another output path")
    return p


def error_number(exc: BaseException) -> int | None:
    """The errno of a failed write: ``exc.errno``, or the ``errno = N`` that the HDF5 library
    puts in its messages (h5py raises those as RuntimeError or OSError without ``errno``)."""
    number = getattr(exc, "errno", None)
    if number is None:
        match = re.search(r"errno = (\d+)", str(exc))
        number = int(match.group(1)) if match else None
    return number


def describe_os_error(exc: BaseException, path: str | os.PathLike) -> str:
    """One line for an OS-level write failure (full disk, file size limit, permissions,
    read-only file system)."""
    number = error_number(exc)
    if number in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device (or disk quota exceeded) while writing {path}; free some space and rerun with --resume"
    if number == errno.EFBIG:
        return f"file size limit reached while writing {path} (see 'ulimit -f' and the file system's maximum); raise it and rerun with --resume"
    if number in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: permission denied; choose a writable output path"
    if number is not None:
        return f"cannot write {path}: {os.strerror(number)}"
    return f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    final = Path(path)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
