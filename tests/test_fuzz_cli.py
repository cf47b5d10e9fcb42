"""Fuzzed command lines for every verb: the only allowed outcomes are success (exit 0) or exit 2
with one error line; never a traceback, a crash or a hang, never a changed input, never a stray
temporary or lock file.

Arguments are drawn by hypothesis from each verb's own options with values that are valid and
small (so an accepted command runs in seconds), invalid, out of range, huge, non-numeric or
empty; positional files from valid, missing, special, truncated, corrupted, foreign, hostile and
wrong-kind files; pipeline configurations are the small valid TOML below with keys replaced by
such values.  The command line runs in this process (``fieldnet.app.cli.main``: the code a
terminal runs, without a second of interpreter start-up per case) under an alarm, with
stdout and stderr captured.

``FIELDNET_FUZZ_EXAMPLES`` (or ``FIELDNET_FUZZ_EXAMPLES_CLI``) sets the cases per verb (default 10; 150
per verb, about 12 minutes on 2 cores, passes too).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
from pathlib import Path

import pytest
from cli_checks import snapshot, stray_files
from fuzzing import flip_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robust_files import edit_architecture, set_dense_units, write_data, write_model

from fieldnet.app.cli import main

CASES = int(os.environ.get("FIELDNET_FUZZ_EXAMPLES_CLI", os.environ.get("FIELDNET_FUZZ_EXAMPLES", "10")))
FUZZ_CLI = settings(max_examples=CASES, deadline=None, derandomize=CASES <= 100, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

#: seconds one fuzzed command may run (every accepted case is small: seconds)
ALARM_SECONDS = 120


class CommandHung(BaseException):
    """Raised by the alarm: the fuzzed command did not finish in time."""


# -- the inputs every case draws from ------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """Name -> path of every input file a case may use (made once; never written by a case)."""
    from tc_inputs import write_tc_inputs

    from fieldnet.engine.layers import Conv2d, Dense, Dropout, GlobalAvgPool
    from fieldnet.engine.model import Sequential
    from fieldnet.engine.saving import save_model

    folder = tmp_path_factory.mktemp("fuzz-inputs")
    layout = {"model": "ising2d", "lattice": "square", "channels": ["spin"]}
    files = {
        "data": write_data(folder / "data.h5"),
        "data_unlabelled": write_data(folder / "nolabel.h5", model="phi4", channels=("phi",), dtype="float32", labels=False),
        "model": write_model(folder / "model.h5", layout=layout),
        "model_seed1": write_model(folder / "model1.h5", layout=layout, seed=1),
    }
    dropout = Sequential([Conv2d(4, 3, activation="relu"), GlobalAvgPool(), Dense(8, activation="relu"), Dropout(0.3),
                          Dense(2)], input_shape=(1, 8, 8), seed=0)
    files["dropout"] = save_model(dropout, folder / "dropout.h5")
    write_tc_inputs(folder / "pred.nc")
    files["pred"] = folder / "pred.nc"
    files["hostile_model"] = edit_architecture(files["model"], folder / "hostile.h5", set_dense_units(50_000_000))
    for name in ("data", "model", "pred"):
        valid = Path(files[name]).read_bytes()
        (folder / f"truncated_{name}.h5").write_bytes(valid[: len(valid) // 2])
        (folder / f"flipped_{name}.h5").write_bytes(flip_bytes(valid, [(len(valid) // 3, 0x5A), (len(valid) // 2, 0xFF)]))
        files[f"truncated_{name}"] = folder / f"truncated_{name}.h5"
        files[f"flipped_{name}"] = folder / f"flipped_{name}.h5"
    (folder / "notes.txt").write_text("temperature,energy\n1.5,-1.9\n")
    files["text"] = folder / "notes.txt"
    (folder / "empty.h5").write_bytes(b"")
    files["empty"] = folder / "empty.h5"
    (folder / "adir").mkdir()
    files["directory"] = folder / "adir"
    os.mkfifo(folder / "fifo.h5")
    files["fifo"] = folder / "fifo.h5"
    files["missing"] = folder / "missing.h5"
    arch = folder / "arch"
    arch.mkdir()
    for name, text in {"ok": '[{"type": "Conv2d", "out_channels": 2}, {"type": "GlobalAvgPool"}, {"type": "Dense", "units": 2}]',
                       "bad_json": "[{", "unknown": '[{"type": "os.system"}]',
                       "wide": '[{"type": "Flatten"}, {"type": "Dense", "units": 100000000}, {"type": "Dense", "units": 2}]',
                       "not_list": '{"layers": 3}'}.items():
        (arch / f"{name}.json").write_text(text)
        files[f"arch_{name}"] = arch / f"{name}.json"
    return {k: str(v) for k, v in files.items()}


@pytest.fixture(scope="module")
def inputs_unchanged(inputs):
    """The inputs' bytes before the module's cases; checked after them."""
    folder = Path(inputs["data"]).parent
    before = {k: v for k, v in snapshot(folder).items() if "fifo" not in k}
    yield
    after = {k: v for k, v in snapshot(folder).items() if "fifo" not in k}
    assert after == before, "a fuzzed command changed an input file"


# -- running one case ---------------------------------------------------------------------------


def run_case(argv: list[str], workdir: Path) -> tuple[int, str, str]:
    """``fieldnet ARGV`` in this process, in ``workdir``: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    env = dict(os.environ)

    def hung(signum, frame):
        raise CommandHung(f"fieldnet {' '.join(argv)} ran for more than {ALARM_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(ALARM_SECONDS)
    try:
        os.chdir(workdir)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        _restore_threads()
    return code, out.getvalue(), err.getvalue()


def _restore_threads() -> None:
    import numba

    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def check_case(argv: list[str], workdir: Path) -> int:
    """Run a case and assert the contract; returns the exit status."""
    code, _, stderr = run_case(argv, workdir)
    assert code in (0, 2), f"exit {code}: fieldnet {argv}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, f"fieldnet {argv}\n{stderr[-3000:]}"
    if code == 2:
        errors = [line for line in stderr.splitlines() if ": error: " in line]
        assert len(errors) == 1 and errors[0] == stderr.strip().splitlines()[-1], f"fieldnet {argv}\n{stderr}"
    assert stray_files(workdir) == [], f"fieldnet {argv} left {stray_files(workdir)}"
    return code


_case_count = [0]


def fresh_workdir(root: Path, inputs: dict[str, str] | None = None) -> Path:
    """A new folder for one case, holding an earlier output (``existing.h5``) and links to the
    inputs: outputs that default to a name beside their input land here, not beside the shared
    inputs, so every case starts from the same state."""
    _case_count[0] += 1
    path = root / f"case{_case_count[0]}"
    path.mkdir()
    (path / "existing.h5").write_bytes(b"an earlier output")
    (path / "localdir").mkdir()
    for name in (inputs or {}).values():
        link = path / f"in-{Path(name).name}"  # never a default output name (model.h5, ising2d.h5)
        if not link.exists():
            link.symlink_to(name)
    return path


def localized(argv: list[str], inputs: dict[str, str]) -> list[str]:
    """``argv`` with each input path replaced by its link's name in the case folder."""
    paths = {v: f"in-{Path(v).name}" for v in inputs.values()}
    return [paths.get(a, a) for a in argv]


# -- strategies ----------------------------------------------------------------------------------

INTS = st.sampled_from(["0", "1", "2", "-1", "3", "1.5", "abc", "", "99999999999999999999999", "1e3", "0x10", " 2"])
SMALL_COUNTS = st.sampled_from(["1", "2", "3", "0", "-4", "x", "", "1000000000000000"])
FLOATS = st.sampled_from(["0", "0.5", "-0.1", "1", "nan", "inf", "-inf", "1e308", "abc", "", "1e-300", "0.05"])
TEXT = st.sampled_from(["", " ", "périodique", "--", "../x", "a:b", "1:2:3", "-", "None", "{}"])
SEEDS = st.sampled_from(["0", "7", "-1", "18446744073709551616", "abc"])
INPUTS_ANY = ["data", "model", "pred", "dropout", "missing", "directory", "fifo", "text", "empty", "truncated_data",
              "flipped_data", "truncated_model", "flipped_model", "truncated_pred", "flipped_pred", "hostile_model",
              "data_unlabelled"]


def input_file(inputs, *prefer: str):
    """A positional file: mostly one of ``prefer``, else any input (right kind or not)."""
    return st.one_of(st.sampled_from(prefer), st.sampled_from(INPUTS_ANY)).map(lambda k: inputs[k])


def output_choices(inputs, kind: str = "file"):
    """-o values: a fresh name, an existing file, an input, a folder, empty, a special file, a
    missing folder."""
    fresh = "out.h5" if kind == "file" else "outdir"
    return st.sampled_from([fresh, fresh, "existing.h5", "", "/dev/null", "localdir", "nested/missing/out.h5",
                            inputs["data"], inputs["model"]])


@st.composite
def options(draw, specs: dict):
    """A random subset of ``specs`` (flag -> strategy of one or more tokens, or None for a flag)."""
    argv = []
    for flag in draw(st.lists(st.sampled_from(sorted(specs)), max_size=4, unique=True)):
        value = specs[flag]
        argv.append(flag)
        if value is not None:
            drawn = draw(value)
            argv.extend(drawn if isinstance(drawn, list) else [drawn])
    if draw(st.integers(0, 9)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "-z", "--threads", "extra-positional", "--help"])))
    return argv


#: options before the fuzzed ones that keep an accepted case to seconds (the defaults are real runs)
SMALL_RUN = {
    "simulate": ["--L", "4", "--T", "2.0", "--samples", "2"],
    "train": ["--epochs", "1"],
    "analyze tc": ["--bootstrap", "20"],
    "analyze confusion": ["--epochs", "2", "--repeats", "1"],
    "analyze uncertainty": ["--passes", "3", "--per-T", "4"],
    "analyze embedding": ["--per-T", "4"],
}

COMMON = {"--threads": st.sampled_from(["1", "2", "0", "-3", "x", "100000"]), "-q": None}


def verb_cases(inputs) -> dict[str, st.SearchStrategy]:
    """Verb -> strategy of whole argument lists."""
    out_file = output_choices(inputs)
    out_dir = output_choices(inputs, "dir")
    model = input_file(inputs, "model", "model", "hostile_model", "dropout")
    data = input_file(inputs, "data", "data", "data_unlabelled")
    sizes = st.lists(st.sampled_from(["4", "6", "8", "1", "0", "-2", "eight", "1000000", "12"]), min_size=1, max_size=2)

    def verb(words, positionals, specs):
        """``words POSITIONALS BASE OPTIONS``: BASE keeps an accepted case small (seconds); a
        fuzzed option given after it replaces it."""
        base = SMALL_RUN.get(" ".join(words), [])
        return st.tuples(*positionals, options({**specs, **COMMON})).map(
            lambda t: [*words, *t[:-1], *base, *t[-1]])

    analyze_out = {"-o": out_dir, "--overwrite": None}
    model_data = {"--L": st.sampled_from(["8", "4", "-1", "x"]), "--seed": SEEDS, **analyze_out}
    return {
        "simulate": verb(["simulate"], [], {
            "--model": st.sampled_from(["ising2d", "ising3d", "potts", "xy", "phi4", "bogus", ""]),
            "--L": sizes.map(lambda s: [v if v not in ("8", "12") else "4" for v in s]),
            "--T": st.lists(st.sampled_from(["2.0", "1.5:3:3", "0", "-1", "nan", "1:2:0", "1:2:200000", "3:3:2", "a,b",
                                             "1e308"]), min_size=1, max_size=2),
            "--samples": SMALL_COUNTS, "--seed": SEEDS,
            "--algorithm": st.sampled_from(["auto", "metropolis", "wolff", "bogus", ""]),
            "--param": st.sampled_from(["J=1", "J=1e308", "J=nan", "h=0.1", "q=3", "q=1000", "bogus=1", "J", "=1",
                                        "lattice=triangular", "J=abc"]),
            "--lattice": st.sampled_from(["square", "triangular", "hexagonal", ""]),
            "-o": out_file, "--resume": None, "--overwrite": None,
            "--workers": st.sampled_from(["0", "-1", "x"]),
        }),
        "info": st.tuples(st.lists(st.sampled_from(INPUTS_ANY), max_size=3), options({"--models": None, **COMMON})).map(
            lambda t: ["info", *[inputs[k] for k in t[0]], *t[1]]),
        "train": verb(["train"], [data], {
            "-o": out_file, "--preset": st.sampled_from(["gap", "r1", "vgg", "resnet", "bogus", ""]),
            "--architecture": st.sampled_from(["arch_ok", "arch_bad_json", "arch_unknown", "arch_wide", "arch_not_list",
                                               "missing", "fifo", "directory", "data"]).map(lambda k: inputs[k]),
            "--L": st.sampled_from(["8", "12", "-1", "x"]), "--epochs": st.sampled_from(["1", "2", "0", "-1", "x", ""]),
            "--batch-size": st.sampled_from(["1", "16", "0", "-5", "1000000000000"]), "--optimizer": TEXT,
            "--lr": FLOATS, "--schedule": st.sampled_from(["constant", "step", "cosine", "bogus"]),
            "--val-fraction": FLOATS, "--patience": INTS,
            "--exclude-T": st.sampled_from(["2:2.5", "3:1", "a:b", "0:100", "nan:1", "2", ""]),
            "--dropout": FLOATS, "--no-augment": None, "--init": model, "--freeze": INTS, "--seed": SEEDS,
            "--resume": None, "--overwrite": None,
        }),
        "predict": st.tuples(st.lists(model, min_size=1, max_size=2), data, options({
            "-o": out_file, "--L": st.sampled_from(["8", "4", "-1", "x"]),
            "--batch-size": st.sampled_from(["1", "64", "0", "-5", "1000000000000"]),
            "--overwrite": None, "--force": None, **COMMON})).map(lambda t: ["predict", *t[0], t[1], *t[2]]),
        "analyze tc": verb(["analyze", "tc"], [input_file(inputs, "pred", "pred", "truncated_pred", "flipped_pred")], {
            **analyze_out, "--bootstrap": st.sampled_from(["0", "2", "5", "-1", "x"]), "--seed": SEEDS,
            "--data": st.sampled_from(["missing.h5", "pred.nc"]), "--no-figures": None,
        }),
        "analyze confusion": verb(["analyze", "confusion"], [data], {
            **analyze_out, "--L": st.sampled_from(["8", "4", "x"]),
            "--T-grid": st.sampled_from(["1.5:3.0:4", "3:1:4", "1:2:2", "a:b:c", "1:2", "nan:inf:5"]),
            "--features": st.sampled_from(["config", "summary", "bogus"]), "--hidden": SMALL_COUNTS,
            "--epochs": st.sampled_from(["1", "2", "0", "-1"]), "--test-fraction": FLOATS,
            "--repeats": st.sampled_from(["1", "0", "-2"]), "--seed": SEEDS,
        }),
        "analyze equivariance": verb(["analyze", "equivariance"], [model, data], {
            **model_data, "--per-T": SMALL_COUNTS, "--shift-step": st.sampled_from(["2", "4", "0", "-1", "100"])}),
        "analyze filters": verb(["analyze", "filters"], [model, data], {
            **model_data, "--per-T": SMALL_COUNTS, "--channels": SMALL_COUNTS}),
        "analyze occlusion": verb(["analyze", "occlusion"], [model, data], {
            **model_data, "--patch": st.sampled_from(["1", "3", "0", "-2", "100"]), "--value": FLOATS,
            "--temperatures": SMALL_COUNTS}),
        "analyze embedding": verb(["analyze", "embedding"], [model, data], {
            **model_data, "--per-T": SMALL_COUNTS, "--no-tsne": None}),
        "analyze rg": verb(["analyze", "rg"], [data], {
            **analyze_out, "--L": st.sampled_from(["8", "4", "x"]), "--block": st.sampled_from(["2", "4", "0", "1", "-2", "9"]),
            "--steps": st.sampled_from(["1", "2", "0", "-1", "100"]), "--seed": SEEDS}),
        "analyze uncertainty": verb(["analyze", "uncertainty"], [input_file(inputs, "dropout", "dropout", "model"), data], {
            **model_data, "--passes": st.sampled_from(["1", "3", "0", "-1"]), "--per-T": SMALL_COUNTS}),
    }


#: per verb: (positional input kinds, option -> valid tokens or None for a flag); a well-formed case
#: takes a few of these, so that a small budget still exercises the accepted paths
WELL_FORMED: dict[str, tuple[list[str], dict]] = {
    "simulate": ([], {"--model": ["ising2d", "ising3d", "potts", "xy", "phi4"], "--L": [["4"], ["4", "6"]],
                      "--T": [["2.0"], ["1.5:3:3"]], "--samples": ["2", "3"], "--seed": ["0", "7"],
                      "--algorithm": ["auto", "metropolis"], "--lattice": ["square"], "--overwrite": None}),
    "info": (["data"], {"--models": None}),
    "train": (["data"], {"--preset": ["gap", "r1", "vgg", "resnet"], "--epochs": ["1", "2"], "--batch-size": ["8", "16"],
                         "--optimizer": ["sgd", "adam"], "--lr": ["0.01", "0.001"], "--schedule": ["step", "cosine"],
                         "--val-fraction": ["0", "0.2"], "--exclude-T": ["2.0:2.5"], "--dropout": ["0.3"],
                         "--no-augment": None, "--seed": ["0", "3"], "--patience": ["0", "1"]}),
    "predict": (["model", "data"], {"--batch-size": ["1", "64"], "--L": ["8"], "--force": None}),
    "analyze tc": (["pred"], {"--bootstrap": ["2", "4"], "--no-figures": None, "--seed": ["0", "5"]}),
    "analyze confusion": (["data"], {"--features": ["config", "summary"], "--hidden": ["2", "4"],
                                     "--T-grid": ["1.6:3.0:4"], "--test-fraction": ["0.3", "0.5"]}),
    "analyze equivariance": (["model", "data"], {"--per-T": ["1", "2"], "--shift-step": ["2", "4"]}),
    "analyze filters": (["model", "data"], {"--per-T": ["1", "3"], "--channels": ["1", "2"]}),
    "analyze occlusion": (["model", "data"], {"--patch": ["1", "3"], "--value": ["0", "1"], "--temperatures": ["2"]}),
    "analyze embedding": (["model", "data"], {"--per-T": ["2", "3"], "--no-tsne": None}),
    "analyze rg": (["data"], {"--block": ["2", "4"], "--steps": ["1", "2"], "--seed": ["0", "1"]}),
    "analyze uncertainty": (["dropout", "data"], {"--passes": ["2", "4"], "--per-T": ["2"]}),
}


def well_formed(inputs, verb: str):
    """A valid, small command of ``verb``: its usual inputs and up to three valid options."""
    kinds, specs = WELL_FORMED[verb]
    words = verb.split()

    @st.composite
    def build(draw):
        argv = [*words, *[inputs[k] for k in kinds], *SMALL_RUN.get(verb, [])]
        for flag in draw(st.lists(st.sampled_from(sorted(specs)), max_size=3, unique=True)):
            argv.append(flag)
            if specs[flag] is not None:
                value = draw(st.sampled_from(specs[flag]))
                argv.extend(value if isinstance(value, list) else [value])
        return [*argv, *draw(st.sampled_from([[], ["-q"], ["--threads", "1"]]))]

    return build()


VERBS = ["simulate", "info", "train", "predict", "analyze tc", "analyze confusion", "analyze equivariance",
         "analyze filters", "analyze occlusion", "analyze embedding", "analyze rg", "analyze uncertainty"]


@pytest.mark.parametrize("verb", VERBS)
def test_fuzzed_arguments(verb, inputs, inputs_unchanged, tmp_path):
    strategy = st.one_of(well_formed(inputs, verb), verb_cases(inputs)[verb])

    @FUZZ_CLI
    @given(argv=strategy)
    def case(argv):
        check_case(localized(argv, inputs), fresh_workdir(tmp_path, inputs))

    case()


# -- pipeline configurations ---------------------------------------------------------------------

TINY_PIPELINE = {
    "simulate": {"L": [4, 8], "T": "1.5:3.5:5", "scan_samples": 10, "zoom_points": 5, "samples": 10, "seed": 3},
    "train": {"epochs": 1, "ensemble": 1, "shifts": [0.0], "batch_size": 16},
    "analysis": {"bootstrap": 2},
}

TOML_VALUES = st.one_of(
    st.sampled_from(["ten", "", "périodique", "1:2:3", "auto", "exact", "fit"]),
    st.sampled_from([0, 1, -1, 2, 10**12, 1_000_000]),
    st.sampled_from([0.0, -0.5, 1.5, float("nan"), float("inf"), 1e308]),
    st.booleans(),
    st.lists(st.sampled_from([4, 6, 0, -1, 1_000_000, "eight", 2.5]), min_size=0, max_size=3),
    st.just({"J": 1e308}), st.just({"q": "x"}), st.just({}),
)
TOML_KEYS = st.sampled_from([
    ("simulate", "model"), ("simulate", "L"), ("simulate", "T"), ("simulate", "samples"), ("simulate", "seed"),
    ("simulate", "params"), ("simulate", "algorithm"), ("simulate", "lattice"), ("train", "preset"),
    ("train", "epochs"), ("train", "ensemble"), ("train", "batch_size"), ("train", "lr"), ("train", "exclude_T"),
    ("train", "val_fraction"), ("train", "optimizer"), ("train", "bands"), ("train", "shifts"), ("train", "labels"),
    ("simulate", "zoom_points"), ("simulate", "zoom_margin"), ("analysis", "bootstrap"), ("analysis", "block"),
    ("analysis", "method"), ("bogus", "key"), ("train", "bogus"),
])


def toml_text(config: dict) -> str:
    """TOML for ``{section: {key: value}}`` of the values above (the standard library only reads TOML)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, float):
            return "nan" if v != v else ("inf" if v == float("inf") else repr(v))
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return str(v)

    return "".join(f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in keys.items()) + "\n"
                   for section, keys in config.items())


@st.composite
def pipeline_configs(draw):
    """The tiny valid pipeline with one to three keys replaced, or raw bytes that are not TOML.
    (An empty file is valid: it is the built-in default study, minutes long, so it is not a case.)"""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from([b"\xff\xfe[simulate]\n", b"[simulate\nL = 4\n", b"samples = = 3\n", b"\x00"]))
    config = {s: dict(v) for s, v in TINY_PIPELINE.items()}
    for section, key in draw(st.lists(TOML_KEYS, min_size=1, max_size=3, unique=True)):
        config.setdefault(section, {})[key] = draw(TOML_VALUES)
    return toml_text(config).encode()


def test_fuzzed_pipeline_configurations(tmp_path):
    @FUZZ_CLI
    @given(text=pipeline_configs())
    def case(text):
        workdir = fresh_workdir(tmp_path)
        (workdir / "config.toml").write_bytes(text)
        check_case(["pipeline", "config.toml", "-o", "report", "-q"], workdir)
        shutil.rmtree(workdir)

    case()
