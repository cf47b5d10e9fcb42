"""Embedding: penultimate features, PCA by SVD (against a known structure), the CLI figure and numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.embedding import embedding, pca, penultimate_features

from fieldnet.engine.layers import Conv2d, Dense, Dropout, GlobalAvgPool, ReLU
from fieldnet.engine.model import Sequential
from fieldnet.errors import FieldnetError


def net() -> Sequential:
    return Sequential([Conv2d(4, 3, activation="relu"), GlobalAvgPool(), Dense(6), ReLU(), Dropout(0.2), Dense(2)],
                      input_shape=(1, 8, 8), seed=1)


def test_pca_recovers_a_dominant_direction():
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0]) / 5.0
    t = rng.normal(size=500)
    features = 10 + np.outer(t * 5.0, direction) + 0.1 * rng.normal(size=(500, 3))
    scores, ratio, comps = pca(features)
    assert scores.shape == (500, 2) and ratio[0] > 0.99 and ratio.sum() <= 1 + 1e-12
    assert abs(abs(comps[0] @ direction) - 1) < 1e-3 and comps[0][np.argmax(np.abs(comps[0]))] > 0
    assert abs(np.corrcoef(scores[:, 0], t)[0, 1]) > 0.999
    with pytest.raises(FieldnetError):
        pca(features[:1])


def test_features_feed_the_last_dense_layer():
    model = net()
    x = np.where(np.random.default_rng(1).random((5, 1, 8, 8)) < 0.5, -1, 1).astype(np.float32)
    f, label = penultimate_features(model, x)
    assert label == "4:Dropout" and f.shape == (5, 6) and f.min() >= 0  # after ReLU, dropout off
    hidden = model.activations(x)[3][1]
    assert np.allclose(f, hidden)
    with pytest.raises(FieldnetError, match="no Dense layer"):
        penultimate_features(Sequential([Conv2d(2, 3), GlobalAvgPool()], input_shape=(1, 8, 8)), x)


def test_embedding_dataset():
    x = np.where(np.random.default_rng(2).random((6, 1, 8, 8)) < 0.5, -1, 1).astype(np.float32)
    ds = xr.Dataset({"config": (("sample", "channel", "y", "x"), x), "temperature": ("sample", np.repeat([1.5, 3.5], 3))})
    emb = embedding(net(), ds)
    assert emb["pca"].dims == ("sample", "component") and emb.attrs["n_features"] == 6
    assert ("tsne" in emb) == (emb.attrs["tsne"] == "done")


def test_cli_embedding(run_cli, tmp_path):
    from fieldnet.simulations.campaign import run_campaign

    net().save(tmp_path / "m.h5")
    run_campaign("ising2d", {}, [8], [1.5, 2.3, 3.5], 6, seed=0, output=tmp_path / "data.h5", progress=False)
    res = run_cli("analyze", "embedding", "m.h5", "data.h5", "-o", "out", check=True)
    assert "PC1 explains" in res.stdout and "t-SNE:" in res.stdout
    out = tmp_path / "out"
    result = json.loads((out / "embedding.json").read_text())
    assert result["n_samples"] == 18 and result["temperature"] == [1.5, 2.3, 3.5] and len(result["pc1_mean"]) == 3
    assert xr.open_dataset(out / "embedding.nc", engine="h5netcdf")["pca"].shape == (18, 2)
    assert (out / "embedding.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    Sequential([Conv2d(2, 3), GlobalAvgPool()], input_shape=(1, 8, 8)).save(tmp_path / "nodense.h5")
    bad = run_cli("analyze", "embedding", "nodense.h5", "data.h5", "-o", "bad")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no Dense layer" in bad.stderr
