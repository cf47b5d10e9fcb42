"""What `fieldnet analyze tc` reads, made small: a data file of L = 4 and 8 and the predictions of
a size-agnostic network on it, plain and coarse-grained by one block step.

The network is untrained: RG matching works with any function of the configuration, so the
files exercise every path of the analysis in a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tc_inputs(pred: Path, samples: int = 24) -> Path:
    """Write the predictions to ``pred`` and their data file beside it (``<stem>_data.h5``)."""
    from fieldnet.simulations.campaign import run_campaign

    from fieldnet.app.predictions import write_ensemble_predictions
    from fieldnet.training.presets import build_preset

    pred = Path(pred)
    data = pred.with_name(f"{pred.stem}_data.h5")
    run_campaign("ising2d", {}, [4, 8], np.linspace(1.8, 2.8, 6), samples, seed=1, algorithm="metropolis",
                 output=data, progress=False)
    write_ensemble_predictions([build_preset("gap", (1, 4, 4), seed=1)], data, pred, block=2)
    return pred
