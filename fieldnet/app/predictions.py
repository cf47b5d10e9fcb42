"""An ensemble's predictions of a data file, on the configurations as simulated and, for the
renormalisation-group matching of :mod:`fieldnet.analysis.tc`, on the same configurations
coarse-grained by one block step.

The block rule depends on the model: majority rule for Ising spins on square and cubic
lattices, plurality for Potts states (:mod:`fieldnet.analysis.rg`).  Tie-breaks are drawn from a
seeded stream in file order, so the same data and networks give the same file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fieldnet.errors import FieldnetError

#: models whose configurations have a block rule here
BLOCK_RULES = ("ising2d (square lattice)", "ising3d", "potts")


def block_transform(data: str | os.PathLike, b: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """One block step of size ``b`` for the data's model (None when it has no block rule)."""
    from fieldnet.analysis.rg import majority_rule, plurality_rule
    from fieldnet.training.batches import read_index

    attrs = read_index(data).attrs
    model = str(attrs.get("model", ""))
    group = next(iter(attrs.get("groups", {}).values()), {})
    rng = np.random.default_rng([b, 20250901])
    if model == "ising3d" or (model == "ising2d" and str(group.get("lattice", "square")) == "square"):
        return lambda x: majority_rule(x, b, rng)
    if model == "potts":
        q = int(group.get("q", 3))
        return lambda x: plurality_rule(x, b, q, rng)
    return None


def predict_with_blocks(models: list, data: str | os.PathLike, *, block: int = 0, **options):
    """Predictions of ``data`` by ``models``; with ``block`` >= 2 also ``blocked_probability``
    (and ``member_blocked_probability`` for an ensemble): the predictions for every configuration
    coarse-grained by ``block`` x ``block`` blocks (attribute ``block_size``).  ``options`` go to
    :func:`fieldnet.training.predict.predict_ensemble` (sizes, batch_size, progress, force, warn).

    Raises:
        FieldnetError: the model has no block rule, or the networks do not accept L/block.
    """
    from fieldnet.training.predict import predict_ensemble

    pred = predict_ensemble(models, data, **options)
    if block:
        transform = block_transform(data, block)
        if transform is None:
            raise FieldnetError(f"{data}: no block rule for this model (there is one for {', '.join(BLOCK_RULES)}); "
                                "predict without --block")
        blocked = predict_ensemble(models, data, transform=transform, **options)
        pred["blocked_probability"] = blocked["probability"].assign_attrs(
            long_name=f"class probability of the configuration coarse-grained by blocks of {block} sites a side")
        if "member_probability" in blocked:
            pred["member_blocked_probability"] = blocked["member_probability"]
        pred.attrs["block_size"] = int(block)
        _add_twice_blocked(pred, models, data, block, options)
    return pred


def _add_twice_blocked(pred, models: list, data, block: int, options: dict) -> None:
    """``twice_blocked_probability`` (and ``member_twice_blocked_probability``): the predictions for
    the configurations coarse-grained by two block steps, for the sizes L whose L/block is in the
    predictions too (the larger size of a matching pair); NaN for the others."""
    from fieldnet.training.predict import predict_ensemble

    L_all = np.asarray(pred["L"].values).astype(int)
    sizes = sorted({int(L) for L in L_all})
    twice_sizes = [L for L in sizes if L % (block * block) == 0 and L // block in sizes]
    if not twice_sizes:
        return
    # L/block^2 = (L/block)/block: the one-step pass already checked that the networks take it
    step = block_transform(data, block)  # its own tie-break stream: the file does not depend on the order of passes
    twice = predict_ensemble(models, data, transform=lambda x: step(step(x)), **{**options, "sizes": twice_sizes})
    # the same configuration is the same (L, data row) in both passes, whatever order the batches took
    rows_all = np.asarray(pred["sample_index"].values).tolist()
    position = {key: i for i, key in enumerate(zip(L_all.tolist(), rows_all, strict=True))}
    keys = zip(np.asarray(twice["L"].values).astype(int).tolist(), np.asarray(twice["sample_index"].values).tolist(),
               strict=True)
    rows = np.array([position[key] for key in keys], dtype=np.int64)
    long_name = f"class probability of the configuration coarse-grained by two steps of blocks of {block} sites a side"
    for source, target, attrs in (("probability", "twice_blocked_probability", {"long_name": long_name}),
                                  ("member_probability", "member_twice_blocked_probability", {})):
        if source in twice:
            full = np.full(pred[source].shape, np.nan, dtype=twice[source].dtype)
            full[..., rows, :] = twice[source].values
            pred[target] = (pred[source].dims, full, attrs)


def write_ensemble_predictions(models: list, data: str | os.PathLike, output: str | os.PathLike, *, block: int = 0,
                               **kwargs) -> Path:
    """:func:`predict_with_blocks` written to ``output`` (netCDF, atomically)."""
    from fieldnet.io.predictions import write_predictions

    return write_predictions(predict_with_blocks(models, data, block=block, **kwargs), output)
