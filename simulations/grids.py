"""Command-line grids: temperatures, lattice sizes and model parameters, validated.

Temperature syntax (each token one of these; several tokens are combined)::

    2.269              one temperature
    1.5,2.0,2.5        a comma list
    1.0:3.5:26         26 evenly spaced temperatures from 1.0 to 3.5 inclusive (numpy.linspace)

The combined grid is sorted ascending with duplicates removed.  Every problem raises
:class:`fieldnet.errors.FieldnetError` with one line naming the bad token and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from fieldnet.errors import FieldnetError

#: largest grid we accept from one range token (guards against a typo such as 1:3:20000000)
MAX_POINTS = 100_000


def _positive_float(text: str, token: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FieldnetError(
            f"temperature {token!r} is not a number; use a value (2.27), a list (1.5,2.0) or a range start:stop:num (1.0:3.5:26)"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise FieldnetError(f"temperature {token!r} must be positive and finite (units of J/k_B)")
    return value


def parse_temperatures(tokens: Iterable[str | float]) -> np.ndarray:
    """Temperatures from command-line tokens (see module docstring).

    Returns:
        (n,) float64, ascending, unique, all > 0.
    """
    values: list[float] = []
    for raw in tokens:
        token = str(raw).strip()
        if not token:
            raise FieldnetError("empty temperature; give e.g. --T 2.27 or --T 1.0:3.5:26")
        if ":" in token:
            parts = token.split(":")
            if len(parts) != 3:
                raise FieldnetError(f"temperature range {token!r} must be start:stop:num, e.g. 1.0:3.5:26")
            start = _positive_float(parts[0], token)
            stop = _positive_float(parts[1], token)
            try:
                num = int(parts[2])
            except ValueError:
                raise FieldnetError(f"temperature range {token!r}: the number of points {parts[2]!r} must be a whole number") from None
            if num < 1 or num > MAX_POINTS:
                raise FieldnetError(f"temperature range {token!r}: the number of points must be between 1 and {MAX_POINTS}")
            if num > 1 and start == stop:
                raise FieldnetError(f"temperature range {token!r} has start == stop but {num} points; give one value instead")
            values.extend(np.linspace(start, stop, num).tolist())
        else:
            values.extend(_positive_float(part.strip(), token) for part in token.split(","))
    if not values:
        raise FieldnetError("no temperatures given; use e.g. --T 1.0:3.5:26")
    return np.unique(np.asarray(values, dtype=np.float64))


def parse_sizes(values: Iterable[str | int]) -> list[int]:
    """Lattice sizes (>= 2), ascending, unique."""
    sizes = []
    for raw in values:
        try:
            as_float = float(raw)
            if not math.isfinite(as_float) or as_float != int(as_float):
                raise ValueError
            L = int(as_float)
        except (TypeError, ValueError):
            raise FieldnetError(f"lattice size {raw!r} is not a whole number; use e.g. --L 16 32") from None
        if L < 2:
            raise FieldnetError(f"lattice size {L} is too small; L must be at least 2")
        sizes.append(L)
    if not sizes:
        raise FieldnetError("no lattice sizes given; use e.g. --L 16 32")
    return sorted(set(sizes))


def parse_params(items: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings into a dict (values stay strings; the model coerces them)."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise FieldnetError(f"model parameter {item!r} must be NAME=VALUE, e.g. --param J=1.0")
        if name in params:
            raise FieldnetError(f"model parameter {name} is given twice")
        params[name] = value
    return params
