"""CF-1.x metadata for every netCDF file fieldnet writes (data, predictions, analysis results).

What the conventions ask of a file, and where fieldnet puts it:

* root attributes ``Conventions`` (:data:`CONVENTIONS`), ``history`` (one line per program that
  wrote the file, newest last: ``<UTC time>: <command>``), ``source`` and the fieldnet
  ``format_version`` of the file's kind;
* a ``long_name`` on every variable and coordinate;
* ``units`` that UDUNITS parses.  Lattice models are written in units of the coupling J, so a
  temperature ``k_B T / J`` is a pure number: its units are ``"1"`` and its long_name and
  ``comment`` say "in units of J/k_B" (the string ``"J/k_B"`` is not a UDUNITS unit);
  energies per site are in units of J, also ``"1"``;
* per-sample variables name their coordinates (``coordinates = "temperature label"``) so xarray
  and other CF readers attach them: ``ds.energy.groupby("temperature")`` works as written;
* categorical variables carry numeric ``flag_values`` and space-separated ``flag_meanings``.

This module is plain data and small functions on attribute dictionaries and xarray objects; it
imports nothing of fieldnet but the errors.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

import numpy as np

#: the version of the CF conventions the files follow
CONVENTIONS = "CF-1.10"

#: the UDUNITS spelling of a pure number
DIMENSIONLESS = "1"

TEMPERATURE_COMMENT = "temperature k_B T / J: dimensionless, in units of J/k_B (J the coupling)"

def temperature_attrs(long_name: str = "temperature") -> dict[str, Any]:
    """CF attributes of a temperature-like variable k_B T / J: units "1", the J/k_B in the
    long_name and comment."""
    return {"long_name": f"{long_name} in units of J/k_B", "units": DIMENSIONLESS, "comment": TEMPERATURE_COMMENT}


#: phase labels of data and predictions files: flag value -> meaning
LABEL_FLAGS = {-1: "unknown", 0: "disordered", 1: "ordered"}

#: CF attributes of the variables fieldnet writes, by name (any other variable gets a long_name
#: made from its name, see :func:`variable_attrs`)
VARIABLE_ATTRS: dict[str, dict[str, Any]] = {
    "config": {"long_name": "lattice configuration", "units": DIMENSIONLESS},
    "channel": {"long_name": "channel of the configuration"},
    "temperature": {"long_name": "temperature in units of J/k_B", "units": DIMENSIONLESS,
                    "comment": TEMPERATURE_COMMENT},
    "temperature_grid": {"long_name": "simulated temperature in units of J/k_B", "units": DIMENSIONLESS,
                         "comment": TEMPERATURE_COMMENT},
    "label": {"long_name": "phase label", "flag_values": np.array(list(LABEL_FLAGS), dtype=np.int8),
              "flag_meanings": " ".join(LABEL_FLAGS.values())},
    "energy": {"long_name": "energy per site in units of J", "units": DIMENSIONLESS},
    "magnetization": {"long_name": "magnetization per site", "units": DIMENSIONLESS},
    "vorticity": {"long_name": "vortices and antivortices per site", "units": DIMENSIONLESS},
    "helicity_modulus": {"long_name": "helicity modulus estimator per site in units of J", "units": DIMENSIONLESS},
    "phi_squared": {"long_name": "mean squared field per site", "units": DIMENSIONLESS},
    "tau_int_energy": {"long_name": "integrated autocorrelation time of the energy in Monte Carlo sweeps",
                       "units": DIMENSIONLESS},
    "tau_int_abs_magnetization": {
        "long_name": "integrated autocorrelation time of the absolute magnetization in Monte Carlo sweeps",
        "units": DIMENSIONLESS},
    "thinning": {"long_name": "Monte Carlo sweeps between stored samples", "units": DIMENSIONLESS},
    "burn_in": {"long_name": "Monte Carlo sweeps before the first stored sample", "units": DIMENSIONLESS},
    "acceptance": {"long_name": "mean acceptance rate of the updates", "units": DIMENSIONLESS},
    "completed": {"long_name": "temperature point written completely",
                  "flag_values": np.array([0, 1], dtype=np.int8), "flag_meanings": "pending complete"},
    "L": {"long_name": "linear lattice size in sites", "units": DIMENSIONLESS},
    "sample_index": {"long_name": "index of the sample in its lattice group of the source data file"},
    "class": {"long_name": "phase class"},
    "network": {"long_name": "network of the ensemble"},
    "probability": {"long_name": "predicted class probability", "units": DIMENSIONLESS},
    "member_probability": {"long_name": "class probability predicted by each network of the ensemble",
                           "units": DIMENSIONLESS},
}


def variable_attrs(name: str) -> dict[str, Any]:
    """The CF attributes of a variable called ``name`` (a copy): the table's, else a long_name
    made from the name (``tau_int_x`` -> ``"tau int x"``)."""
    known = VARIABLE_ATTRS.get(name)
    if known is not None:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in known.items()}
    return {"long_name": name.replace("_", " ")}


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second (``2026-01-31T12:00:00Z``)."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_command() -> str:
    """The command line of this process, as CF ``history`` records it: ``fieldnet predict ...``
    for the command line, ``python script.py ...`` for a script, the interpreter otherwise."""
    import os
    import shlex
    import sys

    argv = list(sys.argv) or ["python"]
    head = os.path.basename(argv[0]) or "python"
    if head == "fieldnet" or argv[0].endswith(os.path.join("fieldnet", "__main__.py")):
        head = "fieldnet"
    elif head == "__main__.py":  # python -m PACKAGE
        head = f"python -m {os.path.basename(os.path.dirname(argv[0]))}"
    elif head != "python" and not head.startswith("python"):
        head = f"python {head}"
    return " ".join([head, *(shlex.quote(a) for a in argv[1:])])


def history_line(command: str | None, when: str | None = None) -> str:
    """One line of a CF ``history`` attribute: ``"<UTC time>: <command>"`` (``command`` None:
    this process's command line)."""
    return f"{when or utc_now()}: {command or process_command()}"


def append_history(previous: Any, command: str | None) -> str:
    """``previous`` history lines with one more for ``command`` (CF: newest last)."""
    text = "" if previous is None else str(np.ravel(previous)[0]) if isinstance(previous, np.ndarray) else str(previous)
    line = history_line(command)
    return f"{text}\n{line}" if text.strip() else line


def file_attrs(kind: str, format_version: int, command: str | None, previous_history: Any = None) -> dict[str, Any]:
    """The root attributes every fieldnet netCDF file carries, for a file of ``kind``.

    Args:
        kind: the file's ``fieldnet_format`` (dataset, predictions, equivariance, ...).
        format_version: the layout version of that kind.
        command: the command line (or Python call) that wrote it, for ``history``.
        previous_history: the history of the input this file derives from, continued.
    """
    from fieldnet import __version__

    return {
        "Conventions": CONVENTIONS,
        "history": append_history(previous_history, command),
        "source": f"fieldnet {__version__}",
        "fieldnet_format": kind,
        "format_version": int(format_version),
    }


def temperature_units_fixed(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` with a non-UDUNITS ``units = "J/k_B"`` (older files, other code) replaced by
    ``"1"`` and the unit moved into long_name and comment."""
    out = dict(attrs)
    if str(out.get("units", "")).replace(" ", "") in ("J/k_B", "J/kB", "J/k"):
        out["units"] = DIMENSIONLESS
        name = str(out.get("long_name", "temperature"))
        if "J/k_B" not in name:
            out["long_name"] = f"{name} in units of J/k_B"
        out.setdefault("comment", "dimensionless, in units of J/k_B (J the coupling)")
    return out


def cf_clean(obj, *, kind: str, format_version: int = 1, command: str | None = None):
    """An xarray Dataset or DataArray ready for a CF-1.x netCDF file (a new object).

    Adds the root attributes of :func:`file_attrs` (continuing an existing ``history``), a
    long_name on every variable and coordinate that lacks one, and replaces ``"J/k_B"`` units
    by ``"1"`` (see :func:`temperature_units_fixed`).  Values are not touched.
    """
    import xarray as xr

    ds = obj.to_dataset(name=obj.name or "value", promote_attrs=True) if isinstance(obj, xr.DataArray) else obj.copy()
    for name, var in ds.variables.items():
        attrs = temperature_units_fixed(var.attrs)
        if "long_name" not in attrs:
            attrs["long_name"] = variable_attrs(str(name))["long_name"]
        if var.dtype == bool and "flag_values" not in attrs:  # stored as int8 0/1
            attrs["flag_values"] = np.array([0, 1], dtype=np.int8)
            attrs["flag_meanings"] = "false true"
        var.attrs = attrs
    previous = ds.attrs.get("history")
    ds.attrs.update(file_attrs(kind, format_version, command or ds.attrs.get("command"), previous))
    return ds
