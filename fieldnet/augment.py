"""Data augmentation by the lattice's symmetries, applied per sample to a batch.

* periodic translations: every sample rolled by its own random shift (the torus is homogeneous);
* the point group of the square (8 elements) or of the cube (48): random axis permutations
  and reflections -- only for square and cubic lattices (the sheared triangular array has a
  different point group);
* global spin flip s -> -s (Ising, phi^4; for XY channels (cos, sin) it is the rotation by pi).

Each is an exact symmetry of the Hamiltonian, so augmented configurations are equally probable
configurations of the same ensemble with the same label.  Every transform is a permutation (and
sign change) of the input, seeded by the caller's generator.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Symmetries:
    """Which symmetries a data set has (see :func:`symmetries_for`)."""

    translations: bool = True
    point_group: bool = True
    spin_flip: bool = True


def symmetries_for(model: str | None, lattice: str | None = None) -> Symmetries:
    """The symmetries of a model's configurations as stored in its data file."""
    point_group = lattice in (None, "", "square", "cubic")
    spin_flip = model not in ("potts",)  # Potts states are labels: no sign symmetry
    return Symmetries(translations=True, point_group=point_group, spin_flip=spin_flip)


def random_translation(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Roll each sample of (N, C, *spatial) by an independent uniform shift on every axis."""
    n, spatial = x.shape[0], x.shape[2:]
    index = []
    for axis, size in enumerate(spatial):
        shift = rng.integers(0, size, n)
        coords = (np.arange(size)[None, :] + shift[:, None]) % size  # (N, size)
        shape = [n] + [1] * len(spatial)
        shape[axis + 1] = size
        index.append(coords.reshape(shape))
    batch = np.arange(n).reshape([n] + [1] * len(spatial))
    # advanced indexing per spatial axis, channel axis kept whole: (N, *spatial, C) -> move C back
    moved = np.moveaxis(x, 1, -1)[(batch, *index)]
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def point_group_elements(ndim: int) -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """All (axis permutation, reflections) pairs: 8 for the square, 48 for the cube."""
    return [(perm, flips) for perm in itertools.permutations(range(ndim))
            for flips in itertools.product((False, True), repeat=ndim)]


def apply_point_group(x: np.ndarray, element: tuple[tuple[int, ...], tuple[bool, ...]]) -> np.ndarray:
    """Apply one point-group element to a batch (N, C, *spatial)."""
    perm, flips = element
    y = np.transpose(x, (0, 1, *(2 + p for p in perm)))
    for axis, flip in enumerate(flips):
        if flip:
            y = np.flip(y, axis=2 + axis)
    return y


def random_point_group(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each sample transformed by a uniformly drawn element of the point group."""
    elements = point_group_elements(x.ndim - 2)
    choice = rng.integers(0, len(elements), x.shape[0])
    out = np.empty_like(x)
    for e in np.unique(choice):
        sel = choice == e
        out[sel] = apply_point_group(x[sel], elements[e])
    return out


def random_spin_flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply each sample by an independent random sign."""
    sign = rng.choice(np.array([-1, 1], dtype=x.dtype), size=x.shape[0])
    return x * sign.reshape((-1,) + (1,) * (x.ndim - 1))


def augment_batch(x: np.ndarray, rng: np.random.Generator, symmetries: Symmetries = Symmetries()) -> np.ndarray:
    """Apply every enabled symmetry, each drawn independently per sample."""
    if symmetries.translations:
        x = random_translation(x, rng)
    if symmetries.point_group and len(set(x.shape[2:])) == 1:
        x = random_point_group(x, rng)
    if symmetries.spin_flip:
        x = random_spin_flip(x, rng)
    return x
