"""Streaming mini-batches and symmetry augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from fieldnet.errors import FieldnetError
from fieldnet.training.augment import (
    Symmetries,
    apply_point_group,
    augment_batch,
    point_group_elements,
    random_state_permutation,
    random_translation,
    symmetries_for,
    symmetries_from_attrs,
)
from fieldnet.training.batches import read_index, stream_batches, supervised_split


def test_pipe_stream_covers_every_sample_once_and_shuffles_by_chunk(ising_data):
    index = read_index(ising_data, [8])
    lat = index.lattices[0]
    seen_T = []
    for x, y, T, L in stream_batches(index, 50, shuffle=True, seed=1, buffer_chunks=2):
        assert L == 8 and x.dtype == np.float32 and x.shape[1:] == (1, 8, 8)
        np.testing.assert_array_equal(y, (T < 2.269185).astype(int))
        seen_T.append(T)
    T_all = np.concatenate(seen_T)
    assert len(T_all) == len(lat.temperature)
    np.testing.assert_array_equal(np.sort(T_all), np.sort(lat.temperature))
    # shuffled: not file order; chunk-aware: the first batch draws from at most buffer_chunks chunks (temperatures)
    assert not np.array_equal(T_all, lat.temperature)
    assert len(np.unique(seen_T[0])) <= 2
    # seeded
    again = np.concatenate([T for _, _, T, _ in stream_batches(index, 50, shuffle=True, seed=1, buffer_chunks=2)])
    np.testing.assert_array_equal(again, T_all)
    ordered = np.concatenate([T for _, _, T, _ in stream_batches(index, 50, shuffle=False)])
    np.testing.assert_array_equal(ordered, lat.temperature)


def test_pipe_split_is_stratified_and_windows_are_excluded(ising_data):
    index = read_index(ising_data)
    train, val = supervised_split(index, exclude=[(2.1, 2.5)], val_fraction=0.25, seed=0)
    for tr, va in zip(train.lattices, val.lattices, strict=True):
        assert not set(tr.selected) & set(va.selected)
        for T in np.unique(tr.temperature):
            n_val = np.sum(va.temperature[va.selected] == T)
            if 2.1 <= T <= 2.5:
                assert n_val == 0 and not np.any(tr.temperature[tr.selected] == T)
            else:
                assert n_val == 16
    with pytest.raises(FieldnetError, match="no ordered"):
        supervised_split(index, exclude=[(1.0, 2.2)])


def ising_energy(x: np.ndarray) -> np.ndarray:
    s = x[:, 0]
    return -(s * np.roll(s, 1, axis=1) + s * np.roll(s, 1, axis=2)).sum(axis=(1, 2))


def test_pipe_augmentations_are_exact_symmetries(ising_data):
    index = read_index(ising_data, [12])
    x, _, _, _ = next(stream_batches(index, 64, shuffle=True, seed=0))
    rng = np.random.default_rng(0)
    y = augment_batch(x, rng, Symmetries())
    # every symmetry preserves the nearest-neighbour energy of each configuration exactly
    np.testing.assert_array_equal(ising_energy(y), ising_energy(x))
    np.testing.assert_array_equal(np.abs(y.sum(axis=(1, 2, 3))), np.abs(x.sum(axis=(1, 2, 3))))
    assert not np.array_equal(y, x)
    # translations are per-sample rolls
    t = random_translation(x[:4], np.random.default_rng(5))
    for i in range(4):
        assert any(np.array_equal(np.roll(x[i], (a, b), axis=(1, 2)), t[i]) for a in range(12) for b in range(12))
    # the point group has 8 distinct elements on a generic square and 48 on a cube
    square = np.arange(16.0).reshape(1, 1, 4, 4)
    assert len({apply_point_group(square, e).tobytes() for e in point_group_elements(2)}) == 8
    cube = np.arange(27.0).reshape(1, 1, 3, 3, 3)
    assert len({apply_point_group(cube, e).tobytes() for e in point_group_elements(3)}) == 48


def potts_equal_bonds(states: np.ndarray) -> np.ndarray:
    """Number of equal nearest-neighbour pairs per sample of (N, y, x) Potts states (-E/J)."""
    return ((states == np.roll(states, 1, axis=1)).sum(axis=(1, 2)) + (states == np.roll(states, 1, axis=2)).sum(axis=(1, 2)))


def test_pipe_potts_state_permutation_is_an_exact_symmetry():
    rng = np.random.default_rng(3)
    q = 4
    states = rng.integers(0, q, (32, 6, 6))
    one_channel = states[:, None].astype(np.float32)
    onehot = (states[:, None] == np.arange(q)[None, :, None, None]).astype(np.float32)  # (N, q, 6, 6)
    for data, is_onehot in ((one_channel, False), (onehot, True)):
        sym = symmetries_for("potts", "square", q=q, onehot=is_onehot)
        assert not sym.spin_flip and sym.potts_states == q
        y = augment_batch(data, np.random.default_rng(1), sym)
        back = y.argmax(axis=1) if is_onehot else y[:, 0].astype(int)
        if is_onehot:
            assert set(np.unique(y)) == {0.0, 1.0} and np.all(y.sum(axis=1) == 1)
        np.testing.assert_array_equal(potts_equal_bonds(back), potts_equal_bonds(states))
        assert not np.array_equal(back, states)
    # the same seed relabels both layouts identically (one permutation per sample)
    a = random_state_permutation(one_channel, np.random.default_rng(2), q, onehot=False)[:, 0]
    b = random_state_permutation(onehot, np.random.default_rng(2), q, onehot=True).argmax(axis=1)
    np.testing.assert_array_equal(a, b)


def test_pipe_field_breaks_the_spin_flip_symmetry():
    assert symmetries_for("ising2d", "square").spin_flip
    assert not symmetries_for("ising2d", "square", field=0.5).spin_flip
    assert not symmetries_for("ising2d", "triangular").point_group
    assert symmetries_for("ising3d", "simple cubic").point_group  # ising3d's lattice attribute
    assert not symmetries_from_attrs({"model": "ising2d", "lattice": "square", "h": np.array([0.1])}).spin_flip
