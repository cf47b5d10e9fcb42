"""Learning by confusion: a planted transition gives a W-shaped curve whose central peak sits at T*."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from fieldnet.analysis.confusion import confusion_curve, default_grid, features, peak_estimate

from fieldnet.errors import FieldnetError

T_STAR = 2.1


PLANTED_TEMPERATURES = np.linspace(1.0, 3.0, 11)


def planted_configs(L=8, temps=PLANTED_TEMPERATURES, n=40, t_star=T_STAR, m0=0.7, seed=0):
    """Spins i.i.d. with mean +-m0 (random sign per sample) below t_star and 0 above: the phase is
    visible only through |m|, and configurations within one phase do not depend on T."""
    rng = np.random.default_rng(seed)
    T = np.repeat(temps, n)
    m = np.where(T < t_star, m0, 0.0) * rng.choice([-1, 1], T.size)
    spins = np.where(rng.random((T.size, 1, L, L)) < ((1 + m) / 2)[:, None, None, None], 1, -1).astype(np.int8)
    return xr.Dataset({"config": (("sample", "channel", "y", "x"), spins), "temperature": ("sample", T)},
                      attrs={"L": L})


@pytest.mark.parametrize("kind", ["config", "summary"])
def test_confusion_peaks_at_the_planted_transition(kind):
    ds = planted_configs(seed=1)
    curve = confusion_curve(ds, feature_kind=kind, seed=0)
    assert curve.dims == ("proposed_Tc",)
    acc = curve.values
    # W shape: trivial ends at 1, dips inside each phase, a high central peak
    assert acc[0] == 1 and acc[-1] == 1 and curve.trivial.values[[0, -1]].all()
    i_star = int(np.argmin(np.abs(curve.proposed_Tc.values - T_STAR)))
    assert acc[i_star] > 0.95
    assert acc[1:i_star].min() < 0.85 and acc[i_star + 1 : -1].min() < 0.9
    tc, err = peak_estimate(curve)
    assert abs(tc - T_STAR) <= err and err <= 0.15


def test_confusion_with_a_custom_trainer_and_grid():
    """train_fn is honoured; a threshold on |m| is the ideal classifier for the planted data."""
    ds = planted_configs(seed=2)

    def threshold(x_train, y_train, x_test, seed):
        # a one-feature "network": best threshold on |mean spin|
        mtr, mte = np.abs(x_train.mean(1)), np.abs(x_test.mean(1))
        cuts = np.unique(mtr)
        scores = [max(np.mean((mtr > c) == y_train), np.mean((mtr <= c) == y_train)) for c in cuts]
        c = cuts[int(np.argmax(scores))]
        flip = np.mean((mtr > c) == y_train) < np.mean((mtr <= c) == y_train)
        return ((mte > c) ^ flip).astype(int)

    grid = np.linspace(0.9, 3.1, 23)
    curve = confusion_curve(ds, grid, threshold)
    tc, err = peak_estimate(curve)
    assert abs(tc - T_STAR) <= max(err, 0.1)


def test_peak_estimate_on_an_ideal_w():
    T = np.linspace(0, 1, 21)
    acc = 1 - 0.3 * np.minimum(np.abs(T - 0.25), np.abs(T - 0.75)) * 0 - 0.3 * (1 - np.abs(np.abs(T - 0.6) / 0.3 - 1).clip(0, 1))
    acc[0] = acc[-1] = 1
    curve = xr.DataArray(acc, dims="proposed_Tc", coords={"proposed_Tc": T, "stderr": ("proposed_Tc", np.full(21, 1e-3)),
                                                          "trivial": ("proposed_Tc", np.r_[True, np.zeros(19, bool), True])})
    tc, err = peak_estimate(curve)
    assert tc == pytest.approx(0.6, abs=0.026) and err == pytest.approx(0.025)


def test_peak_estimate_rejects_a_curve_without_peak():
    T = np.linspace(0, 1, 11)
    curve = xr.DataArray(np.linspace(1, 0.5, 11), dims="proposed_Tc", coords={"proposed_Tc": T})
    with pytest.raises(FieldnetError, match="no central peak"):
        peak_estimate(curve)


def test_default_grid_and_features():
    g = default_grid(np.array([1.0, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(g, [0.5, 1.5, 2.5, 3.5])
    cfg = np.ones((2, 1, 4, 4), np.int8)
    assert features(cfg).shape == (2, 16)
    np.testing.assert_allclose(features(cfg, "summary"), [[1, 1, 1]] * 2)
    with pytest.raises(FieldnetError):
        features(cfg, "nope")


def _write_data_file(path, ds, L=8, tc=T_STAR):
    from fieldnet.io.dataset import DatasetWriter, LatticeSpec

    temps = np.unique(ds.temperature.values)
    n = int((ds.temperature.values == temps[0]).sum())
    spec = LatticeSpec(L=L, ndim=2, channel_names=["spin"], dtype="int8", temperatures=temps,
                       samples_per_temperature=n, attrs={"model": "planted", "Tc": tc})
    with DatasetWriter(path, {"model": "planted", "seed": 0, "lattice_sizes": [L]}) as w:
        w.add_lattice(spec)
        for i, t in enumerate(temps):
            sel = ds.temperature.values == t
            cfg = ds.config.values[sel]
            obs = {"energy": np.zeros(n, np.float32), "magnetization": cfg.mean(axis=(1, 2, 3)).astype(np.float32)}
            w.write_point(L, i, cfg, obs, int(t < tc))
        w.finalize()


def test_cli_confusion_writes_json_nc_png(run_cli, tmp_path):
    _write_data_file(tmp_path / "planted.h5", planted_configs(seed=3))
    res = run_cli("analyze", "confusion", "planted.h5", "-o", "conf", "--epochs", "40", check=True)
    assert "confusion peak" in res.stdout
    out = json.loads((tmp_path / "conf" / "confusion.json").read_text())
    assert abs(out["Tc"] - T_STAR) <= out["Tc_err"] and out["Tc_reference"] == pytest.approx(T_STAR)
    assert len(out["accuracy"]) == len(out["proposed_Tc"]) == 12
    nc = xr.open_dataset(tmp_path / "conf" / "confusion.nc", engine="h5netcdf")
    assert nc.accuracy.dims == ("proposed_Tc",)
    assert (tmp_path / "conf" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_confusion_bad_input(run_cli, tmp_path):
    res = run_cli("analyze", "confusion", "missing.h5")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "no such file" in res.stderr
    res = run_cli("analyze", "confusion", "x.h5", "--T-grid", "3:1:5")
    assert res.returncode == 2 and "START:STOP:COUNT" in res.stderr
    (tmp_path / "junk.h5").write_text("junk")
    res = run_cli("analyze", "confusion", "junk.h5")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_repeats_average_and_widen_the_error():
    ds = planted_configs(seed=4, n=30)
    curve = confusion_curve(ds, n_repeats=3, feature_kind="summary")
    assert curve.attrs["n_repeats"] == 3 and len(curve.attrs["repeat_peaks"]) == 3
    tc, err = peak_estimate(curve)
    assert abs(tc - T_STAR) <= err
    # every repeat on its own finds the planted transition too
    assert np.all(np.abs(np.asarray(curve.attrs["repeat_peaks"]) - T_STAR) <= 0.15)


def test_cli_confusion_progress_is_a_tqdm_bar(tmp_path, monkeypatch, capsys):
    """On a terminal the progress is tqdm's bar; written to a file (or with -q) there is none."""
    import io
    import sys

    from fieldnet.simulations.campaign import run_campaign

    from fieldnet.app.cli import main

    data = run_campaign("ising2d", {}, [6], [1.5, 2.0, 2.6, 3.2], 12, seed=2, output=tmp_path / "d.h5", progress=False)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["analyze", "confusion", str(data), "-o", str(tmp_path / "a"), "--epochs", "2", "--repeats", "2"]) == 0
    shown = terminal.getvalue()
    assert "confusion:" in shown and "%|" in shown and "training" in shown  # tqdm's bar and unit
    assert "proposals x repeats" not in shown  # the old hand-made counter
    file_like = io.StringIO()
    monkeypatch.setattr(sys, "stderr", file_like)
    assert main(["analyze", "confusion", str(data), "-o", str(tmp_path / "b"), "--epochs", "2", "--repeats", "2"]) == 0
    assert "\r" not in file_like.getvalue() and "confusion:" not in file_like.getvalue()
    capsys.readouterr()
