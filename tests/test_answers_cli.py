"""End to end through the CLI: intervals, --where, --group-by, --top, --hist and the mistake
warnings of ``lossctl eval``; ``lossctl compare``; ``lossctl recommend``; and the matching public
Python API.

Like ``test_cli.py``, most tests go through ``typer.testing.CliRunner`` on ``lossctl.cli.app``
(stdout and stderr captured apart); the import-cost checks run a real interpreter. Every expected
number is computed independently from the CSVs with pandas / NumPy (and SciPy's Student t and
paired t-test where a test needs them).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clitest import assert_error, eval_json, ok, plain_environment, run  # noqa: F401
from typer.testing import Result

import lossctl

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data"
REG = DATA / "regression.csv"
GBM = DATA / "regression_gbm.csv"
BIN = DATA / "binary.csv"
MULTI = DATA / "multiclass.csv"
PREDS = DATA / "binary_preds.csv"
LABELS = DATA / "binary_labels.csv"
P_COLS = [f"p_{i}" for i in range(10)]
REL = 1e-9


# --- helpers ---------------------------------------------------------------------------------


def compare_json(*args: Any) -> dict[str, Any]:
    return json.loads(ok("compare", *args, "-f", "json").stdout)


def recommend_json(*args: Any) -> dict[str, Any]:
    return json.loads(ok("recommend", *args, "-f", "json").stdout)


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


@functools.cache
def frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def sq_err(df: pd.DataFrame) -> np.ndarray:
    return ((df["y_pred"] - df["y_true"]) ** 2).to_numpy(dtype=float)


def bce_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def huber_rows(y: np.ndarray, p: np.ndarray, delta: float = 1.0) -> np.ndarray:
    a = np.abs(p - y)
    return np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))


def cce_rows(df: pd.DataFrame) -> np.ndarray:
    p = df[P_COLS].to_numpy(dtype=float)
    y = df["label"].to_numpy(dtype=int)
    return -np.log(p[np.arange(len(y)), y])


def t_interval(losses: np.ndarray, level: float) -> tuple[float, float]:
    stats = pytest.importorskip("scipy.stats")
    n = losses.shape[0]
    half = stats.t.ppf(0.5 + level / 2, n - 1) * losses.std(ddof=1) / math.sqrt(n)
    return float(losses.mean() - half), float(losses.mean() + half)


def holm(ps: list[float]) -> list[float]:
    order = np.argsort(ps)
    out = [0.0] * len(ps)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- eval --ci ---------------------------------------------------------------------------------


def test_normal_interval_is_mean_plus_minus_t_sd_over_sqrt_n() -> None:
    df = frame(REG)
    y, p = df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)
    d = eval_json(REG, "-l", "mse,rmse,mae,huber", "--ci", "0.95")
    per_row = {"mse": (p - y) ** 2, "rmse": (p - y) ** 2, "mae": np.abs(p - y), "huber": huber_rows(y, p)}
    assert [r["loss"] for r in d["results"]] == list(per_row)
    for r in d["results"]:
        ci = r["ci"]
        assert ci["level"] == 0.95 and ci["method"] == "normal"
        assert ci["low"] <= r["cost"] <= ci["high"], r["loss"]
        low, high = t_interval(per_row[r["loss"]], 0.95)
        if r["loss"] == "rmse":  # the mean's interval through the square root
            low, high = math.sqrt(max(low, 0.0)), math.sqrt(high)
        assert close(ci["low"], max(low, 0.0)), (r["loss"], ci, low)
        assert close(ci["high"], high), (r["loss"], ci, high)


def test_normal_interval_on_classification_and_other_levels() -> None:
    df = frame(BIN)
    losses = bce_rows(df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float))
    for level in (0.8, 0.99):
        r = eval_json(BIN, "-l", "bce", "--ci", level)["results"][0]
        assert close(r["cost"], float(losses.mean()))
        low, high = t_interval(losses, level)
        assert r["ci"]["level"] == level
        assert r["ci"]["low"] <= r["cost"] <= r["ci"]["high"]
        assert close(r["ci"]["low"], max(low, 0.0)) and close(r["ci"]["high"], high)


def test_bootstrap_interval_is_seeded() -> None:
    args = (REG, "-l", "mse,mae", "--ci", "0.95", "--ci-method", "bootstrap", "--replicates", "500")
    a = eval_json(*args, "--seed", "3")
    b = eval_json(*args, "--seed", "3")
    c = eval_json(*args, "--seed", "4")
    ci_a = [r["ci"] for r in a["results"]]
    assert ci_a == [r["ci"] for r in b["results"]]
    assert ci_a != [r["ci"] for r in c["results"]]
    for r in a["results"]:
        assert r["ci"]["method"] == "bootstrap" and r["ci"]["replicates"] == 500 and r["ci"]["seed"] == 3
        assert r["ci"]["low"] <= r["cost"] <= r["ci"]["high"]
    # A percentile bootstrap of a mean of 442 rows lands near the t interval.
    mse = sq_err(frame(REG))
    low, high = t_interval(mse, 0.95)
    ci = a["results"][0]["ci"]
    assert abs(ci["low"] - low) < 0.25 * (high - low) and abs(ci["high"] - high) < 0.25 * (high - low)


@pytest.mark.parametrize("level", ["1.5", "0", "1", "-0.2"])
def test_ci_level_out_of_range_is_a_usage_error(level: str) -> None:
    assert_error(run("eval", REG, "-l", "mse", "--ci", level), "between 0 and 1")


def test_too_few_replicates_is_a_usage_error() -> None:
    r = run("eval", REG, "-l", "mse", "--ci", "0.9", "--ci-method", "bootstrap", "--replicates", "10")
    assert r.exit_code == 2
    assert "--replicates" in r.stderr and r.stdout == ""


def test_reduction_none_refuses_an_interval() -> None:
    assert_error(run("eval", REG, "-l", "mse", "--reduction", "none", "--ci", "0.9"), "--ci", "--reduction none")


# --- eval --group-by ---------------------------------------------------------------------------


def test_group_by_split_costs_and_overfitting_verdict() -> None:
    df = frame(GBM)
    d = eval_json(GBM, "-l", "mse", "--group-by", "split")
    groups = d["results"][0]["groups"]["split"]
    expected = df.assign(l=sq_err(df)).groupby("split")["l"].agg(["mean", "size"])
    assert [g["group"] for g in groups] == ["train", "validation"]
    for g in groups:
        assert g["n"] == expected.loc[g["group"], "size"]
        assert close(g["cost"], expected.loc[g["group"], "mean"])
        assert g["ci"]["low"] <= g["cost"] <= g["ci"]["high"]
    assert 11 < groups[0]["cost"] < 12 and 4000 < groups[1]["cost"] < 4300
    [v] = d["overfitting"]
    assert v["train"] == "train" and v["held_out"] == "validation" and v["column"] == "split"
    assert close(v["train_cost"], expected.loc["train", "mean"])
    assert close(v["held_out_cost"], expected.loc["validation", "mean"])
    assert close(v["gap"], expected.loc["validation", "mean"] - expected.loc["train", "mean"])
    assert v["ci"]["low"] > 0 and v["p_value"] < 1e-6
    assert "overfitting" in v["verdict"] and "no significant gap" not in v["verdict"]


def test_group_by_split_on_ridge_finds_no_gap() -> None:
    df = frame(REG)
    d = eval_json(REG, "-l", "mse", "--group-by", "split")
    [v] = d["overfitting"]
    means = df.assign(l=sq_err(df)).groupby("split")["l"].mean()
    assert close(v["gap"], means["validation"] - means["train"])
    assert v["ci"]["low"] < 0 < v["ci"]["high"] and v["p_value"] > 0.05
    assert "no significant gap" in v["verdict"]


def test_group_by_label_on_multiclass_has_accuracy_per_class() -> None:
    df = frame(MULTI)
    d = eval_json(MULTI, "-l", "cce", "--group-by", "label")
    groups = d["results"][0]["groups"]["label"]
    assert [g["group"] for g in groups] == [str(i) for i in range(10)]
    hits = df[P_COLS].to_numpy().argmax(axis=1) == df["label"].to_numpy()
    by = df.assign(l=cce_rows(df), hit=hits).groupby("label")
    for g in groups:
        k = int(g["group"])
        assert g["n"] == by.size()[k]
        assert close(g["cost"], by["l"].mean()[k])
        assert close(g["accuracy"], by["hit"].mean()[k])
    assert sum(g["n"] for g in groups) == len(df)
    assert "overfitting" not in d


def test_group_by_two_columns_combines_them() -> None:
    df = frame(MULTI)
    d = eval_json(MULTI, "-l", "cce", "--group-by", "split,label")
    [(name, groups)] = d["results"][0]["groups"].items()
    assert name == "split+label"
    expected = df.assign(l=cce_rows(df)).groupby(["split", "label"])["l"].agg(["mean", "size"])
    assert len(groups) == len(expected) == 20
    for g in groups:
        split, label = g["group"].split(" | ")
        assert g["n"] == expected.loc[(split, int(label)), "size"]
        assert close(g["cost"], expected.loc[(split, int(label)), "mean"])


def test_group_by_twice_gives_two_breakdowns() -> None:
    d = eval_json(MULTI, "-l", "cce", "--group-by", "split", "--group-by", "label")
    groups = d["results"][0]["groups"]
    assert list(groups) == ["split", "label"]
    assert len(groups["split"]) == 2 and len(groups["label"]) == 10


def test_group_by_unknown_column_names_it() -> None:
    assert_error(run("eval", REG, "-l", "mse", "--group-by", "nope"), "'nope'", "split")


def test_group_by_in_csv_and_table_output() -> None:
    df = frame(REG)
    rows = csv_rows(ok("eval", REG, "-l", "mse", "--group-by", "split", "-f", "csv").stdout)
    assert [r["group"] for r in rows] == ["", "split=train", "split=validation"]
    means = df.assign(l=sq_err(df)).groupby("split")["l"].mean()
    assert close(float(rows[1]["cost"]), means["train"]) and close(float(rows[2]["cost"]), means["validation"])
    assert rows[1]["n"] == str((df["split"] == "train").sum())
    table = ok("eval", REG, "-l", "mse", "--group-by", "split", "-f", "table").stdout
    assert "mse by split" in table and "validation" in table and "no significant gap" in table


def test_weighted_cost_interval_groups_and_top(tmp_path: Path) -> None:
    stats = pytest.importorskip("scipy.stats")
    df = frame(REG).copy()
    df["w"] = 1.0 + (df["id"] % 3)
    path = tmp_path / "weighted.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    d = eval_json(path, "-l", "mse", "--weight", "w", "--ci", "0.9", "--group-by", "split", "--top", "2")
    r = d["results"][0]
    losses, w = sq_err(df), df["w"].to_numpy(float)
    n, cost = len(losses), float(np.sum(w * losses) / np.sum(w))
    assert r["weighted"] is True and close(r["cost"], cost)
    # Delta method for a ratio of sums: each row's influence w (l - R) / sum(w).
    z = w * (losses - cost) / np.sum(w)
    half = stats.t.ppf(0.95, n - 1) * math.sqrt(np.sum(z * z) * n / (n - 1))
    assert close(r["ci"]["low"], cost - half) and close(r["ci"]["high"], cost + half)
    for g in r["groups"]["split"]:
        m = (df["split"] == g["group"]).to_numpy()
        assert close(g["cost"], float(np.sum(w[m] * losses[m]) / np.sum(w[m])))
    order = np.argsort(-(w * losses), kind="stable")[:2]  # ranked by contribution w * l
    assert [t["row"] for t in r["top"]] == order.tolist()
    for t, i in zip(r["top"], order, strict=True):
        assert close(t["loss"], losses[i]) and close(t["share"], w[i] * losses[i] / np.sum(w * losses))


# --- eval --top and --hist ---------------------------------------------------------------------


def test_top_lists_the_largest_losses_by_row_number() -> None:
    df = frame(GBM)
    losses = sq_err(df)
    r = eval_json(GBM, "-l", "mse", "--top", "3")["results"][0]
    want = np.argsort(-losses, kind="stable")[:3]
    assert [t["row"] for t in r["top"]] == want.tolist()
    for t, i in zip(r["top"], want, strict=True):
        assert close(t["loss"], losses[i])
        assert close(t["share"], losses[i] / losses.sum())
        assert float(t["y_true"]) == pytest.approx(df["y_true"][i], rel=1e-5)
    assert close(sum(t["share"] for t in r["top"]), float(np.sort(losses)[-3:].sum() / losses.sum()))
    assert [t["loss"] for t in r["top"]] == sorted((t["loss"] for t in r["top"]), reverse=True)


def test_top_after_where_keeps_the_original_row_numbers() -> None:
    df = frame(BIN)
    val = df[df["split"] == "validation"]
    losses = bce_rows(val["y_true"].to_numpy(float), val["y_pred"].to_numpy(float))
    r = eval_json(BIN, "-l", "bce", "--where", "split=validation", "--top", "3")["results"][0]
    order = np.argsort(-losses, kind="stable")[:3]
    assert [t["row"] for t in r["top"]] == val.index[order].tolist()
    assert close(sum(t["share"] for t in r["top"]), float(losses[order].sum() / losses.sum()))


def test_top_with_labels_file_names_rows_by_key() -> None:
    merged = frame(PREDS).merge(frame(LABELS), on="id")
    losses = bce_rows(merged["y_true"].to_numpy(float), merged["y_pred"].to_numpy(float))
    d = eval_json(PREDS, "--labels", LABELS, "--key", "id", "-l", "bce", "--top", "3")
    r = d["results"][0]
    assert close(r["cost"], float(losses.mean()))
    order = np.argsort(-losses, kind="stable")[:3]
    assert [str(t["row"]) for t in r["top"]] == [str(i) for i in merged["id"].to_numpy()[order]]
    for t, i in zip(r["top"], order, strict=True):
        assert close(t["loss"], losses[i]) and close(t["share"], losses[i] / losses.sum())


def test_negative_top_is_a_usage_error() -> None:
    r = run("eval", REG, "-l", "mse", "--top", "-1")
    assert r.exit_code == 2 and "--top" in r.stderr and r.stdout == ""


def test_histogram_in_table_and_json() -> None:
    table = ok("eval", REG, "-l", "mse", "--hist", "-f", "table").stdout
    assert "█" in table and "per-sample losses (442 rows" in table
    for stem, loss in ((REG, "mse"), (BIN, "bce"), (MULTI, "cce")):
        h = eval_json(stem, "-l", loss, "--hist")["results"][0]["histogram"]
        n = len(frame(stem))
        assert h["n"] == n
        assert sum(h["counts"]) + h["zeros"] + h["nonfinite"] == n
        assert len(h["edges"]) == len(h["counts"]) + 1
        assert h["edges"] == sorted(h["edges"])


def test_histogram_counts_exact_zeros_apart() -> None:
    df = frame(BIN)
    s, y = df["logit"].to_numpy(float), np.where(df["y_true"].to_numpy() > 0, 1.0, -1.0)
    losses = np.maximum(0.0, 1.0 - y * s) ** 2
    h = eval_json(BIN, "-l", "squared_hinge", "--hist")["results"][0]["histogram"]
    assert h["zeros"] == int((losses == 0).sum()) > 0
    assert sum(h["counts"]) == int((losses > 0).sum())
    if h["scale"] == "log":
        assert close(h["edges"][0], float(losses[losses > 0].min())) and close(h["edges"][-1], float(losses.max()))


# --- eval --where ------------------------------------------------------------------------------


def test_where_equals_filtering_by_hand() -> None:
    df = frame(REG)
    val = df[df["split"] == "validation"]
    d = eval_json(REG, "-l", "mse,mae", "--where", "split=validation")
    assert d["input"]["where"] == ["split=validation", f"kept {len(val)} of {len(df)} rows"]
    costs = {r["loss"]: r["cost"] for r in d["results"]}
    assert close(costs["mse"], float(sq_err(val).mean()))
    assert close(costs["mae"], float((val["y_pred"] - val["y_true"]).abs().mean()))
    assert d["results"][0]["n"] == len(val)
    neg = eval_json(REG, "-l", "mse,mae", "--where", "split!=train")
    assert {r["loss"]: r["cost"] for r in neg["results"]} == costs
    both = eval_json(REG, "-l", "mse", "--where", "split=train,validation")
    assert close(both["results"][0]["cost"], float(sq_err(df).mean()))


def test_where_combines_filters() -> None:
    df = frame(MULTI)
    sub = df[(df["split"] == "validation") & (df["label"].isin([3, 5]))]
    d = eval_json(MULTI, "-l", "cce", "--where", "split=validation", "--where", "label=3,5")
    assert d["results"][0]["n"] == len(sub)
    assert close(d["results"][0]["cost"], float(cce_rows(sub).mean()))


def test_where_with_no_match_lists_the_values() -> None:
    assert_error(run("eval", REG, "-l", "mse", "--where", "split=nope"), "split", "train", "validation")


@pytest.mark.parametrize("bad", ["split", "=train", "split="])
def test_malformed_where_is_a_usage_error(bad: str) -> None:
    assert_error(run("eval", REG, "-l", "mse", "--where", bad), "--where", "COL=VALUE")


def test_where_on_unknown_column_names_it() -> None:
    assert_error(run("eval", REG, "-l", "mse", "--where", "fold=1"), "'fold'")


# --- eval warnings -----------------------------------------------------------------------------


def warning_lines(r: Result) -> list[str]:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert all(x.startswith("lossctl: warning: ") for x in lines), lines
    return lines


def test_mse_on_binary_labels_warns_but_succeeds() -> None:
    r = ok("eval", BIN, "-l", "mse", "-f", "json")
    [line] = warning_lines(r)
    assert "0/1" in line and "Brier" in line and "bce" in line
    d = json.loads(r.stdout)  # stdout stays clean JSON
    df = frame(BIN)
    assert close(d["results"][0]["cost"], float(sq_err(df).mean()))
    assert d["warnings"] == [line.removeprefix("lossctl: warning: ")]


def test_probabilities_given_to_bce_logits_warn() -> None:
    r = ok("eval", BIN, "-l", "bce_logits", "--y-pred", "y_pred", "-f", "json")
    [line] = warning_lines(r)
    assert "bce_logits" in line and "probabilities" in line and "--loss bce" in line
    assert json.loads(r.stdout)["warnings"]


def test_probabilities_given_to_hinge_warn() -> None:
    r = ok("eval", BIN, "-l", "hinge", "--y-pred", "y_pred", "-f", "json")
    [line] = warning_lines(r)
    assert "hinge" in line and "probabilities" in line


def test_no_warnings_silences_them() -> None:
    r = ok("eval", BIN, "-l", "mse,bce_logits", "--y-pred", "y_pred", "--no-warnings", "-f", "json")
    assert r.stderr == ""
    assert "warnings" not in json.loads(r.stdout)


@pytest.mark.parametrize(("loss", "col"), [("bce", "y_pred"), ("bce_logits", "logit"), ("hinge", "logit")])
def test_right_inputs_do_not_warn(loss: str, col: str) -> None:
    r = ok("eval", BIN, "-l", loss, "--y-pred", col, "-f", "json")
    assert r.stderr == ""
    assert "warnings" not in json.loads(r.stdout)


def test_squared_error_dominated_by_outliers_warns(tmp_path: Path) -> None:
    path, y, p = _outlier_file(tmp_path)
    r = ok("eval", path, "-l", "mse,mae", "-f", "json")
    [line] = warning_lines(r)
    losses = (p - y) ** 2
    share = np.sort(losses)[-4:].sum() / losses.sum()  # the worst 1% of 400 rows
    assert line.startswith("lossctl: warning: mse: the worst 4 of 400 rows (1.0%)")
    assert f"carry {100 * share:.1f}% of the summed loss" in line and "--loss huber -p delta=" in line
    assert ok("eval", path, "-l", "mae", "-f", "json").stderr == ""


def test_multiclass_probabilities_given_to_softmax_ce_warn() -> None:
    r = ok("eval", MULTI, "-l", "softmax_ce", "--y-pred", "p_*", "-f", "json")
    [line] = warning_lines(r)
    assert "softmax_ce" in line and "--loss cce" in line
    assert ok("eval", MULTI, "-l", "softmax_ce", "-f", "json").stderr == ""


# --- compare -----------------------------------------------------------------------------------


def validation(path: Path) -> pd.DataFrame:
    df = frame(path)
    return df[df["split"] == "validation"]


def test_compare_numbers_match_a_paired_t_test() -> None:
    stats = pytest.importorskip("scipy.stats")
    a, b = sq_err(validation(REG)), sq_err(validation(GBM))
    d = compare_json(REG, GBM, "-l", "mse", "--where", "split=validation")
    assert d["input"]["rows"] == len(a) == 111
    [c] = d["comparisons"]
    assert c["loss"] == "mse" and c["n"] == len(a)
    base, cand = c["models"]
    assert base["name"] == "regression" and base["baseline"] and cand["name"] == "regression_gbm"
    assert close(base["cost"], float(a.mean())) and close(cand["cost"], float(b.mean()))
    assert (base["rank"], cand["rank"]) == (1, 2)
    for m, losses in ((base, a), (cand, b)):
        low, high = t_interval(losses, 0.95)
        assert close(m["ci"]["low"], low) and close(m["ci"]["high"], high)
    [diff] = c["diffs"]
    assert close(diff["diff"], float(b.mean() - a.mean()))
    assert close(diff["p_value"], float(stats.ttest_rel(b, a).pvalue), rel=1e-7)
    low, high = t_interval(b - a, 0.95)
    assert close(diff["ci"]["low"], low) and close(diff["ci"]["high"], high)
    assert diff["rows_better"] == int((b < a).sum()) and diff["rows_worse"] == int((b > a).sum())
    assert close(diff["win_share"], float((b < a).mean()))
    assert diff["significant"] is True and diff["p_holm"] is None
    assert "regression_gbm is significantly worse than regression" in c["verdicts"][0]


def test_fail_if_worse_gates_on_the_candidate() -> None:
    args = ("-l", "mse", "--where", "split=validation", "--fail-if-worse", "-f", "json")
    r = run("compare", REG, GBM, *args)
    assert r.exit_code == 1
    assert "regression_gbm" in r.stderr and "gate failed" in r.stderr
    d = json.loads(r.stdout)
    assert d["gate"] == {"fail_if_worse": True, "failed": ["mse: regression_gbm"], "passed": False}
    r = ok("compare", GBM, REG, *args)
    assert json.loads(r.stdout)["gate"]["passed"] is True
    # Without the gate, a worse candidate is only reported.
    ok("compare", REG, GBM, "-l", "mse", "--where", "split=validation", "-f", "json")


@pytest.fixture
def third_model(tmp_path: Path) -> Path:
    """The Ridge predictions pulled halfway towards the labels: a clearly better model."""
    df = frame(REG).copy()
    df["y_pred"] = 0.5 * df["y_pred"] + 0.5 * df["y_true"]
    path = tmp_path / "blend.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    return path


def test_three_models_get_ranks_and_holm(third_model: Path) -> None:
    stats = pytest.importorskip("scipy.stats")
    a, b, c3 = sq_err(frame(REG)), sq_err(frame(GBM)), sq_err(pd.read_csv(third_model))
    d = compare_json(REG, GBM, third_model, "-l", "mse")
    [c] = d["comparisons"]
    costs = {m["name"]: m["cost"] for m in c["models"]}
    assert close(costs["regression"], float(a.mean()))
    assert close(costs["regression_gbm"], float(b.mean()))
    assert close(costs["blend"], float(c3.mean()))
    ranks = {m["name"]: m["rank"] for m in c["models"]}
    want = {n: i for i, n in enumerate(sorted(costs, key=costs.get), 1)}
    assert ranks == want
    ps = [float(stats.ttest_rel(x, a).pvalue) for x in (b, c3)]
    adjusted = holm(ps)
    assert [x["candidate"] for x in c["diffs"]] == ["regression_gbm", "blend"]
    for x, p, p_adj in zip(c["diffs"], ps, adjusted, strict=True):
        assert x["p_holm"] is not None
        assert close(x["p_value"], p, rel=1e-6) or p < 1e-300
        assert close(x["p_holm"], p_adj, rel=1e-6) or p_adj < 1e-300
        assert x["p_holm"] >= x["p_value"]
    assert len(c["verdicts"]) == 2 and all("Holm" in v for v in c["verdicts"])


def test_compare_by_key_matches_compare_by_position(tmp_path: Path) -> None:
    shuffled = tmp_path / "gbm_shuffled.csv"
    frame(GBM).sample(frac=1.0, random_state=7).to_csv(shuffled, index=False, float_format="%.17g")
    by_pos = compare_json(REG, GBM, "-l", "mse,mae")
    by_key = compare_json(REG, shuffled, "-l", "mse,mae", "--key", "id")
    assert by_key["input"]["key"] == "id" and by_key["input"]["rows"] == 442
    assert "unmatched" not in by_key["input"]
    for p, k in zip(by_pos["comparisons"], by_key["comparisons"], strict=True):
        assert p["n"] == k["n"] == 442
        for mp, mk in zip(p["models"], k["models"], strict=True):
            assert close(mp["cost"], mk["cost"], 1e-12) and mp["rank"] == mk["rank"]
        dp, dk = p["diffs"][0], k["diffs"][0]
        for field in ("diff", "p_value", "win_share"):
            assert close(dp[field], dk[field], 1e-12), field
        assert (dp["rows_better"], dp["rows_worse"]) == (dk["rows_better"], dk["rows_worse"])


def test_rows_missing_from_one_file_are_reported(tmp_path: Path) -> None:
    gbm = frame(GBM)
    dropped = [3, 50, 99, 200, 441]
    partial = tmp_path / "gbm_partial.csv"
    gbm[~gbm["id"].isin(dropped)].sample(frac=1.0, random_state=1).to_csv(partial, index=False, float_format="%.17g")
    d = compare_json(REG, partial, "-l", "mse", "--key", "id")
    unmatched = d["input"]["unmatched"]
    assert list(unmatched) == [str(REG)]
    assert unmatched[str(REG)]["rows"] == len(dropped)
    assert sorted(int(x) for x in unmatched[str(REG)]["examples"]) == dropped
    keep = ~frame(REG)["id"].isin(dropped)
    a = sq_err(frame(REG)[keep])
    b = sq_err(gbm[keep])
    [c] = d["comparisons"]
    assert c["n"] == d["input"]["rows"] == 437
    assert close(c["models"][0]["cost"], float(a.mean())) and close(c["models"][1]["cost"], float(b.mean()))
    assert close(c["diffs"][0]["diff"], float(b.mean() - a.mean()))
    table = ok("compare", REG, partial, "-l", "mse", "--key", "id", "-f", "table").stdout
    assert "5 rows not in every file" in table and "437 rows compared" in table


def test_labels_differing_between_files_name_the_row(tmp_path: Path) -> None:
    df = frame(GBM).copy()
    df.loc[7, "y_true"] += 1
    bad = tmp_path / "gbm_bad_label.csv"
    df.to_csv(bad, index=False, float_format="%.17g")
    assert_error(run("compare", REG, bad, "-l", "mse"), "row 7", "label")


def test_compare_needs_two_files() -> None:
    assert_error(run("compare", REG, "-l", "mse"), "at least two")
    assert_error(run("compare", REG, REG, "-l", "mse"), "same file")


def test_compare_usage_errors() -> None:
    assert_error(run("compare", REG, GBM, "-l", "mse", "--ci", "1.5"), "between 0 and 1")
    assert_error(run("compare", REG, GBM, "-l", "mse", "--key", "nope"), "'nope'")
    assert_error(run("compare", REG, BIN, "-l", "mse"), "442", "569")
    r = run("compare", REG, GBM, "-l", "mse", "--ci-method", "bootstrap", "--replicates", "10")
    assert r.exit_code == 2 and "--replicates" in r.stderr and r.stdout == ""


def test_compare_formats_render() -> None:
    args = (REG, GBM, "-l", "mse", "--where", "split=validation")
    a, b = sq_err(validation(REG)), sq_err(validation(GBM))
    rows = csv_rows(ok("compare", *args, "-f", "csv").stdout)
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == {"regression", "regression_gbm"}
    assert close(float(by_model["regression"]["cost"]), float(a.mean()))
    assert close(float(by_model["regression_gbm"]["diff"]), float(b.mean() - a.mean()))
    assert by_model["regression"]["diff"] == "" and by_model["regression_gbm"]["significant"] == "True"
    md = ok("compare", *args, "-f", "markdown").stdout
    assert md.startswith("| loss | rank | model |")
    assert "| regression_gbm |" in md and "- regression_gbm is significantly worse than regression" in md
    table = ok("compare", *args, "-f", "table").stdout
    for word in ("2 models", "111 rows compared", "baseline", "regression_gbm", "significantly worse", "mse"):
        assert word in table, word


def test_compare_bootstrap_is_reproducible() -> None:
    args = (REG, GBM, "-l", "mse", "--ci-method", "bootstrap", "--seed", "1", "--replicates", "400")
    a, b = compare_json(*args), compare_json(*args)
    assert a == b
    [diff] = a["comparisons"][0]["diffs"]
    assert diff["test"] == "paired bootstrap" and diff["ci"]["seed"] == 1 and diff["ci"]["replicates"] == 400
    assert diff["ci"]["low"] <= diff["diff"] <= diff["ci"]["high"]
    other = compare_json(REG, GBM, "-l", "mse", "--ci-method", "bootstrap", "--seed", "2", "--replicates", "400")
    assert other["comparisons"][0]["diffs"][0]["ci"] != diff["ci"]


def test_compare_with_a_shared_labels_file(tmp_path: Path) -> None:
    preds = frame(PREDS)
    second = preds.sample(frac=1.0, random_state=3).copy()
    second["y_pred"] = 0.8 * second["y_pred"] + 0.1
    other = tmp_path / "preds_b.csv"
    second.to_csv(other, index=False, float_format="%.17g")
    d = compare_json(PREDS, other, "--labels", LABELS, "--key", "id", "-l", "bce")
    labels = frame(LABELS).set_index("id")["y_true"]
    la = bce_rows(labels[preds["id"]].to_numpy(float), preds["y_pred"].to_numpy(float))
    lb = bce_rows(labels[second["id"]].to_numpy(float), second["y_pred"].to_numpy(float))
    [c] = d["comparisons"]
    assert c["n"] == len(preds) == 569
    assert close(c["models"][0]["cost"], float(la.mean())) and close(c["models"][1]["cost"], float(lb.mean()))
    assert "accuracy" in c["models"][0] and c["models"][0]["accuracy"] is not None
    # Paired by id: the win share is counted on matching rows.
    lb_by_id = pd.Series(lb, index=second["id"].to_numpy())[preds["id"]].to_numpy()
    assert close(c["diffs"][0]["win_share"], float((lb_by_id < la).mean()))


# --- recommend ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "extra", "task", "loss"),
    [
        (REG, (), "regression", "mse"),
        (BIN, (), "binary", "bce"),
        (BIN, ("--y-pred", "logit"), "binary", "bce_logits"),
        (MULTI, (), "multiclass", "cce"),
        (MULTI, ("--y-pred", "logit_*"), "multiclass", "softmax_ce"),
    ],
)
def test_recommend_on_the_samples(path: Path, extra: tuple[str, ...], task: str, loss: str) -> None:
    d = recommend_json(path, *extra)
    assert d["task"] == task
    assert d["advice"][0]["loss"] == loss and d["advice"][0]["primary"] is True
    assert d["advice"][0]["command"].startswith(f"--loss {loss}")
    assert d["input"]["rows"] == len(frame(path))
    assert d["evidence"] and d["evidence"][0]["name"] == "task"


def test_recommend_mentions_the_other_predictions() -> None:
    assert recommend_json(BIN)["input"]["other_predictions"] == ["logit"]
    assert recommend_json(MULTI)["input"]["other_predictions"] == ["logit_*"]


def _outlier_file(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.normal(50.0, 10.0, 400)
    p = y + rng.normal(0.0, 1.0, 400)
    p[:6] += 60.0
    path = tmp_path / "outliers.csv"
    pd.DataFrame({"id": np.arange(400), "y_true": y, "y_pred": p}).to_csv(path, index=False, float_format="%.17g")
    return path, y, p


def test_recommend_huber_for_outliers_and_its_command_runs(tmp_path: Path) -> None:
    path, y, p = _outlier_file(tmp_path)
    d = recommend_json(path)
    first = d["advice"][0]
    assert d["task"] == "regression" and first["loss"] == "huber"
    r = p - y
    mad = float(np.median(np.abs(r - np.median(r))))
    assert close(first["params"]["delta"], 1.345 * 1.4826 * mad, 1e-6)
    assert "-p delta=" in first["command"]
    args = shlex.split(first["command"])
    delta = float(args[args.index("-p") + 1].split("=", 1)[1])
    out = eval_json(path, *args)
    assert out["results"][0]["loss"] == "huber" and out["results"][0]["params"]["delta"] == delta
    assert close(out["results"][0]["cost"], float(huber_rows(y, p, delta).mean()))


def test_recommend_class_weights_for_imbalance_and_the_command_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random(n) < 0.1).astype(float)
    p = np.clip(np.where(y == 1, rng.beta(5, 2, n), rng.beta(2, 5, n)), 1e-6, 1 - 1e-6)
    path = tmp_path / "imbalanced.csv"
    pd.DataFrame({"y_true": y.astype(int), "y_pred": p}).to_csv(path, index=False, float_format="%.17g")
    d = recommend_json(path)
    first = d["advice"][0]
    assert d["task"] == "binary" and first["loss"] == "bce"
    counts = np.bincount(y.astype(int), minlength=2)
    want = [float(f"{n / (2 * c):.3g}") for c in counts]
    assert first["class_weight"] == want
    assert "--class-weight" in first["command"]
    args = shlex.split(first["command"])
    out = eval_json(path, *args)["results"][0]
    w = np.where(y == 1, want[1], want[0])
    assert close(out["cost"], float(np.sum(w * bce_rows(y, p)) / np.sum(w)))
    # Every advised command runs on the file it was advised for.
    for a in d["advice"][1:]:
        eval_json(path, *shlex.split(a["command"]))


def _two_prediction_files(tmp_path: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    df = frame(BIN)
    odd = tmp_path / "scores.csv"
    df[["y_true", "logit"]].rename(columns={"logit": "model_out"}).to_csv(odd, index=False, float_format="%.17g")
    both = tmp_path / "two_models.csv"
    df.assign(prob=0.5)[["y_true", "prob", "y_pred"]].to_csv(both, index=False, float_format="%.17g")
    return {"given --y-pred": (odd, ("--y-pred", "model_out")), "default pick": (both, ())}


@pytest.mark.parametrize("case", ["given --y-pred", "default pick"])
def test_recommend_command_evaluates_the_inspected_column(tmp_path: Path, case: str) -> None:
    path, extra = _two_prediction_files(tmp_path)[case]
    d = recommend_json(path, *extra)
    inspected = d["input"]["columns"]["y_pred"]
    r = run("eval", path, *shlex.split(d["advice"][0]["command"]), "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["columns"]["y_pred"] == inspected


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_recommend_formats_render(fmt: str) -> None:
    out = ok("recommend", REG, "-f", fmt).stdout
    if fmt == "csv":
        rows = csv_rows(out)
        assert rows[0]["loss"] == "mse" and rows[0]["primary"] == "True" and rows[0]["command"] == "--loss mse"
    elif fmt == "markdown":
        assert "task: **regression**" in out and "`--loss mse`" in out
    else:
        assert "task: regression" in out and "--loss mse" in out and "evidence" in out and "442 rows" in out


def test_recommend_without_a_label_column(tmp_path: Path) -> None:
    path = tmp_path / "nolabels.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    assert_error(run("recommend", path), "no label column", "--y-true")


def test_recommend_with_where() -> None:
    d = recommend_json(REG, "--where", "split=validation")
    assert d["input"]["rows"] == len(validation(REG))
    assert d["input"]["where"][0] == "split=validation"


# --- Python API ----------------------------------------------------------------------------------


def test_python_compare_returns_verdicts() -> None:
    df = frame(REG)
    y = df["y_true"].to_numpy(float)
    pa, pb = df["y_pred"].to_numpy(float), frame(GBM)["y_pred"].to_numpy(float)
    c = lossctl.compare(y, {"a": pa, "b": pb}, "mse")
    assert len(c.verdicts) == 1 and c.verdicts[0].startswith("b is significantly better than a")
    assert [m["name"] for m in c.models] == ["a", "b"]
    assert close(c.models[0]["cost"], float(np.mean((pa - y) ** 2)))
    assert close(c.diffs[0]["diff"], float(np.mean((pb - y) ** 2) - np.mean((pa - y) ** 2)))
    d = c.to_dict()
    assert d["verdicts"] == c.verdicts and d["n"] == len(y)


def test_lossctl_compare_stays_the_function() -> None:
    code = (
        "import lossctl\n"
        "first, second = lossctl.compare, lossctl.compare\n"
        "lossctl.compare_files\n"
        "print(callable(first), callable(second), callable(lossctl.compare))\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True"]


def test_python_interval() -> None:
    df = frame(REG)
    y, p = df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)
    iv = lossctl.evaluate(y, p, "mae").interval()
    low, high = t_interval(np.abs(p - y), 0.95)
    assert iv.method == "normal" and iv.level == 0.95
    assert close(iv.low, low) and close(iv.high, high)
    boot = lossctl.evaluate(y, p, "mae").interval(0.9, "bootstrap", seed=5, replicates=300)
    again = lossctl.evaluate(y, p, "mae").interval(0.9, "bootstrap", seed=5, replicates=300)
    assert (boot.low, boot.high) == (again.low, again.high) and boot.low < float(np.mean(np.abs(p - y))) < boot.high


def test_python_recommend_and_recommend_file() -> None:
    df = frame(BIN)
    rec = lossctl.recommend(df["y_true"].to_numpy(), df["logit"].to_numpy())
    assert rec.task == "binary" and rec.advice[0].loss == "bce_logits"
    report = lossctl.recommend_file(str(BIN), y_pred="logit")
    assert report.to_dict()["advice"][0]["loss"] == "bce_logits"


def test_python_compare_files_and_evaluate_files() -> None:
    from lossctl.registry import get_loss

    report = lossctl.compare_files([str(REG), str(GBM)], [get_loss("mse")], {}, where=["split=validation"])
    assert close(
        report.comparisons[0].diffs[0]["diff"], float(sq_err(validation(GBM)).mean() - sq_err(validation(REG)).mean())
    )
    ev = lossctl.evaluate_files(str(REG), [get_loss("mse")], {}, group_by=["split"])
    assert "no significant gap" in ev.overfitting[0]["verdict"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOSSCTL_DEBUG"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_import_lossctl_stays_light() -> None:
    proc = _python("import lossctl, sys; print(sorted(m for m in ('numpy','pandas','numba') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_compare_and_recommend_help_are_quick() -> None:
    for name in ("compare", "recommend"):
        r = ok(name, "--help")
        assert r.stdout.startswith(f"Usage: lossctl {name}")
    assert "--fail-if-worse" in ok("compare", "--help").stdout
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from typer.testing import CliRunner\n"
        "from lossctl.cli import app\n"
        "for name in ('compare', 'recommend'):\n"
        "    r = CliRunner().invoke(app, [name, '--help'])\n"
        "    assert r.exit_code == 0, (name, r.exit_code, r.output)\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'numba') if m in sys.modules), time.perf_counter() - t)\n"
    )
    start = time.perf_counter()
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    heavy, _ = proc.stdout.rsplit("]", 1)
    assert heavy + "]" == "[]"
    assert time.perf_counter() - start < 15.0


# --- review findings ------------------------------------------------------------------------------


def test_data_that_looks_like_markup_is_printed_as_given(tmp_path: Path) -> None:
    path = tmp_path / "mk.csv"
    path.write_text("y_true,y_pred,seg\n1,2,[/x]\n2,3,[red]b\n3,3,[/x]\n4,1,[red]b\n")
    out = ok("eval", path, "-l", "mse", "--group-by", "seg", "-f", "table").stdout
    assert "[/x]" in out and "[red]b" in out
    a, b = tmp_path / "m[v1].csv", tmp_path / "m[v2].csv"
    a.write_text("y_true,y_pred\n1,2\n2,3\n3,3\n")
    b.write_text("y_true,y_pred\n1,1\n2,2\n3,4\n")
    assert "m[v2]" in ok("compare", a, b, "-l", "mse", "-f", "table").stdout


def test_fail_if_worse_fails_an_infinitely_worse_candidate(tmp_path: Path) -> None:
    base, cand = tmp_path / "base.csv", tmp_path / "cand.csv"
    base.write_text("y_true,y_pred\n0,0.1\n1,0.9\n0,0.2\n1,0.8\n")
    cand.write_text("y_true,y_pred\n0,0.1\n1,0.0\n0,0.2\n1,0.8\n")  # p = 0 for a positive: bce = inf
    r = run("compare", base, cand, "-l", "bce", "--fail-if-worse", "-f", "json")
    assert r.exit_code == 1 and "cand" in r.stderr
    assert run("compare", cand, base, "-l", "bce", "--fail-if-worse", "-f", "json").exit_code == 0


def test_compare_refuses_nan_propagate() -> None:
    assert_error(run("compare", REG, DATA / "regression_gbm.csv", "-l", "mse", "--nan", "propagate"), "--nan omit")


def test_zero_weight_rows_are_not_evidence(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 40
    y = rng.normal(size=n)
    p = y + rng.normal(size=n)
    w = np.zeros(n)
    w[:10] = 1.0
    path = tmp_path / "w.csv"
    pd.DataFrame({"y_true": y, "y_pred": p, "w": w}).to_csv(path, index=False)
    d = eval_json(path, "-l", "mse", "--weight", "w", "--ci", "0.9", "--top", "3")
    ci = d["results"][0]["ci"]
    se = (p[:10] - y[:10]) ** 2
    from scipy import stats as sps  # noqa: PLC0415 - scipy is a test-only reference

    lo, hi = sps.t.interval(0.9, 9, loc=se.mean(), scale=se.std(ddof=1) / math.sqrt(10))
    assert close(ci["high"], hi, 1e-9) and close(ci["low"], max(lo, 0.0), 1e-9)
    # The worst rows are ranked by their contribution: zero-weight rows never lead.
    assert all(row["row"] < 10 for row in d["results"][0]["top"])


def test_warnings_also_under_one_framework() -> None:
    r = run("eval", DATA / "binary.csv", "-l", "bce_logits", "--y-pred", "y_pred", "--compat", "torch", "-f", "json")
    assert r.exit_code == 0 and "look like probabilities" in r.stderr


@pytest.mark.parametrize("flag", [["--top", "3"], ["--hist"]])
def test_reduction_none_refuses_analyses(flag: list[str]) -> None:
    assert_error(run("eval", REG, "-l", "mse", "--reduction", "none", *flag), flag[0])


def test_markdown_cells_escape_pipes() -> None:
    out = ok("eval", DATA / "multiclass.csv", "-l", "cce", "--group-by", "split,label", "-f", "markdown").stdout
    rows = [line for line in out.splitlines() if line.startswith("| split+label=")]
    assert rows and all(line.count(" | ") == rows[0].count(" | ") for line in rows)
    assert "validation \\| 0" in out
