"""Seeded weight initialisers (He and Glorot), float32.

Every function takes the weight shape, the fan-in (inputs per output unit: C * K^d for a
convolution, F for a dense layer) and, for Glorot, the fan-out, and draws from ``rng`` so that
the same model seed gives the same weights.
"""

from __future__ import annotations

import math

import numpy as np


def he_normal(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator) -> np.ndarray:
    """N(0, 2 / fan_in) (He et al. 2015), the default for ReLU networks."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio 2010), for tanh/sigmoid networks."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(np.float32)
