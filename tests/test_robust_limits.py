"""Issue 15, size limits before allocation: every size a file declares (layer widths, kernel sizes,
input shapes, dataset shapes) is checked against the arrays the file stores and against the
memory budget before anything is allocated; the refusal is one line naming the size (and the
budget), and the process stays small whatever the file declares."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest
from cli_checks import assert_one_line_error, run_measuring_memory, snapshot
from robust_files import (
    declare_weights,
    edit_architecture,
    set_dense_units,
    write_data,
    write_model,
)

from fieldnet.engine.saving import load_model
from fieldnet.errors import DataFileError
from fieldnet.io.dataset import check_dataset_file
from fieldnet.io.predictions import open_predictions

#: the peak resident memory a refused hostile model may cost (the issue's target)
RSS_LIMIT = 200 * 2**20


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    data = write_data(folder / "data.h5")
    model = write_model(folder / "model.h5")
    return folder, data, model


def hostile_models(folder, model):
    """The issue's hostile model files, each a few tens of KB: (name, path, fragment of the refusal)."""
    cases = []
    for units in (2_000_000, 50_000_000):  # the cases: a Dense width the stored weights do not hold
        path = edit_architecture(model, folder / f"units{units}.h5", set_dense_units(units))
        cases.append((f"units {units}", path, f"the architecture needs (4, {units})"))
    # the weights are declared with the architecture's shapes but stored nowhere (HDF5 fill values)
    path = edit_architecture(model, folder / "unbacked.h5", set_dense_units(2_000_000))
    declare_weights(path, {"2/kernel": (4, 2_000_000), "2/bias": (2_000_000,), "3/kernel": (2_000_000, 2)})
    cases.append(("declared, not stored", path, "stores only"))
    # the same, stored as compressed zeros (a ratio no trained weights reach)
    path = edit_architecture(model, folder / "zeros.h5", set_dense_units(200_000))
    declare_weights(path, {"2/kernel": (4, 200_000), "2/bias": (200_000,), "3/kernel": (200_000, 2)}, zeros=True)
    cases.append(("compressed zeros", path, "stores only"))

    def huge_kernel(config):
        config["layers"][0]["config"]["kernel_size"] = 100_000

    cases.append(("kernel size", edit_architecture(model, folder / "kernel.h5", huge_kernel), "100000"))

    def huge_input(config):
        config["input_shape"] = [1, 10**9, 10**9]

    cases.append(("input shape", edit_architecture(model, folder / "input.h5", huge_input), "budget"))
    return cases


def test_hostile_model_files_are_refused_in_one_line_with_little_memory(files, tmp_path):
    folder, data, model = files
    for name, path, fragment in hostile_models(tmp_path, model):
        before = snapshot(tmp_path)
        res, peak = run_measuring_memory(["predict", path, data, "-o", tmp_path / "p.nc"], cwd=tmp_path)
        assert_one_line_error(res, fragment)
        assert peak < RSS_LIMIT, f"{name}: peak RSS {peak / 2**20:.0f} MiB"
        assert snapshot(tmp_path) == before, name


def test_hostile_model_files_from_python_raise_data_file_error(files, tmp_path):
    _, _, model = files
    for name, path, fragment in hostile_models(tmp_path, model):
        with pytest.raises(DataFileError, match=re.escape(fragment)):
            load_model(path)
        assert name


def test_a_budget_below_the_model_names_the_size_and_the_budget(files, tmp_path, monkeypatch):
    _, data, model = files
    monkeypatch.setenv("FIELDNET_MEMORY_BUDGET", "1K")
    with pytest.raises(DataFileError, match=r"parameters of the architecture would take .* KiB of memory, more than the budget of 1.0 KiB"):
        load_model(model)
    res, _ = run_measuring_memory(["predict", model, data, "-o", tmp_path / "p.nc"], cwd=tmp_path,
                                  env={"FIELDNET_MEMORY_BUDGET": "1K"})
    assert_one_line_error(res, "budget of 1.0 KiB", "FIELDNET_MEMORY_BUDGET")


def test_a_budget_that_is_not_a_size_is_one_line(files, tmp_path, run_cli):
    _, data, model = files
    res = run_cli("predict", model, data, "-o", tmp_path / "p.nc", env={"FIELDNET_MEMORY_BUDGET": "lots"})
    assert_one_line_error(res, "FIELDNET_MEMORY_BUDGET", "4G")


def test_batch_beyond_the_budget_is_refused_before_it_is_read(files, tmp_path, run_cli):
    _, data, model = files
    res = run_cli("predict", model, data, "-o", tmp_path / "p.nc", "--batch-size", str(10**12))
    assert_one_line_error(res, "a batch of", "--batch-size")
    assert not (tmp_path / "p.nc").exists()


# -- data and prediction files -----------------------------------------------------------------


def test_data_file_declaring_more_samples_than_it_stores(files, tmp_path, run_cli):
    _, data, model = files
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data.read_bytes())
    with h5py.File(bad, "r+") as f:  # the sample dimension is unlimited: grow every variable, write nothing
        for name in ("config", "temperature", "label", "energy", "magnetization"):
            f["L8"][name].resize(10**9, axis=0)
    with pytest.raises(DataFileError, match="stores only"):
        check_dataset_file(bad)
    for args in (["predict", model, bad, "-o", tmp_path / "p.nc"], ["train", bad, "-o", tmp_path / "m.h5", "--epochs", "1"],
                 ["analyze", "rg", bad, "-o", tmp_path / "rg"], ["info", bad]):
        assert_one_line_error(run_cli(*args), "stores only")
    assert not (tmp_path / "p.nc").exists() and not (tmp_path / "m.h5").exists() and not (tmp_path / "rg").exists()


def test_data_file_whose_chunks_exceed_the_budget(files, tmp_path, monkeypatch):
    _, data, _ = files
    monkeypatch.setenv("FIELDNET_MEMORY_BUDGET", "512")
    with pytest.raises(DataFileError, match="more than the budget of 512 B"):
        check_dataset_file(data)


def test_predictions_declaring_more_than_they_store(tmp_path, run_cli):
    bad = tmp_path / "pred.nc"
    with h5py.File(bad, "w") as f:
        f.attrs["fieldnet_format"] = "predictions"
        f.create_dataset("probability", shape=(10**9, 2), dtype="f4", chunks=(4096, 2))
        f.create_dataset("temperature", shape=(10**9,), dtype="f8", chunks=(4096,))
        f.create_dataset("L", shape=(10**9,), dtype="i4", chunks=(4096,))
    with pytest.raises(DataFileError, match="stores only"):
        open_predictions(bad)
    res = run_cli("analyze", "tc", bad, "-o", tmp_path / "tc")
    assert_one_line_error(res, "stores only")


# -- sizes from the command line ---------------------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (["--L", "1000000"], "of memory, more than the budget"),
    (["--L", "100000", "--samples", "1000"], "of memory, more than the budget"),
    (["--model", "ising3d", "--L", "50000"], "of memory, more than the budget"),
])
def test_simulate_sizes_beyond_the_budget(args, fragment, tmp_path, run_cli):
    res = run_cli("simulate", *args, "--T", "2.0", "-q", "-o", tmp_path / "big.h5")
    assert_one_line_error(res, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_budget_parsing():
    from fieldnet.errors import FieldnetError
    from fieldnet.io.limits import format_bytes, parse_bytes

    assert parse_bytes("2G") == 2 * 2**30 and parse_bytes("512M") == 512 * 2**20 and parse_bytes("1000") == 1000
    assert parse_bytes("1.5KiB") == 1536 and format_bytes(3 * 2**30) == "3.0 GiB" and format_bytes(12) == "12 B"
    with pytest.raises(FieldnetError):
        parse_bytes("-1G")
    assert np.isfinite(float(parse_bytes("0")))
