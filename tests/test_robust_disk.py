"""Issue 15, disk-full safety: every writer turns ENOSPC / EFBIG into one line and exit status 2,
removes its temporary files, leaves existing outputs intact, and checks the room it needs before
writing an output of known size.  Under a file size limit (``ulimit -f``, which fails writes with
EFBIG exactly as a full disk fails them with ENOSPC) no command crashes: the HDF5 library, which
segfaults on the next call after a failed write, never sees one."""

from __future__ import annotations

import errno
import os
import shutil

import numpy as np
import pytest
import xarray as xr
from cli_checks import run_limited, snapshot, stray_files
from robust_files import make_model, write_data, write_model
from tc_inputs import write_tc_inputs

from fieldnet.engine.layers import Conv2d, Dense, Dropout, GlobalAvgPool
from fieldnet.engine.model import Sequential
from fieldnet.engine.saving import load_model, save_model
from fieldnet.errors import FieldnetError
from fieldnet.io import atomic
from fieldnet.io.predictions import write_predictions

#: the file size limits of the issue (KiB)
LIMITS_KIB = (8, 20, 40, 100)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("disk-inputs")
    data = write_data(folder / "data.h5", n=150)  # predictions of 600 samples: about 20 KB
    model = write_model(folder / "model.h5")
    dropout = Sequential([Conv2d(4, 3, activation="relu"), GlobalAvgPool(), Dense(8, activation="relu"), Dropout(0.3),
                          Dense(2)], input_shape=(1, 8, 8), seed=0)
    save_model(dropout, folder / "dropout.h5")
    pred = folder / "pred.nc"  # predictions and their data, so analyze tc reaches its writes
    write_tc_inputs(pred)
    return {"data": data, "model": model, "dropout": folder / "dropout.h5", "pred": pred}


def check_outcome(res, workdir, before, what: str) -> None:
    """Success, or one line naming the limit; never a crash; no stray files; nothing damaged."""
    assert res.returncode in (0, 2), f"{what}: exit {res.returncode} (a crash?)\n{res.stderr[-2000:]}"
    assert "Traceback" not in res.stderr and "Segmentation" not in res.stderr, res.stderr
    if res.returncode == 2:
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "file size limit" in res.stderr, res.stderr
        after = snapshot(workdir)
        assert {k: v for k, v in after.items() if k in before} == before, f"{what}: an existing file changed"
    assert stray_files(workdir) == [], f"{what}: {stray_files(workdir)}"


@pytest.mark.parametrize("kib", LIMITS_KIB)
def test_predict_under_a_file_size_limit(inputs, tmp_path, kib):
    existing = tmp_path / "pred.nc"
    existing.write_bytes(b"an earlier result")
    before = snapshot(tmp_path)
    res = run_limited(["predict", inputs["model"], inputs["data"], "-o", existing, "--overwrite", "-q"], tmp_path, kib * 1024)
    check_outcome(res, tmp_path, before, f"predict at {kib} KiB")
    if kib <= 8:
        assert res.returncode == 2 and existing.read_bytes() == b"an earlier result"


@pytest.mark.parametrize("kib", LIMITS_KIB)
def test_train_under_a_file_size_limit(inputs, tmp_path, kib):
    existing = tmp_path / "model.h5"
    existing.write_bytes(b"an earlier model")
    before = snapshot(tmp_path)
    res = run_limited(["train", inputs["data"], "-o", existing, "--overwrite", "--epochs", "2", "-q"], tmp_path, kib * 1024)
    check_outcome(res, tmp_path, before, f"train at {kib} KiB")
    if res.returncode == 2:
        assert "--resume" in res.stderr and existing.read_bytes() == b"an earlier model"
    else:
        load_model(existing)


ANALYSES = {
    "rg": lambda f: ["analyze", "rg", f["data"]],
    "confusion": lambda f: ["analyze", "confusion", f["data"], "--epochs", "2", "--repeats", "1"],
    "tc": lambda f: ["analyze", "tc", f["pred"], "--bootstrap", "10"],
    "equivariance": lambda f: ["analyze", "equivariance", f["model"], f["data"], "--shift-step", "4"],
    "filters": lambda f: ["analyze", "filters", f["model"], f["data"], "--per-T", "4"],
    "occlusion": lambda f: ["analyze", "occlusion", f["model"], f["data"], "--temperatures", "2"],
    "embedding": lambda f: ["analyze", "embedding", f["model"], f["data"], "--per-T", "4", "--no-tsne"],
    "uncertainty": lambda f: ["analyze", "uncertainty", f["dropout"], f["data"], "--per-T", "4", "--passes", "3"],
}


@pytest.mark.parametrize("verb", sorted(ANALYSES))
def test_analyses_under_a_file_size_limit(inputs, tmp_path, verb):
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    res = run_limited([*ANALYSES[verb](inputs), "-o", out, "-q"], tmp_path, 8 * 1024)
    check_outcome(res, tmp_path, before, f"analyze {verb}")
    assert res.returncode == 2


# -- a full disk, in-process: the pre-flight estimate and a write that fails part-way --------------


@pytest.fixture
def small_predictions():
    return xr.Dataset({"probability": (("sample", "class"), np.full((1000, 2), 0.5, np.float32))},
                      coords={"class": ["disordered", "ordered"], "temperature": ("sample", np.ones(1000)),
                              "L": ("sample", np.full(1000, 8, np.int32))},
                      attrs={"fieldnet_format": "predictions"})


def test_preflight_refuses_an_output_that_does_not_fit(tmp_path, monkeypatch, small_predictions):
    existing = tmp_path / "pred.nc"
    existing.write_bytes(b"earlier")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(FieldnetError, match=r"no space left on the device for .* \(it needs .* KiB, 100 B are free\)"):
        write_predictions(small_predictions, existing)
    with pytest.raises(FieldnetError, match="no space left"):
        save_model(make_model(), tmp_path / "m.h5")
    assert existing.read_bytes() == b"earlier" and sorted(p.name for p in tmp_path.iterdir()) == ["pred.nc"]


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_a_write_failing_part_way_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, small_predictions,
                                                                           number):
    existing = tmp_path / "pred.nc"
    existing.write_bytes(b"earlier")

    def failing_fsync(fd):
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(FieldnetError) as info:
        write_predictions(small_predictions, existing)
    assert ("file size limit" if number == errno.EFBIG else "no space left") in str(info.value)
    assert existing.read_bytes() == b"earlier" and sorted(p.name for p in tmp_path.iterdir()) == ["pred.nc"]


def test_atomic_output_reports_failed_writes_in_one_line(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(FieldnetError, match="no space left"), atomic.atomic_output(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(FieldnetError, match="no space left"), atomic.atomic_output(target):
        raise RuntimeError("file write failed: time = ..., errno = 28, error message = 'No space left on device'")
    with pytest.raises(KeyError), atomic.atomic_output(target):  # other errors pass through unchanged
        raise KeyError("not a write failure")
    assert list(tmp_path.iterdir()) == []
