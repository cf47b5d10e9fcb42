"""The tiny pipeline study that the end-to-end pipeline tests run: two sizes, two placements of
the training windows, two networks each, a few epochs (seconds, not minutes)."""

from __future__ import annotations

TINY = """
[simulate]
L = [4, 8]
T = "1.4:3.6:7"
scan_samples = 24
zoom_points = 8
samples = 40
algorithm = "metropolis"
seed = 2

[train]
ensemble = 2
shifts = [0.0, 0.1]
epochs = 2

[analysis]
bootstrap = 6
"""
