"""A small real 2D Ising data set shared by the pipeline tests."""

from __future__ import annotations

import pytest

from simulations.campaign import run_campaign

TEMPERATURES = [1.4, 1.6, 1.8, 2.0, 2.15, 2.3, 2.45, 2.6, 2.9, 3.2, 3.5, 3.8]


@pytest.fixture(scope="session")
def ising_data(tmp_path_factory):
    """L = 8 and 12, 12 temperatures, 64 samples each (about 2 s of Monte Carlo)."""
    out = tmp_path_factory.mktemp("pipeline-data") / "ising.h5"
    run_campaign("ising2d", {}, [8, 12], TEMPERATURES, 64, seed=3, output=out, progress=False)
    return out
