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

    from fieldnet.app.pipeline import load_config

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    for i, block in enumerate(blocks):
        path = tmp_path / f"c{i}.toml"
        path.write_text(block)
        config = load_config(path)
        get_model(config.simulate["model"], **config.simulate.get("params", {}))  # the model and couplings exist
