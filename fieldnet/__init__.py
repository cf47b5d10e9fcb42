"""fieldnet: phase classification of lattice models with convolutional networks built for lattices.

Heavy submodules are imported lazily so that ``import fieldnet`` and ``fieldnet --help`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fieldnet.errors import DataFileError, FieldnetError, ShapeError, TrainingDiverged

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "Sequential": "fieldnet.engine.model",
    "load_model": "fieldnet.engine.saving",
    "load_checkpoint": "fieldnet.engine.saving",
    "open_dataset": "fieldnet.io.dataset",
    "DatasetWriter": "fieldnet.io.dataset",
    "layers": "fieldnet.engine.layers",
    "PhaseClassifier": "fieldnet.training.estimator",
    "fit": "fieldnet.training.trainer",
}

__all__ = [
    "DataFileError",
    "FieldnetError",
    "ShapeError",
    "TrainingDiverged",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = import_module(_LAZY[name])
        return module if name == "layers" else getattr(module, name)
    raise AttributeError(f"module 'fieldnet' has no attribute {name!r}")
