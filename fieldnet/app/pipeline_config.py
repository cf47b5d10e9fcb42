"""The pipeline's settings: the built-in default TOML, a user's TOML on top, and their validation.

Every setting is checked (type and range) when the configuration is loaded, before any stage
runs, so a typo or a wrong type costs seconds, not a simulation.  Defaults have one home each:
the pipeline's own choices are in ``pipeline_default.toml``; any ``fieldnet train`` setting not
given there keeps :class:`fieldnet.training.config.TrainConfig`'s default, and the analysis's
defaults are :mod:`fieldnet.analysis.tc`'s.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from fieldnet.errors import FieldnetError
from fieldnet.io.user_text import read_user_text

#: the [train] settings whose pipeline value differs from `fieldnet train`'s default, on purpose
PIPELINE_TRAINING_CHOICES = ("epochs", "seed")


def _int(lo: int, hi: int | None = None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            return f"a whole number {'>= ' + str(lo) if hi is None else f'from {lo} to {hi}'}"
        return None
    return check


def _float(lo: float, hi: float, *, open_low: bool = False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v < lo or v > hi or (open_low and v == lo):
            return f"a number {'above' if open_low else 'from'} {lo} {'and up to' if open_low else 'to'} {hi}"
        return None
    return check


def _str(*choices: str):
    def check(v):
        if not isinstance(v, str) or (choices and v not in choices):
            return f"one of {', '.join(repr(c) for c in choices)}" if choices else "a string"
        return None
    return check


def _sizes(v):
    if not isinstance(v, list) or len(v) < 2 or any(isinstance(x, bool) or not isinstance(x, int) or not 2 <= x <= 4096 for x in v):
        return "a list of at least two lattice sizes from 2 to 4096, e.g. [12, 16, 24, 32]"
    if sorted(set(v)) != v:
        return "lattice sizes in increasing order without repeats"
    return None


def _temperatures(v):
    if isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)):
        return None
    return 'a range "start:stop:num" or a list of temperatures'


def _shifts(v):
    if not isinstance(v, list) or not v or any(isinstance(x, bool) or not isinstance(x, int | float) or abs(x) >= 0.5 for x in v):
        return "a list of shifts between -0.5 and 0.5 (fractions of the scan's width), e.g. [0.0, 0.1, -0.1]"
    if v[0] != 0:
        return "a list starting with 0.0 (the unshifted training range gives the estimate)"
    return None


def _table(v):
    return None if isinstance(v, dict) else "a table, e.g. { q = 3 }"


def _windows(v):
    if isinstance(v, str) or (isinstance(v, list) and all(isinstance(w, str) for w in v)):
        return None
    return 'temperature windows "LOW:HIGH" (a string or a list of strings)'


SIMULATE = {
    "model": _str(), "params": _table, "lattice": _str(), "L": _sizes, "T": _temperatures,
    "scan_samples": _int(10), "samples": _int(10), "zoom_points": _int(5, 400), "zoom_margin": _float(0.0, 0.5, open_low=True),
    "algorithm": _str(), "seed": _int(0, 2**63 - 1),
}
TRAIN_PIPELINE = {
    "labels": _str("bands", "known-tc"), "bands": _float(0.0, 0.45, open_low=True), "shifts": _shifts,
    "ensemble": _int(1, 64),
}
ANALYSIS = {"method": _str("rg-matching", "confusion"), "bootstrap": _int(2, 100_000), "block": _int(2, 8),
            "confusion_repeats": _int(1, 100)}


def _train_checks() -> dict:
    """[train] accepts the pipeline's own keys and every TrainConfig setting that a pipeline run
    can set (not the per-run ones: sizes, init_model, freeze, the bands themselves)."""
    from fieldnet.training.config import TrainConfig

    checks = {"preset": _str(), "architecture": _str(), "epochs": _int(1, 10_000), "batch_size": _int(1, 1 << 20),
              "optimizer": _str("sgd", "adam"), "lr": _float(0.0, 10.0, open_low=True),
              "schedule": _str("constant", "step", "cosine"), "val_fraction": _float(0.0, 0.9),
              "patience": _int(0), "augment": lambda v: None if isinstance(v, bool) else "true or false",
              "seed": _int(0, 2**63 - 1), "dropout": _float(0.0, 0.95), "exclude_T": _windows}
    assert set(checks) <= {f.name for f in fields(TrainConfig)}
    return {**checks, **TRAIN_PIPELINE}


def default_config_text() -> str:
    """The built-in default configuration (TOML text)."""
    return resources.files("fieldnet.app").joinpath("pipeline_default.toml").read_text()


def printable_config() -> str:
    """The default TOML followed by the `fieldnet train` settings it leaves at their defaults
    (commented out, read from TrainConfig), so a user sees every knob."""
    from fieldnet.training.config import TrainConfig

    base = tomllib.loads(default_config_text())
    d = TrainConfig()
    lines = ["", "# [train] settings at `fieldnet train`'s defaults (uncomment under [train] to change):"]
    for name in _train_checks():
        if name in base["train"] or name in TRAIN_PIPELINE or not hasattr(d, name):
            continue
        value = getattr(d, name)
        if value is None:
            continue
        text = "true" if value is True else "false" if value is False else repr(value).replace("'", '"')
        lines.append(f"# {name} = {text}")
    return default_config_text() + "\n".join(lines) + "\n"


@dataclass
class PipelineConfig:
    """The validated settings: one dict per TOML section."""

    simulate: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)

    def train_config(self, **run: Any):
        """The TrainConfig of one network: [train]'s TrainConfig settings plus ``run``'s."""
        from fieldnet.training.batches import parse_window
        from fieldnet.training.config import TrainConfig

        names = {f.name for f in fields(TrainConfig)}
        settings = {k: v for k, v in self.train.items() if k in names}
        windows = settings.pop("exclude_T", [])
        windows = [windows] if isinstance(windows, str) else windows
        return TrainConfig(exclude_T=[parse_window(w) for w in windows], **{**settings, **run})


def _check_section(where: str, values: dict, checks: dict) -> None:
    unknown = sorted(set(values) - set(checks))
    if unknown:
        raise FieldnetError(f"{where}: unknown key(s) {unknown} in the section; known: {sorted(checks)}")
    for key, value in values.items():
        problem = checks[key](value)
        if problem:
            raise FieldnetError(f"{where}: {key} = {value!r} must be {problem}")


def _read_user_toml(path: str | os.PathLike) -> dict:
    text = read_user_text(path, "config")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FieldnetError(f"config {Path(path)} is not valid TOML: {exc}") from None


def load_config(path: str | os.PathLike | None) -> PipelineConfig:
    """The default configuration, updated by a TOML file's sections when ``path`` is given, and
    validated in full.

    Unknown sections or keys and values of the wrong type or range are refused with one line
    naming the key and what it must be.
    """
    base = tomllib.loads(default_config_text())
    checks = {"simulate": SIMULATE, "train": _train_checks(), "analysis": ANALYSIS}
    if path is not None:
        where = f"config {path}"
        user = _read_user_toml(path)
        for section, values in user.items():
            if section not in checks or not isinstance(values, dict):
                raise FieldnetError(f"{where}: unknown section [{section}]; sections are {', '.join(checks)}")
            _check_section(f"{where} [{section}]", values, checks[section])
            if section == "simulate" and "model" in values and values["model"] != base["simulate"]["model"]:
                base["simulate"]["params"] = {}  # the default couplings belong to the default model
            base[section].update(values)
    for section, values in base.items():
        _check_section(f"pipeline settings [{section}]", values, checks[section])
    config = PipelineConfig(**{k: dict(base.get(k, {})) for k in checks})
    _check_consistency(config)
    return config


def _check_consistency(config: PipelineConfig) -> None:
    """What no single key can check: the model and its couplings, the temperatures, the sizes'
    pairs and the training settings as a whole."""
    from fieldnet.simulations.grids import parse_temperatures
    from fieldnet.simulations.registry import get_model

    sim = config.simulate
    params = dict(sim.get("params", {}))
    if sim.get("lattice"):
        params["lattice"] = sim["lattice"]
    from fieldnet.app.commands.simulate import check_couplings, check_point_memory

    check_couplings(params)
    model = get_model(sim["model"], **params)  # unknown model or coupling: its own one-line error
    check_point_memory(model, sim["L"], max(int(sim["samples"]), int(sim["scan_samples"])))
    spec = sim["T"]
    temps = parse_temperatures([spec] if isinstance(spec, str) else [str(t) for t in spec])
    if len(temps) < 5:
        raise FieldnetError(f"[simulate] T: the scan needs at least 5 temperatures to locate a transition, got {len(temps)}")
    b = config.analysis.get("block", 2)
    if config.analysis.get("method", "rg-matching") == "rg-matching" and not any(L % b == 0 and L // b in sim["L"] for L in sim["L"]):
        raise FieldnetError(f"[simulate] L = {sim['L']}: no size L has its L/{b} in the list, so the networks cannot be "
                            f"matched across a block step; add sizes such as {sim['L'][0] * b}")
    try:
        config.train_config(ordered_below=1.0, disordered_above=2.0).resolved()
    except FieldnetError as exc:
        raise FieldnetError(f"[train]: {exc}") from None
