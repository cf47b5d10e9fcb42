"""Per-size samples for the Tc analysis: joined with the data file in file order, with each
sample's chain, and bootstrap replicas that resample whole chains."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from fieldnet.analysis.observables import SizeSamples, observables_from_data

from fieldnet.errors import DataFileError


def test_bootstrap_replicas_resample_whole_chains_within_each_temperature():
    T = np.repeat([2.0, 2.5], 12)
    chain = np.concatenate([np.arange(12) % 3, 10 + np.arange(12) % 4])
    s = SizeSamples(8, 64, T, np.arange(24.0), np.arange(24.0)[None, :] / 24, chain=chain)
    for seed in range(5):
        r = s.resampled(np.random.default_rng(seed))
        assert np.array_equal(np.sort(np.unique(r.temperature)), [2.0, 2.5])
        for c in np.unique(r.chain):  # a chain drawn k times brings all its samples k times
            whole = np.sort(s.energy[s.chain == c])
            got = np.sort(r.energy[r.chain == c])
            k = got.size // whole.size
            assert k >= 1 and np.array_equal(got, np.sort(np.tile(whole, k)))
        assert r.temperature[r.temperature == 2.0].size == 12 and r.temperature[r.temperature == 2.5].size == 12


def test_without_chains_every_configuration_is_resampled_on_its_own():
    T = np.repeat([2.0, 2.5], 10)
    s = SizeSamples(8, 64, T, np.arange(20.0), np.zeros((1, 20)))
    r = s.resampled(np.random.default_rng(1))
    assert r.chain is None and r.temperature.size == 20 and len(set(r.energy.tolist())) < 20


def test_observables_come_from_the_data_file_in_file_order_with_chains(ising_data):
    with h5py.File(ising_data) as f:
        T = f["L8"]["temperature"][()]
        replicas = f["L8"]["replicas"][()]
    e, m, n_sites, chain = observables_from_data(ising_data, 8, T)
    assert n_sites == 64 and e.shape == m.shape == T.shape == chain.shape
    first = T == T[0]
    assert np.unique(chain[first]).size == min(int(replicas[0]), int(first.sum()))
    assert not set(chain[first]) & set(chain[~first])  # chain ids never repeat across points
    with pytest.raises(DataFileError, match="not the configurations"):
        observables_from_data(ising_data, 8, T[::-1])
