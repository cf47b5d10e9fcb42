"""fieldnet: phase classification of lattice models with convolutional networks built for lattices.

Heavy submodules are imported lazily so that ``import fieldnet`` and ``fieldnet --help`` stay fast.
"""

from __future__ import annotations

import os

# The convolution kernels use every core through numba; a multi-threaded BLAS (the dense layers'
# matrix products) on top of them oversubscribes the cores and collapses throughput.  This only
# takes effect when fieldnet is imported before numpy (always true for the command line).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from importlib import import_module  # noqa: E402
from typing import Any  # noqa: E402

from fieldnet.errors import DataFileError, FieldnetError, ShapeError, TrainingDiverged  # noqa: E402

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "Sequential": "fieldnet.model",
    "load_model": "fieldnet.modelfile",
    "load_checkpoint": "fieldnet.modelfile",
    "open_dataset": "fieldnet.dataset",
    "DatasetWriter": "fieldnet.dataset",
    "layers": "fieldnet.layers",
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
