"""Hand-written input files (a pipeline config, an architecture) that are not UTF-8 text, or
cannot be read, get one line naming the file, exit status 2."""

from __future__ import annotations

import pytest

from fieldnet.app.cli import main


@pytest.fixture
def not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("[simulate]\nmodel = \"périodique\"\n".encode("latin-1"))
    return path


def test_architecture_file_not_utf8(ising_data, not_utf8, tmp_path, capsys):
    assert main(["train", str(ising_data), "--architecture", str(not_utf8), "-o", str(tmp_path / "m.h5"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "architecture file" in err[0] and "not UTF-8" in err[0]
    assert not (tmp_path / "m.h5").exists()


def test_pipeline_config_not_utf8_or_unreadable(not_utf8, tmp_path, capsys):
    assert main(["pipeline", str(not_utf8), "-o", str(tmp_path / "out"), "-q"]) == 2
    assert "config" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["pipeline", str(tmp_path), "-o", str(tmp_path / "out"), "-q"]) == 2  # a folder
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config" in err[0]
