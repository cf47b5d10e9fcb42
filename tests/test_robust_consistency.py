"""Issue 15, consistency checks: a model knows the lattice model, lattice and channel layout it was
trained on, and predicting other data is refused (or, with --force, done with a warning); an
ensemble shares one architecture and data layout; files of an unknown format_version, with
out-of-range values or unfinished are refused; and the unclear messages the issue lists say
what is wrong."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from cli_checks import assert_one_line_error, snapshot
from robust_files import edit_architecture, write_data, write_model

from fieldnet.engine.saving import load_checkpoint, load_model
from fieldnet.errors import DataFileError
from fieldnet.io.atomic import partial_path

ISING = {"model": "ising2d", "lattice": "square", "channels": ["spin"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("consistency")
    return {
        "ising": write_data(folder / "ising.h5"),
        "potts": write_data(folder / "potts.h5", model="potts", channels=("state",), extra_attrs={"q": 3},
                            values=lambda rng, shape: rng.integers(0, 3, size=shape)),
        "phi4": write_data(folder / "phi4.h5", model="phi4", channels=("phi",), dtype="float32", labels=False),
        "triangular": write_data(folder / "tri.h5", lattice="triangular"),
        "model": write_model(folder / "ising_model.h5", layout=ISING),
        "model_seed1": write_model(folder / "ising_model_seed1.h5", layout=ISING, seed=1),
        "wide": write_model(folder / "wide.h5", layout=ISING, hidden=16),
        "potts_model": write_model(folder / "potts_model.h5", layout={"model": "potts", "lattice": "square",
                                                                      "channels": ["state"]}),
    }


def test_training_records_the_data_layout(files, tmp_path, run_cli):
    out = tmp_path / "m.h5"
    res = run_cli("train", files["ising"], "-o", out, "--epochs", "1", "-q")
    assert res.returncode == 0, res.stderr
    assert load_model(out).attrs["data_layout"] == ISING


@pytest.mark.parametrize("other", ["potts", "phi4", "triangular"])
def test_predicting_other_data_is_refused_without_force(other, files, tmp_path, run_cli):
    out = tmp_path / "p.nc"
    res = run_cli("predict", files["model"], files[other], "-o", out)
    assert_one_line_error(res, "was trained on ising2d", "--force")
    assert not out.exists()
    forced = run_cli("predict", files["model"], files[other], "-o", out, "--force", "-q")
    assert forced.returncode == 0, forced.stderr
    warnings = [line for line in forced.stderr.splitlines() if line]
    assert len(warnings) == 1 and "warning" in warnings[0] and "was trained on ising2d" in warnings[0]
    assert out.exists()


def test_analyses_on_other_data_warn(files, tmp_path, run_cli):
    res = run_cli("analyze", "filters", files["model"], files["potts"], "-o", tmp_path / "f", "--per-T", "2", "-q")
    assert res.returncode == 0, res.stderr
    assert "warning" in res.stderr and "was trained on ising2d" in res.stderr


def test_ensembles_share_architecture_and_data_layout(files, tmp_path, run_cli):
    ok = run_cli("predict", files["model"], files["model_seed1"], files["ising"], "-o", tmp_path / "ok.nc", "-q")
    assert ok.returncode == 0, ok.stderr
    res = run_cli("predict", files["model"], files["wide"], files["ising"], "-o", tmp_path / "p.nc")
    assert_one_line_error(res, "another architecture", "ensemble")
    res = run_cli("predict", files["model"], files["potts_model"], files["ising"], "-o", tmp_path / "p.nc")
    assert_one_line_error(res, "ensemble", "same kind of data")
    assert not (tmp_path / "p.nc").exists()


def _edit_data(source, target, edit):
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        edit(f)
    return target


def _set_spin(f):
    values = f["L8/config"][:4]
    values[1, 0, 2, 3] = 100
    f["L8/config"][:4] = values


def _set_label(f):
    labels = f["L8/label"][()]
    labels[5] = 7
    f["L8/label"][...] = labels


BAD_DATA = {
    "format_version 99": (lambda f: f.attrs.__setitem__("format_version", 99), "format_version 99"),
    "status partial": (lambda f: f.attrs.__setitem__("status", "partial"), "unfinished"),
    "spin value 100": (_set_spin, "the value 100"),
    "label 7": (_set_label, "label 7 is not a phase label"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_files_are_refused(case, files, tmp_path, run_cli):
    edit, fragment = BAD_DATA[case]
    bad = _edit_data(files["ising"], tmp_path / "bad.h5", edit)
    before = snapshot(tmp_path)
    for args in (["train", bad, "-o", tmp_path / "m.h5", "--epochs", "1"],
                 ["predict", files["model"], bad, "-o", tmp_path / "p.nc"]):
        assert_one_line_error(run_cli(*args), fragment)
    assert_one_line_error(run_cli("analyze", "rg", bad, "-o", tmp_path / "rg"), fragment)
    assert snapshot(tmp_path) == before


def test_spin_values_are_checked_by_the_analyses_too(files, tmp_path, run_cli):
    bad = _edit_data(files["ising"], tmp_path / "bad.h5", _set_spin)
    res = run_cli("analyze", "filters", files["model"], bad, "-o", tmp_path / "f", "--per-T", "16")
    assert_one_line_error(res, "the value 100")


def test_model_and_predictions_of_a_newer_format_are_refused(files, tmp_path, run_cli):
    model = tmp_path / "model.h5"
    shutil.copy(files["model"], model)
    with h5py.File(model, "r+") as f:
        f.attrs["format_version"] = 99
    assert_one_line_error(run_cli("predict", model, files["ising"], "-o", tmp_path / "p.nc"), "format_version 99")
    pred = tmp_path / "pred.nc"
    assert run_cli("predict", files["model"], files["ising"], "-o", pred, "-q").returncode == 0
    with h5py.File(pred, "r+") as f:
        f.attrs["format_version"] = 99
    assert_one_line_error(run_cli("analyze", "tc", pred, "-o", tmp_path / "tc"), "format_version 99")


@pytest.mark.parametrize("bad", ["strings", "out of range"])
def test_predictions_with_wrong_probabilities(bad, files, tmp_path, run_cli):
    import xarray as xr

    pred = tmp_path / "pred.nc"
    assert run_cli("predict", files["model"], files["ising"], "-o", pred, "-q").returncode == 0
    ds = xr.open_dataset(pred, engine="h5netcdf").load()
    if bad == "strings":
        ds["probability"] = ds["probability"].astype(str)
    else:
        ds["probability"] = ds["probability"] * 3
    broken = tmp_path / "broken.nc"
    ds.to_netcdf(broken, engine="h5netcdf")
    res = run_cli("analyze", "tc", broken, "-o", tmp_path / "tc")
    assert_one_line_error(res, "not floating-point numbers" if bad == "strings" else "outside [0, 1]")


# -- checkpoints and random states ---------------------------------------------------------------


@pytest.mark.parametrize("epoch", [-5, "abc"])
def test_a_checkpoint_with_an_impossible_epoch(epoch, files, tmp_path, run_cli):
    out = tmp_path / "model.h5"
    checkpoint = partial_path(out)
    shutil.copy(files["model"], checkpoint)
    with h5py.File(checkpoint, "r+") as f:
        f.attrs["extra"] = json.dumps({"epoch": epoch, "best_val": 0.5, "stale": 0})
    with pytest.raises(DataFileError, match="epoch"):
        load_checkpoint(checkpoint)
    res = run_cli("train", files["ising"], "-o", out, "--epochs", "2", "--resume")
    assert_one_line_error(res, "epoch", "start afresh")
    assert checkpoint.exists() and not out.exists()


@pytest.mark.parametrize("state, fragment", [
    ([{"bit_generator": "PCG64"}, {"bit_generator": "PCG64"}], "stores 2 random-number states but the architecture has 1"),
    ([{"bogus": 1}], "random-number state is not valid"),
    ({"not": "a list"}, "not a list"),
])
def test_bad_random_number_states(state, fragment, tmp_path):
    from fieldnet.engine.layers import Dense, Dropout, Flatten
    from fieldnet.engine.model import Sequential
    from fieldnet.engine.saving import save_model

    model = Sequential([Flatten(), Dropout(0.5), Dense(2)], input_shape=(1, 4, 4), seed=0)
    path = save_model(model, tmp_path / "m.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["rng_state"] = json.dumps(state)
    with pytest.raises(DataFileError, match=fragment):
        load_model(path)


def test_architecture_edit_helpers_keep_a_loadable_model(files, tmp_path):
    same = edit_architecture(files["model"], tmp_path / "same.h5", lambda config: None)
    model = load_model(same)
    assert model.predict(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 2)


# -- arguments that used to end in a traceback ---------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (["--seed", "18446744073709551616"], "a seed is between 0 and 2^63 - 1"),
    (["--seed", "-1"], "a seed is between 0 and 2^63 - 1"),
    (["--param", "J=1e308"], "overflow"),
    (["--param", "h=-1e300"], "overflow"),
    (["--samples", "0"], "--samples must be at least 1"),
])
def test_simulate_arguments_that_crashed_are_one_line(args, fragment, tmp_path, run_cli):
    res = run_cli("simulate", "--L", "4", "--T", "2.0", "--samples", "2", "-q", "-o", tmp_path / "d.h5", *args)
    assert_one_line_error(res, fragment)
    assert list(tmp_path.iterdir()) == []  # no .partial, no .partial.new


@pytest.mark.parametrize("verb", ["tc", "confusion", "equivariance", "filters", "occlusion", "embedding", "rg",
                                  "uncertainty"])
def test_every_analysis_keeps_earlier_results(verb, files, tmp_path, run_cli):
    from fieldnet.app.commands.analyze import OUTPUT_FILES

    out = tmp_path / "out"
    out.mkdir()
    earlier = out / OUTPUT_FILES[verb][0]
    earlier.write_text("an earlier result")
    if verb == "tc":
        from tc_inputs import write_tc_inputs

        pred = tmp_path / "pred.nc"
        write_tc_inputs(pred)
    inputs = {"tc": [tmp_path / "pred.nc"], "confusion": [files["ising"]], "rg": [files["ising"]]}.get(
        verb, [files["model"], files["ising"]])
    res = run_cli("analyze", verb, *inputs, "-o", out)
    assert_one_line_error(res, "already exists", "--overwrite")
    assert earlier.read_text() == "an earlier result" and sorted(p.name for p in out.iterdir()) == [earlier.name]
