"""Which module implements which lattice model, and building a model from its name and couplings.

Each model lives in its own module (``simulations/<model>.py``) that defines one
:class:`fieldnet.simulations.base.LatticeModel` subclass whose ``name`` is the registry key and whose
``parameters`` class attribute declares every coupling as ``name -> (default, one-line doc)``.
The module may name the class explicitly with a module attribute ``MODEL = TheClass``.
Modules are imported lazily, so a model whose module is absent is simply unavailable.

A variant of a model on another lattice may live in its own module: ``VARIANT_MODULES`` maps
``(model, parameter, value)`` to the module, e.g. ``("ising2d", "lattice", "triangular")``.  The
variant's class receives all parameters (including the one that selected it).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fieldnet.simulations.base import LatticeModel

from fieldnet.errors import FieldnetError

MODEL_MODULES: dict[str, str] = {
    "ising2d": "fieldnet.simulations.ising2d",
    "ising3d": "fieldnet.simulations.ising3d",
    "xy": "fieldnet.simulations.xy",
    "potts": "fieldnet.simulations.potts",
    "phi4": "fieldnet.simulations.phi4",
}

VARIANT_MODULES: dict[tuple[str, str, Any], str] = {
    ("ising2d", "lattice", "triangular"): "fieldnet.simulations.triangular",
}


def _import_model_module(module_name: str):
    """The module, or None when it does not exist; a broken module is a real error."""
    try:
        return import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def _model_class_in(module, name: str) -> type[LatticeModel] | None:
    cls = getattr(module, "MODEL", None)
    if isinstance(cls, type) and issubclass(cls, LatticeModel):
        return cls
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, LatticeModel) and value is not LatticeModel and value.name == name:
            return value
    return None


def available_models() -> list[str]:
    """Names of the models whose modules are present, in registry order."""
    return [name for name, module in MODEL_MODULES.items() if _import_model_module(module) is not None]


def model_class(name: str, params: dict[str, Any] | None = None) -> type[LatticeModel]:
    """The LatticeModel subclass for ``name`` (and, for variants, the selecting parameter).

    Raises:
        FieldnetError: unknown model, or its module is not present.
    """
    if name not in MODEL_MODULES:
        raise FieldnetError(f"unknown model {name!r}; available models: {', '.join(available_models())}")
    module_name = MODEL_MODULES[name]
    for (model, key, value), variant_module in VARIANT_MODULES.items():
        if model == name and params and key in params and str(params[key]) == str(value):
            module_name = variant_module
    module = _import_model_module(module_name)
    cls = _model_class_in(module, name) if module is not None else None
    if cls is None:
        where = f"{name} with {', '.join(f'{k}={v}' for k, v in (params or {}).items())}" if module_name != MODEL_MODULES[name] else name
        raise FieldnetError(
            f"model {where} is not available in this version (no module {module_name}); "
            f"available models: {', '.join(available_models())}"
        )
    return cls


def coerce_parameter(model: str, cls: type[LatticeModel], key: str, value: Any) -> Any:
    """``value`` converted to the type of the parameter's default (strings from the CLI)."""
    if key not in cls.parameters:
        known = ", ".join(f"{k} (default {d[0]!r})" for k, d in cls.parameters.items()) or "none"
        raise FieldnetError(f"model {model} has no parameter {key!r}; its parameters are: {known}")
    default = cls.parameters[key][0]
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                return low in ("1", "true", "yes")
            return bool(value)
        if isinstance(default, int):
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError(value)
            return int(as_float)
        if isinstance(default, float):
            out = float(value)
            if out != out or out in (float("inf"), float("-inf")):
                raise ValueError(value)
            return out
        return str(value)
    except (TypeError, ValueError):
        kind = type(default).__name__
        raise FieldnetError(f"parameter {key} of model {model} must be a finite {kind}, got {value!r}") from None


def get_model(name: str, **params: Any) -> LatticeModel:
    """Build model ``name`` with couplings ``params`` (unspecified ones take their defaults).

    Args:
        name: a key of MODEL_MODULES, e.g. "ising2d".
        params: couplings, e.g. ``J=1.0, h=0.1``; strings are coerced to the default's type.

    Raises:
        FieldnetError: unknown model, model not present, unknown or malformed parameter.
    """
    cls = model_class(name, params)
    kwargs = {key: coerce_parameter(name, cls, key, value) for key, value in params.items()}
    return cls(**kwargs)
