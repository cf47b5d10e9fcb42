"""Read an untrusted HDF5 file's metadata in a child process, so a corrupt file cannot hang us.

The HDF5 C library trusts the sizes and offsets written in a file.  Some corruptions (found by
this package's fuzz tests: one changed byte in the size of a global-heap object that holds a
string attribute) send it into an endless loop while holding the GIL, where no timeout, signal
handler or Ctrl-C can reach it; others can crash the process.  Before any reader touches a
file, :func:`probe_hdf5` walks every group, dataset and attribute in a forked child with a time
limit.  The walk is deterministic, so when the child finishes the parent can read the same
metadata safely; when it hangs, crashes or raises, the caller gets one DataFileError line.

The walk also refuses what would make a reader touch other files: external links, virtual
datasets (whose data lives in other files) and datasets with external raw storage.  Without
this, a crafted model or data file could make fieldnet read any file the user can read.

Chunk data is not read here (that would cost a full pass over large files); damaged chunks
surface as DataFileError at read time (see ``fieldnet.io.dataset``).
"""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

from fieldnet.errors import DataFileError

#: seconds the metadata walk may take (a healthy file needs milliseconds); the environment
#: variable FIELDNET_HDF5_PROBE_TIMEOUT overrides it
DEFAULT_TIMEOUT = 20.0


def walk_metadata(path: str | os.PathLike) -> None:
    """Open ``path`` with h5py and read every object's attributes, shape, dtype and layout.

    Raises DataFileError for an external or user-defined link, a virtual dataset or a dataset
    stored in external files.
    """
    import h5py

    def visit(obj) -> None:
        for key in obj.attrs:
            obj.attrs[key]  # noqa: B018 -- reading the value is the point
        if isinstance(obj, h5py.Dataset):
            obj.shape, obj.dtype, obj.chunks, obj.compression  # noqa: B018
            if obj.is_virtual:
                raise DataFileError(f"{path}: dataset {obj.name} is a virtual dataset (its data lives in other files); "
                                    "fieldnet reads only self-contained files, re-create it without virtual datasets")
            if obj.external:
                raise DataFileError(f"{path}: dataset {obj.name} is stored in external files; fieldnet reads only "
                                    "self-contained files, re-create it with its data inside")

    refused: list[str] = []

    def check_link(name: str, link) -> bool | None:
        # an exception must not cross HDF5's C iteration: note the problem and stop it
        if isinstance(link, h5py.ExternalLink):
            refused.append(f"{path}: /{name} is an external link to {link.filename}:{link.path}; fieldnet does not "
                           "follow links to other files, copy the data into the file instead")
        elif not isinstance(link, h5py.HardLink | h5py.SoftLink):
            refused.append(f"{path}: /{name} is a user-defined link; fieldnet reads only hard and soft links")
        return True if refused else None

    with h5py.File(path, "r") as f:
        f.visititems_links(check_link)
        if refused:
            raise DataFileError(refused[0])
        visit(f)
        objects = []
        f.visititems(lambda _name, obj: objects.append(obj) and None)
        for obj in objects:
            visit(obj)


def probe_hdf5(path: str | os.PathLike, *, timeout: float | None = None) -> None:
    """Raise DataFileError unless the HDF5 library reads all metadata of ``path`` cleanly.

    Runs :func:`walk_metadata` in a forked child (in-process where ``fork`` does not exist).

    Args:
        path: the file to check.
        timeout: seconds before the child is killed and the file declared unreadable
            (default: FIELDNET_HDF5_PROBE_TIMEOUT or DEFAULT_TIMEOUT).
    """
    from fieldnet.io.atomic import require_regular_file

    p = require_regular_file(path, "HDF5 file", "give an existing file")
    if timeout is None:
        timeout = float(os.environ.get("FIELDNET_HDF5_PROBE_TIMEOUT", DEFAULT_TIMEOUT))
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        _walk_or_raise(p)
        return
    from h5py._objects import phil

    read_end, write_end = os.pipe()
    # holding h5py's global lock across fork() guarantees no other thread of ours is inside the
    # HDF5 library at that moment, so the child never inherits a lock it cannot release
    with phil:
        pid = os.fork()
    if pid == 0:  # child: report and leave without running the parent's atexit handlers
        import faulthandler

        faulthandler.disable()  # a crash here is the expected verdict, reported by the parent in one line
        os.close(read_end)
        status = 0
        message = b""
        try:
            walk_metadata(p)
        except DataFileError as exc:  # a verdict on the file: the parent repeats it as it is
            status = 3
            message = str(exc).encode(errors="replace")[:4000]
        except BaseException as exc:  # noqa: BLE001 -- everything is reported to the parent
            status = 1
            message = f"{type(exc).__name__}: {exc}".encode(errors="replace")[:4000]
        try:
            os.write(write_end, message)
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        message = _read_until_eof(read_end, timeout)
    finally:
        os.close(read_end)
    if message is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise DataFileError(
            f"{p} is corrupt: the HDF5 library did not finish reading its metadata within {timeout:g} s; "
            "re-create the file"
        )
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise DataFileError(
            f"{p} is corrupt: reading its metadata crashed the HDF5 library "
            f"({signal.Signals(os.WTERMSIG(status)).name}); re-create the file"
        )
    if os.WEXITSTATUS(status) == 3:
        raise DataFileError(message.decode(errors="replace"))
    if os.WEXITSTATUS(status) != 0:
        detail = message.decode(errors="replace") or "unknown error"
        raise DataFileError(f"{p} is not a readable HDF5 file ({detail}); it may be truncated or corrupt")


def _walk_or_raise(p: Path) -> None:
    try:
        walk_metadata(p)
    except DataFileError:
        raise
    except Exception as exc:
        raise DataFileError(f"{p} is not a readable HDF5 file ({type(exc).__name__}: {exc}); it may be truncated or corrupt") from exc


def _read_until_eof(fd: int, timeout: float) -> bytes | None:
    """Everything written to ``fd`` until its writer closes it, or None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
