"""`fieldnet simulate` for real, in subprocesses: files, determinism, resume, bad arguments."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import xarray as xr
from fieldnet.simulations.campaign import INTERRUPT_ENV

SMALL = ["--L", "4", "6", "--T", "1.8,2.6,3.4", "--samples", "20", "--seed", "5", "-q"]
VOLATILE_ATTRS = {"created", "command", "history"}  # a timestamp and the output name differ between runs


def _contents(path):
    """Every array and attribute of an HDF5 file, except the volatile root attributes."""
    out = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            if key not in VOLATILE_ATTRS:
                out[f"@{key}"] = np.asarray(value).tolist()

        def visit(name, obj):
            for key, value in obj.attrs.items():
                if key not in ("DIMENSION_LIST", "REFERENCE_LIST"):
                    out[f"{name}@{key}"] = np.asarray(value).tolist() if not isinstance(value, bytes) else value
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]

        f.visititems(visit)
    return out


def _assert_same_file(a, b):
    ca, cb = _contents(a), _contents(b)
    assert sorted(ca) == sorted(cb)
    for key in ca:
        np.testing.assert_equal(ca[key], cb[key], err_msg=key)  # NaN equals NaN here


def test_simulate_writes_a_file_plain_xarray_reads(run_cli, tmp_path):
    res = run_cli("simulate", *SMALL, "-o", "d.h5")
    assert res.returncode == 0, res.stderr
    path = tmp_path / "d.h5"
    assert path.exists() and not (tmp_path / "d.h5.partial").exists()
    code = (
        "import sys, xarray as xr, numpy as np\n"
        f"ds = xr.open_dataset({str(path)!r}, engine='h5netcdf', group='L6')\n"
        "assert ds['config'].dims == ('sample', 'channel', 'y', 'x') and ds['config'].dtype == np.int8\n"
        "assert ds.sizes['sample'] == 60 and sorted(set(ds['label'].values.tolist())) == [0, 1]\n"
        "assert set(np.unique(ds['config'].values)) <= {-1, 1}\n"
        "assert ds['tau_int_energy'].dims == ('temperature_point',) and np.all(ds['thinning'] >= 1)\n"
        "tree = xr.open_datatree(" + repr(str(path)) + ", engine='h5netcdf')\n"
        "assert {'L4', 'L6'} <= set(tree.children)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('fieldnet', 'simulations')]\n"
        "print(ds.attrs['model'], ds.attrs['Tc'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "ising2d"
    with h5py.File(path) as f:
        assert f.attrs["status"] == "complete" and "simulate" in f.attrs["command"]
        assert f["L4/config"].compression == "gzip"
        np.testing.assert_array_equal(f["L4/temperature_grid"][:], [1.8, 2.6, 3.4])
        np.testing.assert_array_equal(f["L4/label"][::20], [1, 0, 0])


def test_same_seed_same_file_on_one_and_two_threads(run_cli, tmp_path):
    args = ["simulate", "--L", "8", "--T", "2.0,3.0", "--samples", "70", "--algorithm", "metropolis", "--seed", "3", "-q"]
    one = run_cli(*args, "-o", "one.h5", env={"NUMBA_NUM_THREADS": "1"})
    two = run_cli(*args, "-o", "two.h5", "--threads", "2", env={"NUMBA_NUM_THREADS": "2"})
    wolff = run_cli(*[a if a != "metropolis" else "wolff" for a in args], "-o", "w1.h5", env={"NUMBA_NUM_THREADS": "1"})
    wolff2 = run_cli(*[a if a != "metropolis" else "wolff" for a in args], "-o", "w2.h5", env={"NUMBA_NUM_THREADS": "2"})
    for res in (one, two, wolff, wolff2):
        assert res.returncode == 0, res.stderr
    _assert_same_file(tmp_path / "one.h5", tmp_path / "two.h5")
    _assert_same_file(tmp_path / "w1.h5", tmp_path / "w2.h5")


def test_interrupted_run_resumes_to_the_identical_file(run_cli, tmp_path):
    whole = run_cli("simulate", *SMALL, "-o", "whole.h5")
    assert whole.returncode == 0, whole.stderr
    cut = run_cli("simulate", *SMALL, "-o", "cut.h5", env={INTERRUPT_ENV: "4"})
    assert cut.returncode == 130
    assert "--resume" in cut.stderr and "Traceback" not in cut.stderr
    assert (tmp_path / "cut.h5.partial").exists() and not (tmp_path / "cut.h5").exists()
    with h5py.File(tmp_path / "cut.h5.partial") as f:
        assert f["L4/completed"][:].tolist() == [1, 1, 1] and f["L6/completed"][:].tolist() == [1, 0, 0]
    again = run_cli("simulate", *SMALL, "-o", "cut.h5", "--resume")
    assert again.returncode == 0, again.stderr
    _assert_same_file(tmp_path / "whole.h5", tmp_path / "cut.h5")
    # resuming with other arguments is refused without touching the file
    cut2 = run_cli("simulate", *SMALL, "-o", "cut2.h5", env={INTERRUPT_ENV: "1"})
    assert cut2.returncode == 130
    other = run_cli("simulate", *SMALL[:-3], "--seed", "6", "-q", "-o", "cut2.h5", "--resume")
    assert other.returncode == 2 and "seed" in other.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--T", "0"], "positive"),
        (["--T", "-1"], "positive"),
        (["--T", "0.5,0"], "positive"),
        (["--T", "1.0:2.0"], "start:stop:num"),
        (["--T", "1.0:abc:3"], "not a number"),
        (["--T", "1:2:x"], "whole number"),
        (["--L", "1"], "at least 2"),
        (["--L", "eight"], "whole number"),
        (["--samples", "0"], "samples"),
        (["--model", "nosuch"], "unknown model"),
        (["--param", "K=1"], "no parameter 'K'"),
        (["--param", "J"], "NAME=VALUE"),
        (["--param", "J=abc"], "finite float"),
        (["--algorithm", "wolff", "--param", "J=0", "--param", "h=0.5"], "J != 0"),
        (["--param", "J=0"], "J = 0 and h = 0"),
        (["--algorithm", "heatbath"], "no algorithm"),
        (["-o", "no/such/folder/d.h5"], "does not exist"),
        (["--resume", "--overwrite"], "not both"),
        (["--T", "1e300"], "T <= 1.311e+05"),  # Metropolis would write its ordered start, labelled disordered
        (["--T", "1e300", "--algorithm", "metropolis"], "--algorithm wolff samples any T"),
        (["--model", "potts", "--T", "0.001"], "heat-bath weights"),
        (["--model", "phi4", "--algorithm", "hmc", "--T", "0.001"], "leapfrog step"),
    ],
)
def test_bad_arguments_are_one_line_and_status_2(run_cli, args, message):
    res = run_cli("simulate", "--L", "4", "--T", "2.0", "--samples", "4", "-q", *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_each_point_records_what_its_samples_are_worth(run_cli, tmp_path):
    """Lag-1 autocorrelations of the stored series and the effective sample size, per temperature,
    with their CF units and meaning, and the tau_int convention and the known exponent."""
    res = run_cli("simulate", "--model", "xy", "--L", "6", "--T", "0.3,0.9,1.8", "--samples", "64", "--seed", "2", "-q",
                  "-o", "x.h5")
    assert res.returncode == 0, res.stderr
    ds = xr.open_dataset(tmp_path / "x.h5", engine="h5netcdf", group="L6")
    for name in ("lag1_autocorr_energy", "lag1_autocorr_abs_magnetization", "effective_samples", "tau_int_energy"):
        assert ds[name].dims == ("temperature_point",) and ds[name].attrs["units"] == "1", name
        assert ds[name].attrs["long_name"]
    assert np.all(np.abs(ds["lag1_autocorr_energy"].values) < 1)
    assert np.all((ds["effective_samples"] > 0) & (ds["effective_samples"] <= 64))
    assert np.all(ds["replicas"] >= 1) and "k R + r" in ds["replicas"].attrs["comment"]
    with h5py.File(tmp_path / "x.h5") as f:  # a file-wide convention: a root attribute
        convention = f.attrs["tau_int_convention"]
    assert "1/2 + sum" in convention and "in sweeps" in convention
    assert "(1 - r) / (1 + r)" in ds["effective_samples"].attrs["comment"]
    assert np.isnan(ds.attrs["nu_reference"]) and "Kosterlitz-Thouless" in ds.attrs["nu_source"]
    assert "rotation" in ds.attrs["global_moves"]


def test_existing_output_is_protected_and_overwrite_replaces_it(run_cli, tmp_path):
    target = tmp_path / "keep.h5"
    target.write_bytes(b"precious")
    res = run_cli("simulate", "--L", "4", "--T", "2.0", "--samples", "4", "-q", "-o", "keep.h5")
    assert res.returncode == 2 and "--overwrite" in res.stderr
    assert target.read_bytes() == b"precious"
    res = run_cli("simulate", "--L", "4", "--T", "2.0", "--samples", "4", "-q", "-o", "keep.h5", "--overwrite")
    assert res.returncode == 0, res.stderr
    with h5py.File(target) as f:
        assert f.attrs["status"] == "complete"


def test_defaults_and_field_and_params(run_cli, tmp_path):
    res = run_cli("simulate", "--L", "4", "--T", "1.0:2.0:3", "--samples", "5", "--param", "J=1", "--param", "h=0.2", "-q")
    assert res.returncode == 0, res.stderr
    with h5py.File(tmp_path / "ising2d.h5") as f:  # default output name
        assert f["L4"].attrs["h"] == 0.2 and np.all(f["L4/label"][:] == -1)
        assert list(f["L4"].attrs["algorithm_per_temperature"]) == ["metropolis"] * 3


def test_default_temperatures_surround_each_models_transition(run_cli, tmp_path):
    """Without --T the grid is 0.66..1.41 of the model's transition temperature: both phases for any model."""
    from fieldnet.simulations.registry import get_model

    assert get_model("ising2d").default_temperatures() == "1.50:3.20:16"
    assert get_model("xy").default_temperatures() == "0.59:1.26:16"  # around T_KT = 0.893, though unlabelled
    assert get_model("ising2d", h=0.1).default_temperatures() == "1.5:3.2:16"  # no transition in a field
    res = run_cli("simulate", "--model", "potts", "--param", "q=3", "--L", "4", "--samples", "2", "-q", "-o", "p.h5")
    assert res.returncode == 0, res.stderr
    with h5py.File(tmp_path / "p.h5") as f:
        T, label, tc = f["L4/temperature"][:], f["L4/label"][:], float(np.ravel(f["L4"].attrs["Tc"])[0])
    assert T.size == 16 * 2 and T.min() == pytest.approx(0.66 * tc, abs=0.01) and T.max() == pytest.approx(1.41 * tc, abs=0.01)
    assert set(label.tolist()) == {0, 1}
