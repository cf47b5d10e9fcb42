"""Triangular-lattice Ising model (--model ising2d --lattice triangular): exact enumeration on 3x3."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.exact import triangular_ising_energy
from fieldnet.simulations.graph_ising import replicas_for
from fieldnet.simulations.registry import get_model
from fieldnet.simulations.triangular import TriangularIsing, triangular_tables

from fieldnet.errors import FieldnetError
from tests.simulations.model_checks import binned_mean, enumeration_pvalue

CASES = [
    # (J, h, T, algorithm)
    (1.0, 0.0, 3.6, "metropolis"),
    (1.0, 0.3, 5.0, "metropolis"),
    (-1.0, 0.0, 2.0, "metropolis"),  # frustrated antiferromagnet
    (1.0, 0.0, 3.6, "wolff"),
    (1.0, 0.0, 6.0, "wolff"),
    (1.0, 0.3, 5.0, "wolff"),
]


@pytest.mark.parametrize("J, h, T, algorithm", CASES)
def test_energy_distribution_on_3x3_matches_exact_enumeration(J, h, T, algorithm):
    n = 4000
    result = TriangularIsing(J=J, h=h).simulate_point(3, T, n, algorithm=algorithm, seed=17, key=(3, 0))
    assert result.configs.shape == (n, 1, 3, 3) and result.configs.dtype == np.int8
    p = enumeration_pvalue(result, lambda c: triangular_ising_energy(c, J, h), (3, 3), (-1, 1), T, replicas_for(algorithm, n))
    assert p > 1e-3


def test_observables_metropolis_wolff_agree_and_are_those_of_the_configurations():
    L, T = 6, 3.8
    means = {}
    for algorithm in ("metropolis", "wolff"):
        r = TriangularIsing().simulate_point(L, T, 800, algorithm=algorithm, seed=5, key=(L, 2))
        spins = r.configs[:, 0]
        np.testing.assert_allclose(r.observables["energy"], triangular_ising_energy(spins) / L**2)
        np.testing.assert_allclose(r.observables["magnetization"], spins.mean(axis=(1, 2)))
        R = replicas_for(algorithm, 800)
        means[algorithm] = [binned_mean(r.observables["energy"], R), binned_mean(np.abs(r.observables["magnetization"]), R)]
    for (a, da), (b, db) in zip(means["metropolis"], means["wolff"], strict=True):
        assert abs(a - b) < 4 * np.hypot(da, db)


def test_three_sublattices_and_the_size_rule():
    nbr, order, _ = triangular_tables(6)
    assert nbr.shape == (36, 6) and len({tuple(sorted(row)) for row in nbr.tolist()}) == 36
    for c in range(3):  # each third of the order is one sublattice: no two of its sites are neighbours
        part = set(order[12 * c : 12 * (c + 1)].tolist())
        assert not any(int(j) in part for i in part for j in nbr[i])
    model = get_model("ising2d", lattice="triangular")
    assert isinstance(model, TriangularIsing)
    assert model.critical_temperature() == pytest.approx(3.640957, abs=1e-6)
    assert model.label(3.0) == 1 and model.label(4.0) == 0
    with pytest.raises(FieldnetError, match="divisible by 3"):
        model.simulate_point(4, 2.0, 5, algorithm="metropolis", seed=0, key=(4, 0))
    assert model.simulate_point(4, 3.6, 5, algorithm="wolff", seed=0, key=(4, 0)).configs.shape == (5, 1, 4, 4)


def test_cli_triangular(run_cli, tmp_path):
    run_cli("simulate", "--model", "ising2d", "--lattice", "triangular", "--L", "6", "--T", "2.5,4.5", "--samples", "10",
            "-o", "t.h5", "-q", check=True)
    ds = xr.open_dataset(tmp_path / "t.h5", engine="h5netcdf", group="L6")
    assert ds["config"].shape[-3:] == (1, 6, 6) and ds.attrs["lattice"] == "triangular"
    bad = run_cli("simulate", "--model", "ising2d", "--lattice", "triangular", "--L", "4", "--T", "1.0", "--samples", "4", "-q")
    assert bad.returncode == 2 and "divisible by 3" in bad.stderr and "Traceback" not in bad.stderr
    assert not list(tmp_path.glob("ising2d.h5*"))  # refused before any file was written
