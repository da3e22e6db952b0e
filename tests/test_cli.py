"""The command line, end to end: help, list/describe, eval on the sample data, options, the gate,
error paths and start-up cost.

Most tests go through ``typer.testing.CliRunner`` on ``lossctl.cli.app`` (stdout and stderr are
captured separately); a few run ``python -m lossctl`` in a real process, where exit codes, stdin
and imports are the real thing. Every expected number is computed independently with NumPy (or
with ``lossctl.evaluate`` on arrays read by pandas, to check the file plumbing).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer.main
from clitest import assert_error, env_without_debug, eval_json, ok, plain_environment, run  # noqa: F401

import lossctl
from lossctl.cli import app
from lossctl.errors import LossctlError
from lossctl.registry import Task, get_loss, registry
from lossctl.render import jsonable

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data"
NAMES = registry().names(builtin=True)
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
REL = 1e-12

# The losses run on each sample file, and the columns the CLI should pick for each by default.
SAMPLE_LOSSES = {
    "regression": ["mse", "rmse", "mae", "msle", "huber", "pseudo_huber", "log_cosh"],
    "binary": ["bce", "bce_logits", "hinge", "squared_hinge"],
    "multiclass": ["cce", "softmax_ce", "kl_div"],
}
P_COLS = [f"p_{i}" for i in range(10)]
LOGIT_COLS = [f"logit_{i}" for i in range(10)]
PRED_COLUMNS: dict[str, Any] = {
    "bce_logits": "logit",
    "hinge": "logit",
    "squared_hinge": "logit",
    "cce": P_COLS,
    "kl_div": P_COLS,
    "softmax_ce": LOGIT_COLS,
}
ROWS = {"regression": 442, "binary": 569, "multiclass": 1797}
TIMING_KEYS = {"read", "validate", "jit", "compute", "total"}
HEAVY = ("numba", "pandas", "pyarrow", "numpy")


# --- helpers ---------------------------------------------------------------------------------


def by_loss(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["loss"]: r for r in report["results"]}


def costs(report: dict[str, Any]) -> dict[str, float]:
    return {r["loss"]: r["cost"] for r in report["results"]}


def rel_close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def assert_allclose_rel(actual: Any, expected: Any, rel: float = REL) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rel, atol=0)


def lossctl_proc(*args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lossctl", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env_without_debug(**env),
        timeout=120,
    )


@functools.cache
def sample_frame(stem: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{stem}.csv")


def sample_arrays(stem: str, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) for ``loss`` on a sample file, read with pandas."""
    df = sample_frame(stem)
    label = "label" if stem == "multiclass" else "y_true"
    return df[label].to_numpy(), df[PRED_COLUMNS.get(loss, "y_pred")].to_numpy()


@functools.cache
def sample_report(stem: str, ext: str) -> str:
    """The JSON text of evaluating every loss for ``stem`` on its .csv or .parquet file (cached)."""
    return ok("eval", DATA / f"{stem}.{ext}", "--loss", ",".join(SAMPLE_LOSSES[stem]), "-f", "json").stdout


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


def _picked(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x[np.arange(len(y)), y.astype(int)]


# Independent NumPy per-sample references: (y_true, y_pred) -> losses. rmse's cost is the root.
NUMPY_REF: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mse": lambda y, p: (p - y) ** 2,
    "rmse": lambda y, p: (p - y) ** 2,
    "mae": lambda y, p: np.abs(p - y),
    "msle": lambda y, p: (np.log1p(p) - np.log1p(y)) ** 2,
    "huber": lambda y, p: np.where(np.abs(p - y) <= 1, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5),
    "pseudo_huber": lambda y, p: np.sqrt(1 + (p - y) ** 2) - 1,
    "log_cosh": lambda y, p: np.logaddexp(p - y, y - p) - np.log(2.0),
    "bce": lambda y, p: -(y * np.log(p) + (1 - y) * np.log1p(-p)),
    "bce_logits": lambda y, x: y * _softplus(-x) + (1 - y) * _softplus(x),
    "hinge": lambda y, s: np.maximum(0.0, 1 - np.where(y > 0, 1.0, -1.0) * s),
    "squared_hinge": lambda y, s: np.maximum(0.0, 1 - np.where(y > 0, 1.0, -1.0) * s) ** 2,
    "cce": lambda y, p: -np.log(_picked(p, y)),
    "kl_div": lambda y, p: -np.log(_picked(p, y)),
    "softmax_ce": lambda y, x: _logsumexp(x) - _picked(x, y),
}


def numpy_cost(loss: str, y: np.ndarray, p: np.ndarray) -> float:
    m = float(np.mean(NUMPY_REF[loss](y.astype(float), p.astype(float))))
    return math.sqrt(m) if loss == "rmse" else m


def numpy_accuracy(loss: str, y: np.ndarray, p: np.ndarray) -> float:
    lo = get_loss(loss)
    if lo.task is Task.MULTICLASS:
        return float(np.mean(np.argmax(p, axis=1) == y))
    threshold = 0.5 if loss == "bce" else 0.0
    return float(np.mean((p > threshold) == (y > 0.5)))


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- 1. help and version -------------------------------------------------------------------------


def test_commands_are_derived_from_the_app() -> None:
    assert {"eval", "list", "describe"} <= set(COMMANDS)


def test_app_help_lists_every_command() -> None:
    r = ok("--help")
    assert r.stdout.startswith("Usage: lossctl")
    assert "Deep-learning loss functions" in r.stdout
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", r.stdout, re.M), f"{name} missing from --help"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str) -> None:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"command {name} has no help text"
    for param in command.params:
        if param.name != "help":
            assert (getattr(param, "help", None) or "").strip(), f"{name}: parameter {param.name} has no help"
    r = ok(name, "--help")
    assert r.stdout.startswith(f"Usage: lossctl {name}")
    first_words = " ".join(command.help.split()[:4])
    assert first_words in " ".join(r.stdout.split())


def test_every_command_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in COMMANDS:
        assert f"lossctl {name}" in readme, f"README does not show `lossctl {name}`"


def test_version() -> None:
    r = ok("--version")
    assert r.stdout == f"lossctl {lossctl.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", lossctl.__version__)


def test_eval_help_lists_every_loss() -> None:
    text = ok("eval", "--help").stdout
    words = set(re.findall(r"[a-z][a-z0-9_]*", text))
    missing = [n for n in NAMES if n not in words]
    assert not missing, f"eval --help does not list {missing}"


# --- 2. list and describe ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_list_formats(fmt: str) -> None:
    out = ok("list", "--format", fmt).stdout
    if fmt == "json":
        rows = json.loads(out)
        assert [r["name"] for r in rows if r["origin"] == "built-in"] == NAMES
        assert {r["task"] for r in rows} == {t.value for t in Task}
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["name"] for r in rows if r["origin"] == "built-in"] == NAMES
        assert set(rows[0]) == {"name", "task", "aliases", "params", "frameworks", "summary", "origin"}
        huber = next(r for r in rows if r["name"] == "huber")
        assert huber["params"] == "delta=1"
    elif fmt == "markdown":
        for name in NAMES:
            assert f"| `{name}` |" in out
        for task in Task:
            assert f"### {task.value}" in out
    else:
        cells = {c.strip() for line in out.splitlines() for c in re.split(r"[│┃]", line)}
        assert set(NAMES) <= cells, f"missing from the table: {set(NAMES) - cells}"


def test_list_default_format_is_json_off_a_terminal() -> None:
    assert [r["name"] for r in json.loads(ok("list").stdout) if r["origin"] == "built-in"] == NAMES


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
@pytest.mark.parametrize("name", NAMES)
def test_describe_formats(name: str, fmt: str) -> None:
    lo = get_loss(name)
    out = ok("describe", name, "-f", fmt).stdout
    if fmt == "json":
        d = json.loads(out)
        assert d["name"] == name
        assert d["task"] == lo.task.value
        assert d["aliases"] == list(lo.aliases)
        assert [p["name"] for p in d["params"]] == list(lo.param_names)
        assert d["formula"] == lo.formula
    elif fmt == "markdown":
        assert out.startswith(f"## `{name}`\n")
        assert lo.formula in out
    else:
        assert name in out
        assert lo.summary.split()[0] in out


ALIASES = [(alias, lo.name) for lo in registry() for alias in lo.aliases]


@pytest.mark.parametrize(("alias", "name"), ALIASES + [("L2", "mse"), ("log-loss", "bce"), (" Huber ", "huber")])
def test_describe_alias_resolves(alias: str, name: str) -> None:
    assert json.loads(ok("describe", alias, "-f", "json").stdout)["name"] == name


def test_describe_unknown_name_suggests() -> None:
    err = assert_error(run("describe", "hubr"), "'hubr'")
    assert "did you mean 'huber'" in err.lower()


def test_describe_has_no_csv_form() -> None:
    assert_error(run("describe", "mse", "-f", "csv"), "csv", "json")


# --- 3. eval on every sample file --------------------------------------------------------------------

SAMPLES = [(stem, ext) for stem in SAMPLE_LOSSES for ext in ("csv", "parquet")]


@pytest.mark.parametrize(("stem", "ext"), SAMPLES)
def test_eval_sample_json_matches_library(stem: str, ext: str) -> None:
    d = json.loads(sample_report(stem, ext))
    assert d["input"]["rows"] == ROWS[stem]
    assert d["input"]["format"] == ext
    assert [r["loss"] for r in d["results"]] == SAMPLE_LOSSES[stem]
    assert TIMING_KEYS <= set(d["timings"])
    assert all(d["timings"][k] >= 0 for k in TIMING_KEYS)
    classification = stem != "regression"
    for r in d["results"]:
        assert {"loss", "params", "n", "cost"} <= set(r)
        assert r["n"] == ROWS[stem]
        assert r["params"] == jsonable({p.name: p.default for p in get_loss(r["loss"]).params})
        y, p = sample_arrays(stem, r["loss"])
        expected = lossctl.evaluate(y, p, r["loss"])
        assert rel_close(r["cost"], expected.cost), (r["loss"], r["cost"], expected.cost)
        if classification:
            assert r["accuracy"] == pytest.approx(numpy_accuracy(r["loss"], y, p), rel=REL)
        else:
            assert "accuracy" not in r


@pytest.mark.parametrize("stem", SAMPLE_LOSSES)
def test_csv_and_parquet_give_identical_costs(stem: str) -> None:
    from_csv = costs(json.loads(sample_report(stem, "csv")))
    from_parquet = costs(json.loads(sample_report(stem, "parquet")))
    assert from_csv == from_parquet


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
@pytest.mark.parametrize("stem", SAMPLE_LOSSES)
def test_text_formats_name_every_loss(stem: str, fmt: str) -> None:
    out = ok("eval", DATA / f"{stem}.csv", "-l", ",".join(SAMPLE_LOSSES[stem]), "-f", fmt).stdout
    expected = costs(json.loads(sample_report(stem, "csv")))
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {r["loss"]: float(r["cost"]) for r in rows} == expected
    elif fmt == "markdown":
        for name in SAMPLE_LOSSES[stem]:
            assert re.search(rf"^\| {name} \|", out, re.M), f"{name} missing:\n{out}"
    else:
        words = set(re.findall(r"[a-z][a-z0-9_]*", out))
        missing = [n for n in SAMPLE_LOSSES[stem] if n not in words]
        assert not missing, f"table output (80 columns) lost the names {missing}:\n{out}"
        for name, cost in expected.items():
            assert f"{cost:.10g}" in out, f"{name} cost {cost:.10g} not shown in full:\n{out}"


def test_eval_default_format_is_json_off_a_terminal() -> None:
    d = json.loads(ok("eval", DATA / "regression.csv", "-l", "mse").stdout)
    assert d["results"][0]["loss"] == "mse"


# --- 4. known values -----------------------------------------------------------------------------


def test_regression_mse_known_value() -> None:
    cost = costs(json.loads(sample_report("regression", "csv")))["mse"]
    df = sample_frame("regression")
    independent = float(np.mean((df["y_pred"].to_numpy() - df["y_true"].to_numpy()) ** 2))
    assert rel_close(cost, 3318.6234503674623)
    assert rel_close(cost, independent)


@pytest.mark.parametrize(("stem", "loss"), [(s, lo) for s, names in SAMPLE_LOSSES.items() for lo in names])
def test_costs_match_numpy_formulas(stem: str, loss: str) -> None:
    cost = costs(json.loads(sample_report(stem, "csv")))[loss]
    y, p = sample_arrays(stem, loss)
    assert rel_close(cost, numpy_cost(loss, y, p)), (cost, numpy_cost(loss, y, p))


def test_binary_bce_is_log_loss() -> None:
    cost = costs(json.loads(sample_report("binary", "csv")))["bce"]
    y, p = sample_arrays("binary", "bce")
    assert rel_close(cost, float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))
    metrics = pytest.importorskip("sklearn.metrics")
    assert cost == pytest.approx(metrics.log_loss(y, p), rel=1e-9)


def test_multiclass_cce_is_mean_neg_log_p_label() -> None:
    cost = costs(json.loads(sample_report("multiclass", "csv")))["cce"]
    df = sample_frame("multiclass")
    p = df[P_COLS].to_numpy()
    labels = df["label"].to_numpy()
    assert rel_close(cost, float(np.mean(-np.log(p[np.arange(len(df)), labels]))))


# --- 5. options -----------------------------------------------------------------------------------

REG = DATA / "regression.csv"


def test_loss_repeated_or_comma_separated() -> None:
    repeated = eval_json(REG, "--loss", "mse", "--loss", "mae")
    commas = eval_json(REG, "--loss", "mse,mae")
    deduped = eval_json(REG, "-l", "mse, mae", "-l", "mse")
    assert [r["loss"] for r in repeated["results"]] == ["mse", "mae"]
    assert costs(repeated) == costs(commas) == costs(deduped)


def test_param_delta_changes_huber() -> None:
    y, p = sample_arrays("regression", "huber")
    r = np.abs(p - y)
    default = by_loss(eval_json(REG, "-l", "huber"))["huber"]
    two = by_loss(eval_json(REG, "-l", "huber", "-p", "delta=2"))["huber"]
    assert default["params"] == {"delta": 1.0}
    assert two["params"] == {"delta": 2.0}
    assert two["cost"] != default["cost"]
    assert rel_close(two["cost"], float(np.mean(np.where(r <= 2, 0.5 * r * r, 2 * (r - 1)))))


def test_param_scoped_to_one_loss() -> None:
    d = by_loss(eval_json(REG, "-l", "huber,pseudo_huber", "-p", "huber.delta=2"))
    assert d["huber"]["params"] == {"delta": 2.0}
    assert d["pseudo_huber"]["params"] == {"delta": 1.0}
    both = by_loss(eval_json(REG, "-l", "huber,pseudo_huber", "-p", "delta=3", "-p", "huber.delta=2"))
    assert both["huber"]["params"] == {"delta": 2.0}
    assert both["pseudo_huber"]["params"] == {"delta": 3.0}
    assert both["huber"]["cost"] == d["huber"]["cost"]
    # A shared parameter goes to the losses that take it and leaves the others alone.
    mixed = by_loss(eval_json(REG, "-l", "mse,huber", "-p", "delta=2"))
    assert mixed["mse"]["params"] == {} and mixed["huber"]["params"] == {"delta": 2.0}


def test_weight_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    y, p = rng.normal(size=50), rng.normal(size=50)
    w = rng.uniform(0, 3, size=50)
    w[:5] = 0.0
    p[0] = 1e6  # a zero weight drops the row entirely
    path = tmp_path / "weighted.csv"
    pd.DataFrame({"y_true": y, "y_pred": p, "w": w}).to_csv(path, index=False, float_format="%.17g")
    r = by_loss(eval_json(path, "-l", "mse,mae", "--weight", "w"))
    assert r["mse"]["weighted"] is True
    assert rel_close(r["mse"]["cost"], float(np.sum(w * (p - y) ** 2) / np.sum(w)))
    assert rel_close(r["mae"]["cost"], float(np.sum(w * np.abs(p - y)) / np.sum(w)))
    assert rel_close(r["mse"]["divisor"], float(np.sum(w)))


def test_reduction_sum() -> None:
    y, p = sample_arrays("regression", "mse")
    r = eval_json(REG, "-l", "mse", "--reduction", "sum")["results"][0]
    assert r["reduction"] == "sum"
    assert r["cost"] == r["sum"]
    assert rel_close(r["cost"], float(np.sum((p - y) ** 2)))


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_reduction_none_prints_per_sample_csv(fmt: str) -> None:
    y, p = sample_arrays("regression", "mse")
    out = ok("eval", REG, "-l", "mse,mae", "--reduction", "none", "-f", fmt).stdout
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["row", "mse", "mae"]
    assert len(frame) == ROWS["regression"]
    assert frame["row"].tolist() == list(range(ROWS["regression"]))
    assert_allclose_rel(frame["mse"], (p - y) ** 2)
    assert_allclose_rel(frame["mae"], np.abs(p - y))


def test_reduction_none_json_keeps_full_precision() -> None:
    y, p = sample_arrays("binary", "bce")
    records = json.loads(ok("eval", DATA / "binary.csv", "-l", "bce", "--reduction", "none", "-f", "json").stdout)
    assert len(records) == ROWS["binary"]
    assert [r["row"] for r in records] == list(range(ROWS["binary"]))
    assert_allclose_rel([r["bce"] for r in records], NUMPY_REF["bce"](y, p))


def read_any(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_per_sample_file(tmp_path: Path, name: str) -> None:
    y, p = sample_arrays("regression", "mse")
    out = tmp_path / name
    d = eval_json(REG, "-l", "mse,huber", "--per-sample", out)
    assert rel_close(costs(d)["mse"], 3318.6234503674623)
    frame = read_any(out)
    assert list(frame.columns) == ["row", "mse", "huber"]
    assert len(frame) == ROWS["regression"]
    assert frame["row"].tolist() == list(range(ROWS["regression"]))
    assert_allclose_rel(frame["mse"], (p - y) ** 2)
    assert_allclose_rel(frame["huber"], NUMPY_REF["huber"](y, p))
    assert [f.name for f in tmp_path.iterdir()] == [name], "a temporary file was left behind"


def test_per_sample_to_stdout() -> None:
    # The per-sample rows are the data on stdout; the summary moves to stderr.
    y, p = sample_arrays("regression", "mse")
    r = ok("eval", REG, "-l", "mse,mae", "--per-sample", "-", "-f", "csv")
    per_sample = pd.read_csv(io.StringIO(r.stdout))
    assert list(per_sample.columns) == ["row", "mse", "mae"]
    assert len(per_sample) == ROWS["regression"]
    assert_allclose_rel(per_sample["mse"], (p - y) ** 2)
    summary = list(csv.DictReader(io.StringIO(r.stderr)))
    assert [s["loss"] for s in summary] == ["mse", "mae"]
    assert rel_close(float(summary[0]["cost"]), float(np.mean((p - y) ** 2)))


def test_labels_joined_on_key(tmp_path: Path) -> None:
    joined = eval_json(DATA / "binary_preds.csv", "--labels", DATA / "binary_labels.csv", "--key", "id", "-l", "bce")
    direct = costs(json.loads(sample_report("binary", "csv")))["bce"]
    assert joined["input"]["labels"] == str(DATA / "binary_labels.csv")
    assert joined["results"][0]["n"] == ROWS["binary"]
    assert rel_close(joined["results"][0]["cost"], direct)
    # Per-sample rows are named by the key, so they line up with the original ids.
    out = tmp_path / "ps.csv"
    args = ["--labels", DATA / "binary_labels.csv", "--key", "id", "-l", "bce", "--per-sample", out]
    eval_json(DATA / "binary_preds.csv", *args)
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "bce"]
    df = sample_frame("binary").set_index("id")
    expected = NUMPY_REF["bce"](df.loc[frame["id"], "y_true"].to_numpy(), df.loc[frame["id"], "y_pred"].to_numpy())
    assert_allclose_rel(frame["bce"], expected)


@pytest.mark.parametrize("decoy", [False, True], ids=["plain", "labels-win-over-a-y_true-in-predictions"])
def test_labels_row_aligned(tmp_path: Path, decoy: bool) -> None:
    df = sample_frame("regression")
    preds = df[["id", "y_pred"]].assign(y_true=-999.0) if decoy else df[["y_pred"]]
    preds.to_csv(tmp_path / "preds.csv", index=False, float_format="%.17g")
    df[["id", "y_true"]].to_csv(tmp_path / "labels.csv", index=False, float_format="%.17g")
    d = eval_json(tmp_path / "preds.csv", "--labels", tmp_path / "labels.csv", "-l", "mse")
    assert d["results"][0]["cost"] == costs(json.loads(sample_report("regression", "csv")))["mse"]


def test_explicit_columns() -> None:
    binary = costs(json.loads(sample_report("binary", "csv")))
    multi = costs(json.loads(sample_report("multiclass", "csv")))
    d = eval_json(DATA / "binary.csv", "-l", "bce_logits", "--y-true", "y_true", "--y-pred", "logit")
    assert d["results"][0]["columns"] == {"y_true": "y_true", "y_pred": "logit"}
    assert d["results"][0]["cost"] == binary["bce_logits"]
    d = eval_json(DATA / "multiclass.csv", "-l", "softmax_ce", "--y-pred", "logit_*")
    assert d["results"][0]["columns"] == {"y_true": "label", "y_pred": "logit_0..logit_9"}
    assert d["results"][0]["cost"] == multi["softmax_ce"]
    d = eval_json(DATA / "multiclass.parquet", "-l", "cce", "--y-true", "label", "--y-pred", "p_*")
    assert d["results"][0]["cost"] == multi["cce"]


def test_glob_columns_sort_by_class_number(tmp_path: Path) -> None:
    # p_10 must come after p_9, not after p_1.
    k = 11
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(k), size=40)
    y = rng.integers(0, k, size=40)
    frame = pd.DataFrame({"label": y, **{f"p_{i}": p[:, i] for i in range(k)}})
    frame[["label"] + sorted(frame.columns[1:])].to_csv(tmp_path / "k11.csv", index=False, float_format="%.17g")
    cost = eval_json(tmp_path / "k11.csv", "-l", "cce")["results"][0]["cost"]
    assert rel_close(cost, float(np.mean(-np.log(p[np.arange(40), y]))))


def test_one_hot_labels_by_glob(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n, k = 30, 3
    p = rng.dirichlet(np.ones(k), size=n)
    y = rng.integers(0, k, size=n)
    onehot = np.eye(k)[y]
    frame = pd.DataFrame({**{f"y_{i}": onehot[:, i] for i in range(k)}, **{f"p_{i}": p[:, i] for i in range(k)}})
    frame.assign(label=y).to_csv(tmp_path / "onehot.csv", index=False, float_format="%.17g")
    by_glob = eval_json(tmp_path / "onehot.csv", "-l", "cce,kl_div", "--y-true", "y_*")
    by_id = eval_json(tmp_path / "onehot.csv", "-l", "cce,kl_div")
    assert by_glob["results"][0]["columns"]["y_true"] == "y_0..y_2"
    expected = float(np.mean(-np.log(p[np.arange(n), y])))
    for name in ("cce", "kl_div"):
        assert rel_close(costs(by_glob)[name], expected)
        assert rel_close(costs(by_id)[name], expected)


@pytest.mark.parametrize("name", ["reg.tsv", "reg.txt"], ids=["tsv-extension", "tsv-by-content"])
def test_tsv_input(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    sample_frame("regression").to_csv(path, sep="\t", index=False, float_format="%.17g")
    d = eval_json(path, "-l", "mse")
    assert d["input"]["format"] == "tsv"
    assert d["results"][0]["cost"] == costs(json.loads(sample_report("regression", "csv")))["mse"]


def test_stdin_in_a_real_process() -> None:
    proc = lossctl_proc("eval", "-", "-l", "mse,mae", "-f", "json", input=(DATA / "regression.csv").read_text())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    d = json.loads(proc.stdout)
    assert d["input"]["predictions"] == "-"
    assert d["results"][0]["n"] == ROWS["regression"]
    assert rel_close(costs(d)["mse"], 3318.6234503674623)


# --- 6. the gate ---------------------------------------------------------------------------------


def test_gate_fails_above_threshold() -> None:
    r = run("eval", REG, "-l", "mse,mae", "--fail-above", "100", "-f", "json")
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    d = json.loads(r.stdout)  # the results are still printed
    assert costs(d)["mse"] > 100 > costs(d)["mae"]
    assert d["gate"] == {"fail_above": 100.0, "failed": ["mse"], "passed": False}
    assert "gate failed" in r.stderr and "mse" in r.stderr and "mae" not in r.stderr


def test_gate_passes_below_threshold() -> None:
    r = run("eval", REG, "-l", "mse,mae", "--fail-above", "1e4", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    assert json.loads(r.stdout)["gate"]["passed"] is True


def test_gate_exit_code_in_a_real_process() -> None:
    failed = lossctl_proc("eval", "sample_data/regression.csv", "-l", "rmse", "--fail-above", "50", "-f", "csv")
    passed = lossctl_proc("eval", "sample_data/regression.csv", "-l", "rmse", "--fail-above", "60", "-f", "csv")
    assert failed.returncode == 1 and passed.returncode == 0
    assert "gate failed" in failed.stderr and "rmse" in failed.stderr
    assert failed.stdout.startswith("loss,") and passed.stdout.startswith("loss,")
    assert "Traceback" not in failed.stderr + passed.stderr


# --- 7. error paths --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small broken input files, one per error case."""
    d = tmp_path_factory.mktemp("bad")
    files = {
        "empty.csv": "",
        "header_only.csv": "y_true,y_pred\n",
        "nonnum.csv": "y_true,y_pred\n1,2\n3,abc\n",
        "nan.csv": "y_true,y_pred\n1,2\n3,nan\n",
        "emptycell.csv": "y_true,y_pred\n1,2\n3,\n",
        "prob.csv": "y_true,y_pred\n0,0.2\n1,1.5\n",
        "hinge2.csv": "y_true,y_pred\n1,0.5\n2,0.3\n",
        "classid.csv": "y_true,p_0,p_1\n0,0.5,0.5\n2,0.5,0.5\n",
        "rowsum.csv": "y_true,p_0,p_1\n0,0.5,0.5\n1,0.6,0.6\n",
        "preds3.csv": "y_pred\n1\n2\n3\n",
        "labels2.csv": "y_true\n1\n2\n",
        "dup.csv": "id,y_pred\n1,0.5\n1,0.3\n",
        "duplab.csv": "id,y_true\n1,1\n2,0\n",
        "keyp.csv": "id,y_pred\n1,0.5\n2,0.3\n",
        "keyl.csv": "id,y_true\n1,1\n3,0\n",
        "negw.csv": "y_true,y_pred,w\n1,2,1\n3,4,-1\n",
        "bad.parquet": "this is not parquet\n",
    }
    for name, text in files.items():
        (d / name).write_text(text)
    (d / "adir").mkdir()
    return d


ERROR_CASES = [
    ("missing-file", "eval {bad}/nope.csv -l mse", ["nope.csv", "does not exist"]),
    ("directory", "eval {bad}/adir -l mse", ["adir", "directory"]),
    ("empty-file", "eval {bad}/empty.csv -l mse", ["empty.csv", "empty"]),
    ("header-only", "eval {bad}/header_only.csv -l mse", ["header_only.csv", "rows"]),
    ("corrupt-parquet", "eval {bad}/bad.parquet -l mse", ["bad.parquet", "Parquet"]),
    ("unknown-loss", "eval {reg} -l msee", ["'msee'", "Did you mean 'mse'?"]),
    ("unknown-param", "eval {reg} -l huber -p delt=1", ["'delt'", "delta"]),
    ("param-out-of-range", "eval {reg} -l huber -p delta=-1", ["delta=-1", "(0, inf)"]),
    ("param-not-a-number", "eval {reg} -l huber -p delta=abc", ["delta", "'abc'"]),
    ("param-without-value", "eval {reg} -l huber -p delta", ["key=value", "'delta'"]),
    ("param-no-loss-takes", "eval {reg} -l mse -p delta=2", ["'delta'", "mse"]),
    ("scoped-param-unselected-loss", "eval {reg} -l mse -p huber.delta=2", ["huber"]),
    ("missing-y-true-column", "eval {reg} -l mse --y-true nope", ["'nope'", "id, split, y_true, y_pred"]),
    ("missing-weight-column", "eval {reg} -l mse --weight wt", ["'wt'", "id, split, y_true, y_pred"]),
    ("non-numeric-cell", "eval {bad}/nonnum.csv -l mse", ["'y_pred'", "'abc'", "row 1"]),
    ("nan-cell", "eval {bad}/nan.csv -l mse", ["y_pred", "row 1", "NaN"]),
    ("empty-cell", "eval {bad}/emptycell.csv -l mse", ["y_pred", "row 1", "NaN"]),
    ("bce-probability-above-1", "eval {bad}/prob.csv -l bce", ["y_pred", "row 1", "1.5", "bce_logits"]),
    ("bce-on-logits", "eval {data}/binary.csv -l bce --y-pred logit", ["logit", "bce_logits"]),
    ("hinge-label-2", "eval {bad}/hinge2.csv -l hinge", ["y_true", "row 1", "is 2", "hinge"]),
    ("class-id-out-of-range", "eval {bad}/classid.csv -l cce", ["y_true", "row 1", "is 2", "0..1"]),
    ("rows-not-summing-to-1", "eval {bad}/rowsum.csv -l cce", ["p_0..p_1", "row 1", "1.2"]),
    ("labels-length-mismatch", "eval {bad}/preds3.csv --labels {bad}/labels2.csv -l mse", ["3 rows", "has 2"]),
    ("duplicate-keys", "eval {bad}/dup.csv --labels {bad}/duplab.csv --key id -l bce", ["'id'", ": 1 at row 1"]),
    ("unmatched-keys", "eval {bad}/keyp.csv --labels {bad}/keyl.csv --key id -l bce", ["'id'", "1 prediction"]),
    ("key-without-labels", "eval {data}/binary.csv -l bce --key id", ["--key", "--labels"]),
    ("multiclass-on-one-column", "eval {data}/multiclass.csv -l cce --y-pred p_0", ["cce", "--y-pred"]),
    ("binary-on-many-columns", "eval {data}/multiclass.csv -l bce --y-pred p_*", ["bce", "p_*", "10"]),
    ("glob-matches-nothing", "eval {data}/multiclass.csv -l softmax_ce --y-pred z_*", ["'z_*'"]),
    ("per-sample-missing-dir", "eval {reg} -l mse --per-sample {bad}/nodir/o.csv", ["nodir"]),
    ("per-sample-parquet-missing-dir", "eval {reg} -l mse --per-sample {bad}/nodir/o.parquet", ["nodir"]),
    ("reduction-sum-rmse", "eval {reg} -l rmse --reduction sum", ["rmse", "sum"]),
    ("negative-weight", "eval {bad}/negw.csv -l mse --weight w", ["w at row 1", "-1"]),
    ("both-inputs-from-stdin", "eval - --labels - -l mse", ["stdin"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "needles"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_error_is_one_line_exit_2(bad: Path, args: str, needles: list[str]) -> None:
    argv = [a.format(bad=bad, data=DATA, reg=DATA / "regression.csv") for a in args.split()]
    assert_error(run(*argv), *needles)


@pytest.mark.parametrize("target", ["predictions", "labels", "predictions-other-spelling"])
def test_per_sample_refuses_to_overwrite_an_input(tmp_path: Path, target: str) -> None:
    preds, labels = tmp_path / "preds.csv", tmp_path / "labels.csv"
    shutil.copy(DATA / "binary_preds.csv", preds)
    shutil.copy(DATA / "binary_labels.csv", labels)
    before = {p: p.read_bytes() for p in (preds, labels)}
    out = {
        "predictions": str(preds),
        "labels": str(labels),
        "predictions-other-spelling": str(tmp_path / "sub" / ".." / "preds.csv"),
    }[target]
    (tmp_path / "sub").mkdir()
    r = run("eval", preds, "--labels", labels, "--key", "id", "-l", "bce", "--per-sample", out)
    assert_error(r, "--per-sample", "input")
    assert {p: p.read_bytes() for p in (preds, labels)} == before


@pytest.mark.parametrize(
    ("args", "option"),
    [(["eval", REG, "-l", "mse", "-f", "yaml"], "--format"), (["eval", REG], "--loss"), (["nosuch"], "nosuch")],
    ids=["bad-format", "no-loss", "unknown-command"],
)
def test_click_usage_errors_exit_2(args: list[Any], option: str) -> None:
    r = run(*args)
    assert r.exit_code == 2
    assert isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output
    assert option in r.stderr
    assert r.stdout == ""


def test_debug_zero_is_not_debug() -> None:
    r = run("eval", REG, "-l", "mse", "--y-true", "nope", env={"LOSSCTL_DEBUG": "0"})
    assert_error(r, "'nope'")


def test_verbose_reraises_the_error() -> None:
    r = run("eval", REG, "-l", "mse", "--y-true", "nope", "--verbose")
    assert isinstance(r.exception, LossctlError)
    assert "'nope'" in str(r.exception)


def test_lossctl_debug_shows_the_traceback() -> None:
    quiet = lossctl_proc("eval", "sample_data/regression.csv", "-l", "huber", "-p", "delta=-1")
    loud = lossctl_proc("eval", "sample_data/regression.csv", "-l", "huber", "-p", "delta=-1", LOSSCTL_DEBUG="1")
    assert quiet.returncode == 2
    assert "Traceback" not in quiet.stderr
    assert quiet.stderr.startswith("lossctl: error: parameter delta=-1") and quiet.stderr.count("\n") == 1
    assert loud.returncode != 0
    assert "Traceback (most recent call last)" in loud.stderr
    assert "UsageError" in loud.stderr and "delta=-1" in loud.stderr


# --- 8. start-up cost ---------------------------------------------------------------------------------

_REPORT_HEAVY = f"print(','.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')"


def python_snippet(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env_without_debug(), timeout=120
    )


def test_import_is_light() -> None:
    proc = python_snippet("import sys, lossctl, lossctl.cli\n" + _REPORT_HEAVY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "none"


def test_a_plain_eval_imports_neither_pandas_nor_scipy_linalg(tmp_path: Path) -> None:
    """The short-run start-up budget: numbers go from Arrow to NumPy without pandas, and numba's
    BLAS probe (scipy.linalg, about 0.2 s) is refused; both files formats, with empty cells."""
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("y_true,y_pred\n1,0.5\n2,\n3,2.5\n")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lossctl.cli import app\n"
        f"for path in ({str(csv_path)!r}, 'sample_data/binary.parquet'):\n"
        "    r = CliRunner().invoke(app, ['eval', path, '-l', 'mse', '--nan', 'omit', '-f', 'json'])\n"
        "    assert r.exit_code == 0, r.output\n"
        "print(','.join(m for m in ('pandas', 'scipy.linalg') if m in sys.modules) or 'none')\n"
    )
    proc = python_snippet(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "none"


def test_help_list_and_describe_are_light() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lossctl.cli import app\n"
        "for args in (['--help'], ['list'], ['list', '-f', 'table'], ['describe', 'huber'], ['eval', '--help']):\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == 0 and r.stdout, (args, r.exit_code, r.stderr)\n" + _REPORT_HEAVY
    )
    proc = python_snippet(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "none"
