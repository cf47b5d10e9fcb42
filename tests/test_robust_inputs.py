"""Issue 15: no links, no special files, outputs that never replace an input, one writer per output.

* Inputs that are not regular files (a FIFO would hang ``info`` and ``predict``) are refused
  before anything opens them; HDF5 external links, virtual datasets and external storage in an
  input are refused (a file must not make fieldnet read another file).
* An output path that is (or links to) an input is refused, with or without --overwrite; so are
  an empty output name and an output that is a special file.
* A second writer to the same output is refused at once (``.NAME.lock``); ``simulate`` does not
  silently discard an unfinished run's ``.partial``; analyses do not replace earlier results
  without --overwrite.
"""

from __future__ import annotations

import os
import shutil

import h5py
import pytest
from cli_checks import assert_one_line_error, snapshot, unwritable_output
from robust_files import write_data, write_model

from fieldnet.io.atomic import lock_path, output_lock, partial_path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A data file, a model, and predictions whose p(ordered) crosses 1/2 (synthetic)."""
    from tc_inputs import write_tc_inputs

    folder = tmp_path_factory.mktemp("inputs")
    pred = folder / "pred.nc"
    write_tc_inputs(pred)
    return {"data": write_data(folder / "data.h5"), "model": write_model(folder / "model.h5"), "pred": pred}


# -- links inside HDF5 files -------------------------------------------------------------------


def _external_link(source, target, name):
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        del f[name]
        f[name] = h5py.ExternalLink(str(source), "/" + name)
    return target


def _replaced_dataset(source, target, name, create):
    """A copy of ``source`` at ``target`` whose dataset ``name`` is replaced by
    ``create(file, name, shape, dtype)`` (same shape and type, its values stored elsewhere)."""
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        shape, dtype = f[name].shape, f[name].dtype
        del f[name]
        create(f, name, shape, dtype)
    return target


def _virtual(source, target, name):
    def create(f, name, shape, dtype):
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(str(source), name, shape=shape)
        f.create_virtual_dataset(name, layout)

    return _replaced_dataset(source, target, name, create)


def _external_storage(source, target, name):
    def create(f, name, shape, dtype):
        f.create_dataset(name, shape=shape, dtype=dtype, external=[("/etc/hostname", 0, h5py.h5f.UNLIMITED)])

    return _replaced_dataset(source, target, name, create)


LINKS = {"external link": (_external_link, "external link"), "virtual dataset": (_virtual, "virtual dataset"),
         "external storage": (_external_storage, "external files")}


@pytest.mark.parametrize("kind", sorted(LINKS))
def test_links_to_other_files_are_refused(kind, files, tmp_path, run_cli):
    make, fragment = LINKS[kind]
    model = make(files["model"], tmp_path / "model.h5", "weights/0/kernel")
    data = make(files["data"], tmp_path / "data.h5", "L8/temperature")
    pred = make(files["pred"], tmp_path / "pred.nc", "probability")
    runs = {
        "predict (model)": ["predict", model, files["data"], "-o", tmp_path / "p.nc"],
        "predict (data)": ["predict", files["model"], data, "-o", tmp_path / "p.nc"],
        "train": ["train", data, "-o", tmp_path / "m.h5", "--epochs", "1"],
        "info": ["info", model],
        "analyze rg": ["analyze", "rg", data, "-o", tmp_path / "rg"],
        "analyze tc": ["analyze", "tc", pred, "-o", tmp_path / "tc"],
    }
    for what, args in runs.items():
        res = run_cli(*args, timeout=120)
        assert_one_line_error(res, fragment)
        assert what
    assert not (tmp_path / "p.nc").exists() and not (tmp_path / "m.h5").exists()


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo.h5"
    os.mkfifo(path)
    return path


def test_special_files_as_inputs_are_refused_without_opening_them(files, fifo, tmp_path, run_cli):
    runs = [
        ["info", fifo],
        ["predict", fifo, files["data"], "-o", tmp_path / "p.nc"],
        ["predict", files["model"], fifo, "-o", tmp_path / "p.nc"],
        ["train", fifo, "-o", tmp_path / "m.h5"],
        ["train", files["data"], "--architecture", fifo, "-o", tmp_path / "m.h5"],
        ["analyze", "rg", fifo, "-o", tmp_path / "rg"],
        ["analyze", "tc", fifo, "-o", tmp_path / "tc"],
        ["analyze", "filters", fifo, files["data"], "-o", tmp_path / "f"],
        ["info", "/dev/null"],
    ]
    for args in runs:
        res = run_cli(*args, timeout=60)  # a hang fails here instead of blocking the suite
        assert_one_line_error(res, "not a regular file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.h5"]


# -- outputs -----------------------------------------------------------------------------------


def test_an_output_that_is_an_input_is_refused(files, tmp_path, run_cli):
    data = tmp_path / "data.h5"
    shutil.copy(files["data"], data)
    model = tmp_path / "model.h5"
    shutil.copy(files["model"], model)
    link = tmp_path / "link.h5"
    link.symlink_to(data)
    before = snapshot(tmp_path)
    runs = [
        ["train", data, "-o", data, "--overwrite"],
        ["train", data, "-o", link, "--overwrite"],
        ["predict", model, data, "-o", data, "--overwrite"],
        ["predict", model, data, "-o", model, "--overwrite"],
        ["predict", model, data, "-o", link, "--overwrite"],
    ]
    for args in runs:
        res = run_cli(*args)
        assert_one_line_error(res, "is the input", "choose another -o")
    pred = tmp_path / "tc.nc"  # analyze tc writes tc.nc: into its own folder it would replace its input
    shutil.copy(files["pred"], pred)
    before = snapshot(tmp_path)
    res = run_cli("analyze", "tc", pred, "-o", tmp_path, "--overwrite", "--bootstrap", "10")
    assert_one_line_error(res, "is the input")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("verb", ["simulate", "train", "predict", "analyze rg", "analyze tc"])
def test_an_empty_output_name_is_one_line(verb, files, tmp_path, run_cli):
    args = {"simulate": ["simulate", "--L", "4", "--T", "2", "--samples", "2"], "train": ["train", files["data"]],
            "predict": ["predict", files["model"], files["data"]], "analyze rg": ["analyze", "rg", files["data"]],
            "analyze tc": ["analyze", "tc", files["pred"]]}[verb]
    res = run_cli(*args, "-o", "", "-q")
    assert_one_line_error(res, "empty")
    assert list(tmp_path.iterdir()) == []


def test_a_special_file_as_output_is_refused(files, fifo, tmp_path, run_cli):
    for target in (fifo, "/dev/null"):
        res = run_cli("predict", files["model"], files["data"], "-o", target, "--overwrite", timeout=60)
        assert_one_line_error(res, "not a regular file")


# -- one writer per output -----------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["simulate", "train", "predict", "analyze rg"])
def test_a_second_writer_is_refused_at_once(verb, files, tmp_path, run_cli):
    out = tmp_path / ("rg" if verb == "analyze rg" else "out.h5")
    args = {"simulate": ["simulate", "--L", "4", "--T", "2", "--samples", "2"],
            "train": ["train", files["data"], "--epochs", "1"],
            "predict": ["predict", files["model"], files["data"]], "analyze rg": ["analyze", "rg", files["data"]]}[verb]
    with output_lock(out):  # another process (this test) is writing the output
        res = run_cli(*args, "-o", out, "-q")
        assert_one_line_error(res, f"another fieldnet process (pid {os.getpid()}) is writing {out}")
        assert not out.exists()
    assert not lock_path(out).exists()
    res = run_cli(*args, "-o", out, "-q")  # once the first writer is done, the output is free
    assert res.returncode == 0, res.stderr
    assert out.exists() and not lock_path(out).exists()


def test_two_simultaneous_trainings_to_one_output(files, tmp_path):
    import subprocess

    from conftest import cli_command
    from interrupted import start_and_wait

    out = tmp_path / "model.h5"
    first = start_and_wait([*cli_command(), "train", str(files["data"]), "-o", str(out), "--epochs", "200", "--patience", "0",
                            "-q"], lock_path(out).exists, 120, "the first training")
    try:
        second = subprocess.run([*cli_command(), "train", str(files["data"]), "-o", str(out), "--epochs", "1", "-q"],
                                capture_output=True, text=True, timeout=120)
        assert_one_line_error(second, "another fieldnet process", str(first.pid))
    finally:
        first.kill()
        first.wait()


def test_lock_taken_over_after_a_killed_writer(tmp_path):
    out = tmp_path / "x.h5"
    lock_path(out).write_text("12345\n")  # left by a process killed with SIGKILL: no flock is held on it
    with output_lock(out):
        assert lock_path(out).read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists()


def test_simulate_keeps_an_unfinished_run(tmp_path, run_cli):
    out = tmp_path / "d.h5"
    partial_path(out).write_bytes(b"points of an interrupted run")
    res = run_cli("simulate", "--L", "4", "--T", "2", "--samples", "2", "-q", "-o", out)
    assert_one_line_error(res, "unfinished run", "--resume", "--overwrite")
    assert partial_path(out).read_bytes() == b"points of an interrupted run" and not out.exists()
    res = run_cli("simulate", "--L", "4", "--T", "2", "--samples", "2", "-q", "-o", out, "--overwrite")
    assert res.returncode == 0 and out.exists() and not partial_path(out).exists(), res.stderr


def test_analyses_keep_earlier_results_without_overwrite(files, tmp_path, run_cli):
    out = tmp_path / "rg"
    first = run_cli("analyze", "rg", files["data"], "-o", out, "-q")
    assert first.returncode == 0, first.stderr
    before = snapshot(out)
    again = run_cli("analyze", "rg", files["data"], "-o", out, "-q", "--block", "4")
    assert_one_line_error(again, "already exists", "--overwrite")
    assert snapshot(out) == before
    replaced = run_cli("analyze", "rg", files["data"], "-o", out, "-q", "--block", "4", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert snapshot(out) != before
    tc = tmp_path / "tc"
    tc_args = ["analyze", "tc", files["pred"], "-o", tc, "--bootstrap", "10", "--no-figures"]
    assert run_cli(*tc_args).returncode == 0
    before = snapshot(tc)
    assert_one_line_error(run_cli(*tc_args), "already exists", "--overwrite")
    assert snapshot(tc) == before
    assert run_cli(*tc_args, "--overwrite").returncode == 0


def test_an_unwritable_output_folder_for_analyze_is_one_line(files, tmp_path, run_cli):
    res = run_cli("analyze", "rg", files["data"], "-o", unwritable_output(tmp_path, "out"), "-q")
    assert_one_line_error(res, "cannot write")


def test_a_file_system_without_locks_still_writes(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "x.h5"
    with output_lock(out):
        out.write_text("written")
    assert out.read_text() == "written" and not lock_path(out).exists()
