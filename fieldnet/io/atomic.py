"""Safe file output: atomic writes, outputs that never replace an input, one writer at a time.

A long job writes to ``<name>.partial`` (which ``--resume`` reopens); a short one to a temporary
name.  The final name appears only when the content is complete, and an existing file at the
final name is untouched until that moment.

HDF5 outputs of bounded size (model files, predictions, analysis results) are built in memory
and written with :func:`write_file_atomically`: the HDF5 library never sees a failed write.
It does not recover from one -- after a write fails with ENOSPC or EFBIG its metadata cache is
inconsistent, and the next library call on the file (h5netcdf deleting a placeholder while it
creates a variable, or closing the file at exit) crashes the process with a segmentation
fault.  A plain ``write`` of finished bytes fails with an ordinary OSError instead, which
becomes one line.  Writers that stream (``fieldnet simulate``) check the room before every
write instead (``fieldnet.io.dataset``).

:func:`output_lock` keeps a second process from writing the same output at the same time.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from fieldnet.errors import FieldnetError

#: errno values that mean "this output cannot be written here", reported in one line
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS})

#: what the messages of a resumable writer and of any other writer suggest
RESUME_HINT = "rerun with --resume"
RERUN_HINT = "rerun"


def partial_path(path: str | os.PathLike) -> Path:
    """Where an unfinished job keeps its output: ``data.h5`` -> ``data.h5.partial``."""
    p = Path(path)
    return p.with_name(p.name + ".partial")


def check_output_path(path: str | os.PathLike, *, overwrite: bool, resume: bool = False,
                      inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Validate an output path before any work starts.

    Raises FieldnetError when the name is empty, when it is (or resolves to) one of ``inputs``,
    when it names a directory or a special file, when the file exists and neither ``overwrite``
    nor ``resume`` is given, or when its folder does not exist or cannot be written.
    """
    if not str(path).strip():
        raise FieldnetError("the output file name is empty; give one with -o, e.g. -o result.h5")
    p = Path(path)
    for source in inputs:
        if _same_file(p, Path(source)):
            raise FieldnetError(f"output {p} is the input {source}; writing it would destroy the input, choose another -o")
    if p.is_dir():
        raise FieldnetError(f"output {p} is a directory; give a file name such as {p / 'data.h5'}")
    if p.exists() and not p.is_file():
        raise FieldnetError(f"output {p} is not a regular file (a FIFO, device or socket); choose another output path")
    if p.exists() and not (overwrite or resume):
        raise FieldnetError(f"output {p} already exists; pass --overwrite to replace it or choose another name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FieldnetError(f"cannot write {p}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FieldnetError(f"cannot write {p}: folder {parent} is not writable; choose another output path")
    return p


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file (through links too); False when either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def error_number(exc: BaseException) -> int | None:
    """The errno of a failed write: ``exc.errno``, or the ``errno = N`` that the HDF5 library
    puts in its messages (h5py raises those as RuntimeError or OSError without ``errno``)."""
    number = getattr(exc, "errno", None)
    if number is None:
        match = re.search(r"errno = (\d+)", str(exc))
        number = int(match.group(1)) if match else None
    return number


def describe_os_error(exc: BaseException, path: str | os.PathLike, hint: str = RESUME_HINT) -> str:
    """One line for an OS-level write failure (full disk, file size limit, permissions,
    read-only file system); ``hint`` says how to continue once the cause is fixed."""
    number = error_number(exc)
    if number in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device (or disk quota exceeded) while writing {path}; free some space and {hint}"
    if number == errno.EFBIG:
        return f"file size limit reached while writing {path} (see 'ulimit -f' and the file system's maximum); raise it and {hint}"
    if number in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: permission denied; choose a writable output path"
    if number is not None:
        return f"cannot write {path}: {os.strerror(number)}"
    return f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}"


def temporary_path(path: str | os.PathLike) -> Path:
    """The hidden name an atomic write of ``path`` uses until it renames: ``.NAME.tmp-PID``."""
    final = Path(path)
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, hint: str = RERUN_HINT) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On any exception the temporary file is removed and ``path`` is left as it was; a failed
    write (full disk, file size limit, permissions) becomes one FieldnetError line ending in
    ``hint``.
    """
    final = Path(path)
    tmp = temporary_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError | RuntimeError) and error_number(exc) in WRITE_ERRNOS:
            raise FieldnetError(describe_os_error(exc, final, hint)) from exc
        raise


def require_free_space(path: str | os.PathLike, n_bytes: int, hint: str = RERUN_HINT) -> None:
    """FieldnetError (the full-disk or file-size-limit line, ending in ``hint``) unless a file of
    ``n_bytes`` can be written at ``path``: free space on its file system and the file size
    limit (``ulimit -f``)."""
    from fieldnet.io.limits import file_size_limit, format_bytes

    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < n_bytes:
        raise FieldnetError(f"no space left on the device for {p} (it needs {format_bytes(n_bytes)}, "
                            f"{format_bytes(free)} are free); free some space and {hint}")
    limit = file_size_limit()
    if limit is not None and n_bytes > limit:
        raise FieldnetError(f"file size limit reached: {p} needs {format_bytes(n_bytes)}, the limit is "
                            f"{format_bytes(limit)} (see 'ulimit -f'); raise it and {hint}")


def write_file_atomically(path: str | os.PathLike, data: bytes | bytearray | memoryview, *,
                          hint: str = RERUN_HINT) -> Path:
    """Write ``data`` to ``path`` atomically after checking the room for it; returns the path.

    The bytes are flushed to the device before the rename, so a crash never leaves a
    half-written file under the final name.  A full disk or the file size limit is one
    FieldnetError line, before or during the write; the temporary file is removed and an
    existing ``path`` is untouched.
    """
    final = Path(path)
    require_free_space(final, len(data), hint)
    try:
        with atomic_output(final, hint) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:  # a missing folder, a name too long, ...: every OSError here is a failed write
        raise FieldnetError(describe_os_error(exc, final, hint)) from None
    return final


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """:func:`write_file_atomically` for UTF-8 text (JSON, Markdown)."""
    return write_file_atomically(path, text.encode("utf-8"))


def write_netcdf_atomically(dataset, path: str | os.PathLike, hint: str = RERUN_HINT) -> Path:
    """Write an xarray Dataset (or DataArray) as netCDF-4 (h5netcdf) to ``path`` atomically.

    The file is built in memory and written with :func:`write_file_atomically`, so the HDF5
    library never meets a full disk (see the module docstring).

    Inside a Dask worker xarray would guard the in-memory target with a cluster-wide lock named
    after a BytesIO object, which the scheduler cannot resolve; the write is local, so it runs
    under the synchronous scheduler and takes an ordinary in-process lock.
    """
    import sys

    if "dask" in sys.modules:
        import dask

        with dask.config.set(scheduler="synchronous"):
            data = dataset.to_netcdf(engine="h5netcdf")
    else:
        data = dataset.to_netcdf(engine="h5netcdf")
    return write_file_atomically(path, data, hint=hint)


def hdf5_image(fill) -> bytes:
    """The bytes of an HDF5 file that ``fill(h5py.File)`` writes, built in memory."""
    import io

    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        fill(f)
    return buffer.getvalue()


# -- one writer per output -----------------------------------------------------------------------


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of an output: ``.NAME.lock`` beside it."""
    p = Path(path)
    return p.with_name(f".{p.name}.lock")


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock of output ``path`` (a file or folder) for the block.

    A second process asking for the same lock gets one FieldnetError line at once, naming the
    process that holds it.  The lock is the kernel's (``flock``), so a process killed with
    SIGKILL releases it; the holder removes the lock file when it is done.  Where ``flock``
    does not exist, nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    p = Path(path)
    lock = lock_path(p)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FieldnetError(describe_os_error(exc, p, RERUN_HINT)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _lock_owner(fd)
            os.close(fd)
            raise FieldnetError(
                f"another fieldnet process{f' (pid {owner})' if owner else ''} is writing {p}; "
                "wait for it to finish or choose another output"
            ) from None
        except OSError:  # a file system without locks (ENOLCK): write unlocked, as before locks existed
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock)
            yield
            return
        # the previous holder may have removed the file between our open and flock: then the
        # lock we hold is on a file nobody else can find, so take the new one
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _lock_owner(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


# -- inputs ------------------------------------------------------------------------------------


def require_regular_file(path: str | os.PathLike, noun: str, fix: str) -> Path:
    """``path`` as a Path, or a one-line DataFileError unless it is an existing regular file.

    FIFOs, devices and sockets are refused before anything opens them (opening a FIFO blocks
    until another process writes to it).  Symbolic links to regular files are followed.

    Args:
        noun: what the file should be, e.g. ``"model file"``.
        fix: the end of the message when the file is missing, e.g. ``"train one with ..."``.
    """
    from fieldnet.errors import DataFileError

    p = Path(path)
    if not str(path).strip():
        raise DataFileError(f"the {noun} name is empty; {fix}")
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        hint = ""
        if partial_path(p).exists():
            hint = f" (an unfinished run left {partial_path(p)}: finish it with --resume)"
        raise DataFileError(f"{noun} {p} does not exist (no such file){hint}; {fix}") from None
    except OSError as exc:
        raise DataFileError(f"cannot open {noun} {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise DataFileError(f"{p} is a directory, not a {noun}; {fix}")
    if not stat.S_ISREG(mode):
        raise DataFileError(f"{p} is not a regular file (a FIFO, device or socket); give a {noun}")
    if not os.access(p, os.R_OK):
        raise DataFileError(f"cannot read {noun} {p}: permission denied")
    return p
