"""Text files the user writes by hand (a pipeline config, an architecture): read as UTF-8, with one
line naming the file when it cannot be read or is not UTF-8 text."""

from __future__ import annotations

import os
from pathlib import Path

from fieldnet.errors import FieldnetError


def read_user_text(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names the file in the error (e.g. "config")."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FieldnetError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldnetError(f"{what} {p} is not UTF-8 text; save it as UTF-8") from None
