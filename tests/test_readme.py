"""The README's Python tour runs as written (a README that lies is a defect)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_tour_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    tour = next(b for b in blocks if "run_campaign" in b)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(tour, str(README), "exec"), namespace)  # noqa: S102 -- our own README
    assert namespace["p"].shape == (1100, 2)
    assert (tmp_path / "model.h5").is_file() and (tmp_path / "small.h5").is_file()


def test_readme_opens_with_the_two_setup_commands():
    text = README.read_text()
    commands = re.findall(r"```bash\n(.*?)```", text, re.S)[:2]
    assert commands[0].strip().endswith("fieldnet pipeline")
    assert commands[1].strip().endswith("python -m pytest -q")
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]"' in ci and "python -m pytest -q" in ci


def test_readme_pipeline_configs_are_valid(tmp_path):
    from fieldnet.simulations.registry import get_model

    from fieldnet.app.pipeline_config import load_config

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    for i, block in enumerate(blocks):
        path = tmp_path / f"c{i}.toml"
        path.write_text(block)
        config = load_config(path)
        get_model(config.simulate["model"], **config.simulate.get("params", {}))  # the model and couplings exist


PYTHON_API = README.parent / "docs" / "python-api.md"

_API_CHECKS = """
import matplotlib
assert matplotlib.get_backend().lower() == "agg"          # the figures did not switch it
assert p.dims == ("sample", "class") and {"temperature", "label", "sample_index"} <= set(p.coords)
assert float(p_ordered.sel(temperature=1.6)) > 0.8 and float(p_ordered.sel(temperature=3.2)) < 0.2
assert len(history["loss"]) == 3 and len(clf.history_["val_accuracy"]) >= 1
assert (pred.sample_index.values == np.arange(ds.sizes["sample"])).all()
assert first.sizes["sample"] == 3 and logits.shape == (8, 2)
np.testing.assert_allclose(logits, clf.model_.predict(x[:8].astype(np.float32)), rtol=1e-4, atol=1e-5)
assert clf_mine.model_ is not None and fieldnet.open_dataset("mine.h5").sizes["sample"] == temps.size
print("PYTHON-API-OK")
"""


def test_python_api_doc_runs_as_written(tmp_path):
    """docs/python-api.md (the README's "From Python" section) runs block by block as one session,
    in a fresh interpreter whose matplotlib backend is the headless default."""
    import os
    import subprocess
    import sys

    blocks = re.findall(r"```python\n(.*?)```", PYTHON_API.read_text(), re.S)
    assert len(blocks) >= 6
    script = "\n".join(blocks) + _API_CHECKS
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         env=env)
    assert res.returncode == 0 and "PYTHON-API-OK" in res.stdout, res.stderr[-3000:]
    for name in ("data.h5", "model.h5", "mine.h5", "model.onnx", "tc.png"):
        assert (tmp_path / name).is_file(), name


def test_readme_shell_tour_runs_as_written(tmp_path):
    """The tour's commands (simulate, info, train, predict, every analysis, export), run by bash
    exactly as the README prints them, one after the other in an empty folder."""
    import os
    import subprocess
    import sys

    text = README.read_text()
    tour = text[text.index("## A tour"):text.index("### The pipeline's settings")]
    blocks = re.findall(r"```bash\n(.*?)```", tour, re.S)
    assert len(blocks) >= 3
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(blocks)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("data.h5", "model.h5", "pred.nc", "tc/tc.json", "eq", "filters", "occ", "emb", "unc", "rg", "model.onnx"):
        assert (tmp_path / name).exists(), name
