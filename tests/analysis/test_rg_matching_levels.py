"""RG matching at one and at two block steps, on curves whose crossings are known: one step
matches <p(blocked L)> with <p(L/b)>, two steps <p(L blocked twice)> with <p(L/b blocked once)>,
and nu comes from the slope ratio at the crossing."""

from __future__ import annotations

import numpy as np
import pytest
from fieldnet.analysis.curves import Curves
from fieldnet.analysis.tc import rg_matching, rg_matching_twice

T = np.linspace(2.0, 2.6, 601)


def logistic(centre: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """A falling curve and its derivative in T."""
    p = 1.0 / (1.0 + np.exp((T - centre) / width))
    return p, -p * (1.0 - p) / width


def curves(L: int, plain, once, twice=None) -> Curves:
    c = Curves(L, T, plain[0], np.exp(-((T - 2.3) / 0.1) ** 2), plain[1], once[0], once[1])
    if twice is not None:
        c.twice_blocked_mean, c.twice_blocked_slope = twice
    return c


def test_each_level_finds_its_own_crossing_and_slope_ratio():
    # L = 16: plain, once and twice blocked; L = 8: plain and once.  One step crosses where
    # blocked(16) = plain(8) (2.25 by construction), two steps where twice(16) = once(8) (2.30)
    small_plain, small_once = logistic(2.25, 0.06), logistic(2.30, 0.06)
    big_once = logistic(2.25, 0.03)  # steeper by 2 at the same midpoint: nu = ln 2 / ln 2 = 1
    big_twice = logistic(2.30, 0.03)
    c = {16: curves(16, logistic(2.27, 0.02), big_once, big_twice), 8: curves(8, small_plain, small_once)}
    one, two = rg_matching(c, 2), rg_matching_twice(c, 2)
    assert one.level == 1 and two.level == 2
    assert one.T_L[0] == pytest.approx(2.25, abs=2e-3) and two.T_L[0] == pytest.approx(2.30, abs=2e-3)
    assert two.nu_L[0] == pytest.approx(1.0, rel=0.02)
