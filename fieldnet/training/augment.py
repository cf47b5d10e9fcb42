"""Data augmentation by the lattice's symmetries, applied per sample to a batch.

* periodic translations: every sample rolled by its own random shift (the torus is homogeneous);
* the point group of the square (8 elements) or of the cube (48): random axis permutations
  and reflections -- only for square and cubic lattices (the sheared triangular array has a
  different point group);
* global spin flip s -> -s (Ising, phi^4; for XY channels (cos, sin) it is the rotation by pi),
  only without a magnetic field h (a field breaks the symmetry);
* for the q-state Potts model, a random permutation of the q states (its S_q symmetry): the
  states relabelled in one int channel, or the one-hot channels permuted.

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
    """Which symmetries a data set has (see :func:`symmetries_for`).

    Attributes:
        translations: periodic translations.  point_group: the square's 8 / the cube's 48 elements.
        spin_flip: the global sign flip.  potts_states: q > 0 permutes the q Potts states.
        onehot: the Potts states are q one-hot channels (else one channel of states 0..q-1).
    """

    translations: bool = True
    point_group: bool = True
    spin_flip: bool = True
    potts_states: int = 0
    onehot: bool = False


def symmetries_for(model: str | None, lattice: str | None = None, *, field: float = 0.0, q: int | None = None,
                   onehot: bool = False) -> Symmetries:
    """The symmetries of a model's configurations as stored in its data file.

    Args:
        model, lattice: the data file's ``model`` and ``lattice`` attributes.
        field: the magnetic field h (spin flip is a symmetry only at h = 0).
        q, onehot: the Potts model's number of states and its channel layout.
    """
    point_group = lattice in (None, "", "square", "cubic", "simple cubic")  # hypercubic: the full point group
    if model == "potts":  # states are labels: no sign symmetry, but any relabelling of them
        return Symmetries(translations=True, point_group=point_group, spin_flip=False,
                          potts_states=int(q or 0), onehot=bool(onehot))
    return Symmetries(translations=True, point_group=point_group, spin_flip=not field)


def symmetries_from_attrs(group_attrs: dict) -> Symmetries:
    """:func:`symmetries_for` from the attributes of a data file's lattice group."""
    def number(key, default):
        try:  # HDF5/netCDF attributes may be 1-element arrays
            return float(np.ravel(group_attrs.get(key, default))[0])
        except (TypeError, ValueError, IndexError):
            return default

    onehot = str(np.ravel(group_attrs.get("onehot", ""))[0]).lower() in ("1", "true")
    return symmetries_for(group_attrs.get("model"), group_attrs.get("lattice"), field=number("h", 0.0),
                          q=int(number("q", 0)), onehot=onehot)


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


def random_state_permutation(x: np.ndarray, rng: np.random.Generator, q: int, onehot: bool) -> np.ndarray:
    """Relabel the q Potts states of each sample by its own random permutation.

    ``onehot``: x is (N, q, *spatial) one-hot and its channels are permuted; otherwise x is
    (N, 1, *spatial) holding states 0..q-1 and each value s becomes perm[s].
    """
    n = x.shape[0]
    perms = rng.permuted(np.tile(np.arange(q), (n, 1)), axis=1)  # (N, q), one permutation a row
    if onehot:
        if x.shape[1] != q:
            raise ValueError(f"one-hot Potts data needs {q} channels, got {x.shape[1]}")
        # state s becomes perm[s]: new channel perm[s] is old channel s, i.e. new channel c is
        # old channel inverse[c]
        inverse = np.argsort(perms, axis=1)
        return np.take_along_axis(x, inverse.reshape((n, q) + (1,) * (x.ndim - 2)), axis=1)
    states = x.astype(np.int64)
    rows = np.arange(n).reshape((n,) + (1,) * (x.ndim - 1))
    return perms[rows, states].astype(x.dtype)


def augment_batch(x: np.ndarray, rng: np.random.Generator, symmetries: Symmetries = Symmetries()) -> np.ndarray:
    """Apply every enabled symmetry, each drawn independently per sample."""
    if symmetries.translations:
        x = random_translation(x, rng)
    if symmetries.point_group and len(set(x.shape[2:])) == 1:
        x = random_point_group(x, rng)
    if symmetries.spin_flip:
        x = random_spin_flip(x, rng)
    if symmetries.potts_states > 1:
        x = random_state_permutation(x, rng, symmetries.potts_states, symmetries.onehot)
    return x
