"""Statistical helpers shared by the tests of the lattice models (tests/simulations/test_models_*)."""

from __future__ import annotations

import numpy as np
from fieldnet.simulations.exact import boltzmann_probabilities, energy_levels
from scipy.stats import chisquare


def every_other_round(values, n_replicas: int) -> np.ndarray:
    """Samples of rounds 0, 2, 4, ...: 4 tau_int apart within a replica, so that the samples are
    independent enough for the chi-square law (consecutive rounds are 2 tau_int apart)."""
    rounds = len(values) // n_replicas
    return np.asarray(values)[: rounds * n_replicas].reshape(rounds, n_replicas)[::2].reshape(-1)


def energy_histogram_pvalue(total_energies, levels: np.ndarray, degeneracy: np.ndarray, T: float) -> float:
    """Chi-square p-value of sampled total energies against the exact Boltzmann law of the levels
    (sparse levels, expected count < 5, merged into their neighbours)."""
    expected_p = boltzmann_probabilities(levels, degeneracy, T)
    energies = np.round(np.asarray(total_energies, dtype=np.float64), 6)
    index = np.clip(np.searchsorted(levels - 1e-6, energies) - 1, 0, len(levels) - 1)
    assert np.allclose(levels[index], energies, atol=1e-4), "a sampled energy is not an exact level"
    observed = np.bincount(index, minlength=len(levels)).astype(np.float64)
    expected = expected_p * len(energies)
    obs_bins, exp_bins, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o += o
        acc_e += e
        if acc_e >= 5:
            obs_bins.append(acc_o)
            exp_bins.append(acc_e)
            acc_o = acc_e = 0.0
    obs_bins[-1] += acc_o
    exp_bins[-1] += acc_e
    return float(chisquare(obs_bins, exp_bins).pvalue)


def enumeration_pvalue(result, energy_fn, shape, values, T: float, n_replicas: int) -> float:
    """p-value of a PointResult's per-site energies against exact enumeration of ``shape``."""
    levels, degeneracy = energy_levels(energy_fn, shape, values)
    n_sites = int(np.prod(shape))
    energy = every_other_round(result.observables["energy"], n_replicas) * n_sites
    return energy_histogram_pvalue(energy, levels, degeneracy, T)


def binned_mean(x, n_replicas: int) -> tuple[float, float]:
    """Mean and standard error from independent blocks: each replica's first and second half."""
    rounds = len(x) // n_replicas
    per_round = np.asarray(x, dtype=np.float64)[: rounds * n_replicas].reshape(rounds, n_replicas)
    half = rounds // 2
    blocks = np.concatenate([per_round[:half].mean(axis=0), per_round[half : 2 * half].mean(axis=0)])
    return float(blocks.mean()), float(blocks.std(ddof=1) / np.sqrt(len(blocks)))
