"""The kinds of file fieldnet writes, and the one check of which kind a file is.

Every file carries the root attribute ``fieldnet_format`` naming its kind.  Readers call
:func:`require_kind` on the root attributes before they trust anything else in the file, so a
data file given where a model is expected (or another tool's HDF5 file) gets one line that says
what the file is and which command writes the right one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fieldnet.errors import DataFileError

#: the root attribute that names a file's kind
FORMAT_ATTRIBUTE = "fieldnet_format"

#: kind -> (what a reader calls it, the command that writes it)
KINDS: dict[str, tuple[str, str]] = {
    "dataset": ("data file", "fieldnet simulate"),
    "model": ("model file", "fieldnet train"),
    "predictions": ("predictions file", "fieldnet predict"),
}


def file_kind(attrs: Mapping[str, Any]) -> str | None:
    """The ``fieldnet_format`` of a file's root attributes (h5py or xarray), None when absent.

    HDF5 stores it as str or bytes; netCDF readers may hand back a one-element array.
    """
    value = attrs.get(FORMAT_ATTRIBUTE)
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return str(value.tolist())
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def require_kind(attrs: Mapping[str, Any], expected: str, where: object) -> None:
    """Raise DataFileError unless the root attributes say the file is of kind ``expected``.

    Args:
        attrs: the file's root attributes.
        expected: a key of :data:`KINDS`.
        where: the file (its path), named in the message.
    """
    kind = file_kind(attrs)
    if kind == expected:
        return
    noun, writer = KINDS[expected]
    what = f"a fieldnet {kind} file" if kind else f"not a fieldnet {noun} (no {FORMAT_ATTRIBUTE} attribute)"
    raise DataFileError(f"{where} is {what}; give a {noun} written by '{writer}'")
