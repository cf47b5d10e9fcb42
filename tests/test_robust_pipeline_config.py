"""Issue 15's pipeline cases (bad TOML, an unwritable output folder): one line and exit status 2.

The pipeline validates its whole configuration (``fieldnet.app.pipeline_config.load_config``)
and its output folder before any stage runs.
"""

from __future__ import annotations

import pytest
from cli_checks import assert_one_line_error, unwritable_output

TINY = """[simulate]
L = [4, 8]
T = "1.5:3.5:5"
scan_samples = 10
zoom_points = 5
samples = 10
seed = 3

[train]
epochs = 1
ensemble = 1
shifts = [0.0]
batch_size = 16

[analysis]
bootstrap = 2
"""

CASES = {
    "samples = \"ten\"": (TINY.replace("samples = 10\nseed", 'samples = "ten"\nseed').encode(), "samples"),
    "L = [1000000]": (TINY.replace("L = [4, 8]", "L = [4, 1000000]").encode(), "from 2 to 4096"),
    "3D L = 4096": (TINY.replace("L = [4, 8]", 'model = "ising3d"\nL = [2048, 4096]').encode(), "memory"),
    "L = \"eight\"": (TINY.replace("L = [4, 8]", 'L = "eight"').encode(), "'eight'"),
    "non-UTF-8 bytes": (b"\xff\xfe" + TINY.encode(), "UTF-8"),
    "J = 1e308": (TINY.replace("L = [4, 8]", "params = { J = 1e308 }\nL = [4, 8]").encode(), "overflow"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_pipeline_configuration_is_one_line(case, tmp_path, run_cli):
    text, fragment = CASES[case]
    (tmp_path / "config.toml").write_bytes(text)
    res = run_cli("pipeline", "config.toml", "-o", "report", "-q", timeout=300)
    assert_one_line_error(res, fragment)
    assert not (tmp_path / "report").exists()


def test_unwritable_pipeline_output_folder_is_one_line(tmp_path, run_cli):
    (tmp_path / "config.toml").write_text(TINY)
    res = run_cli("pipeline", "config.toml", "-o", unwritable_output(tmp_path, "report"), "-q", timeout=300)
    assert_one_line_error(res, "cannot write")
