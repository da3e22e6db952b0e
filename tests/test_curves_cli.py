"""Loss curves and gradients end to end: ``lossctl plot`` (the terminal chart, CSV/JSON values,
PNG/SVG images, derivatives, parameter lists, classification links), ``lossctl eval --grad``
(per-sample gradient columns and the cost's gradient summary) and ``lossctl eval --sweep`` (the
cost against one parameter in one pass).

Like ``test_cli.py`` most checks go through ``typer.testing.CliRunner`` on ``lossctl.cli.app``
(stdout and stderr apart; one invocation checks many numbers); one test runs a real interpreter.
Every expected number is computed independently here with NumPy formulas: the curves and their
derivatives from the closed forms, the derivative drawn also against a finite difference of the
loss curve drawn beside it, the gradients of ``eval --grad`` from the per-row formulas and the
sweeps against separate ``lossctl.evaluate`` runs (and the closed forms).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clitest import assert_error, env_without_debug, eval_json, lossctl_procs, ok, plain_environment, run  # noqa: F401

import lossctl
from lossctl import plot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data"
REG = DATA / "regression.csv"
BIN = DATA / "binary.csv"
MULTI = DATA / "multiclass.csv"
P_COLS = [f"p_{i}" for i in range(10)]
LOGIT_COLS = [f"logit_{i}" for i in range(10)]
REL = 1e-12
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- helpers ---------------------------------------------------------------------------------


def plot_json(*args: Any) -> dict[str, Any]:
    return json.loads(ok("plot", *args, "-f", "json").stdout)


def series(d: dict[str, Any]) -> dict[str, np.ndarray]:
    """Curve name -> y values, None (a gap) as NaN."""
    return {s["name"]: np.array([np.nan if v is None else v for v in s["y"]], dtype=float) for s in d["series"]}


def assert_close(actual: Any, expected: Any, rel: float = REL, atol: float = 0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rel, atol=atol)


def rel_close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))  # no overflow, and full relative precision for very negative x
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def huber(r: np.ndarray, delta: float = 1.0) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_d(r: np.ndarray, delta: float = 1.0) -> np.ndarray:
    return np.clip(r, -delta, delta)


def pinball(y: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    h = y - p
    return np.maximum(q * h, (q - 1.0) * h)


def pinball_d(y: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    return np.where(y > p, -q, np.where(y < p, 1.0 - q, 0.0))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def assert_slope(
    x: np.ndarray, y: np.ndarray, dy: np.ndarray, kinks: tuple[float, ...] | None = (), tol: float = 2e-3
) -> None:
    """The derivative curve ``dy`` is the slope of the loss curve ``y`` drawn beside it.

    Between neighbouring points the secant slope of ``y`` lies between the two derivatives drawn
    (the mean value theorem, for a derivative monotone over so short a step: true across kinks
    too); with ``kinks`` given (None: skip), a central difference of ``y`` also equals ``dy``
    away from them, and integrating ``dy`` (trapezoids) gives back the change of ``y``."""
    secant = np.diff(y) / np.diff(x)
    lo = np.minimum(dy[:-1], dy[1:])
    hi = np.maximum(dy[:-1], dy[1:])
    fin = np.isfinite(secant) & np.isfinite(lo) & np.isfinite(hi)
    assert fin.sum() >= 0.8 * (np.isfinite(y).sum() - 1), "too few points to compare"
    # Where the derivative has an extremum within the step the secant may pass it by O(h^2); at a
    # kink on a grid point the derivative drawn is one subgradient (the least in magnitude), not
    # the one-sided limit: allow one neighbouring step's change of the derivative there.
    steps = np.abs(np.diff(dy))
    before = np.concatenate([[0.0], steps[:-1]])
    after = np.concatenate([steps[1:], [0.0]])
    neighbours = np.nan_to_num(np.maximum(before, after), nan=0.0, posinf=0.0)
    slack = 1e-4 * (1.0 + np.maximum(np.abs(lo), np.abs(hi))) + neighbours
    outside = fin & ((secant < lo - slack) | (secant > hi + slack))
    if outside.any():
        i = int(np.argmax(outside))
        raise AssertionError(
            f"secant slope {secant[i]} between x={x[i]} and {x[i + 1]} is outside the drawn derivatives "
            f"{dy[i]}, {dy[i + 1]}"
        )
    if kinks is None:
        return
    h = np.diff(x).max()
    fd = (y[2:] - y[:-2]) / (x[2:] - x[:-2])
    mid = dy[1:-1]
    near_kink = np.zeros(mid.shape, dtype=bool)
    for k in kinks:
        near_kink |= np.abs(x[1:-1] - k) <= 2.5 * h
    use = np.isfinite(fd) & np.isfinite(mid) & ~near_kink
    err = np.abs(fd[use] - mid[use]) / (1.0 + np.abs(mid[use]))
    worst = int(np.argmax(err))
    assert err[worst] < tol, f"slope {fd[use][worst]} vs drawn derivative {mid[use][worst]} at x={x[1:-1][use][worst]}"
    idx = np.flatnonzero(np.isfinite(y) & np.isfinite(dy))
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    seg = max(runs, key=len)
    area = np.concatenate([[0.0], np.cumsum(0.5 * (dy[seg][1:] + dy[seg][:-1]) * np.diff(x[seg]))])
    change = y[seg] - y[seg[0]]
    assert np.max(np.abs(area - change)) < 5e-3 * (1.0 + np.max(np.abs(change)))


@functools.cache
def frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def reg_arrays() -> tuple[np.ndarray, np.ndarray]:
    df = frame(REG)
    return df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Variants of the sample files: regression with a weight column (zeros included) and with
    missing predictions; a tiny multiclass file whose first row gives the true class p = 0."""
    d = tmp_path_factory.mktemp("curves_data")
    df = frame(REG).copy()
    df["w"] = (df["id"] % 4) * 0.5  # 0, 0.5, 1, 1.5: a quarter of the rows weigh nothing
    df.to_csv(d / "weighted.csv", index=False)
    nan = frame(REG).copy()
    nan.loc[[3, 10, 50, 441], "y_pred"] = np.nan
    nan.to_csv(d / "nan.csv", index=False)
    (d / "zero_p.csv").write_text("label,p_0,p_1,p_2\n0,0.0,0.5,0.5\n1,0.2,0.7,0.1\n2,0.1,0.1,0.8\n")
    return d


# --- plot: the terminal chart ------------------------------------------------------------------


def chart_parts(text: str) -> tuple[list[str], list[str]]:
    """(plot rows, legend lines) of a terminal chart."""
    lines = text.rstrip("\n").split("\n")
    axis = next(i for i, line in enumerate(lines) if "+---" in line or line.lstrip().startswith("+-"))
    rows = [line.split("|", 1)[1] for line in lines[:axis] if "|" in line]
    return rows, lines[axis + 3 :]


def test_terminal_chart_of_several_losses_has_markers_and_a_legend() -> None:
    r = ok("plot", "huber", "mse", "mae", "-p", "delta=1.0", "--range", "-3:3", "--width", "80", "--height", "20")
    text = r.stdout
    assert "\x1b" not in text, "the chart must read without colour codes"
    assert r.stderr == ""
    lines = text.rstrip("\n").split("\n")
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].strip() == "huber[delta=1], mse, mae"  # the title
    assert lines[1] == "loss"  # the y label
    assert "residual r = y_pred - y_true (y_true = 0)" in text
    rows, legend = chart_parts(text)
    assert len(rows) == 20
    legend_text = " ".join(legend)
    for marker, name in (("*", "huber[delta=1]"), ("o", "mse"), ("+", "mae")):
        assert f"{marker} {name}" in legend_text
        assert any(marker in row for row in rows), f"{name}'s marker {marker!r} is not drawn"
    # mse reaches 9 at both ends: its marker sits in the corners of the top row.
    assert rows[0].lstrip().startswith("o") and rows[0].rstrip().endswith("o")
    assert lines[2].startswith("   9 |")
    # x ticks at both ends and at 0.
    ticks = next(line for line in lines if line.strip().startswith("-3"))
    assert ticks.split() == ["-3", "0", "3"]


def test_terminal_chart_of_derivatives_and_markdown() -> None:
    text = ok("plot", "huber", "mse", "--grad", "--width", "60", "--height", "12").stdout
    lines = text.split("\n")
    assert lines[0].strip() == "derivatives of huber, mse"
    assert lines[1] == "d loss / dr"
    rows, legend = chart_parts(text)
    # The derivative of mse is 2r: from -6 at the left to 6 at the right.
    assert lines[2].startswith(" 6 |") and rows[0].rstrip().endswith("o")
    assert rows[-1].lstrip().startswith("o")
    assert "* huber" in " ".join(legend) and "o mse" in " ".join(legend)
    md = ok("plot", "mse", "-f", "markdown", "--width", "40", "--height", "6").stdout
    assert md.startswith("```\n") and md.endswith("```\n")


def test_chart_notes_the_link_used_for_a_loss_of_the_other_kind() -> None:
    text = ok("plot", "bce", "bce_logits", "hinge", "--axis", "logit", "--width", "70", "--height", "12").stdout
    assert "predicted logit (label 1)" in text
    assert "note: bce takes probabilities: drawn through p = sigmoid(x)" in text
    assert "bce_logits takes" not in text  # it is drawn on its own axis
    assert "note: hinge" not in text  # scores live on the logit axis too
    text = ok("plot", "cce", "softmax_ce", "--axis", "probability", "--classes", "4").stdout
    assert "note: softmax_ce takes logits: drawn at x = log p" in text  # a row whose softmax is p


def test_binary_probability_axis_note_names_the_logit() -> None:
    text = ok("plot", "bce", "hinge", "--axis", "probability", "--width", "60", "--height", "8").stdout
    note = next(line for line in text.splitlines() if line.startswith("note: hinge"))
    assert "x = log p" not in note
    assert "logit" in note or "log(p / (1 - p))" in note


# --- plot: the values ----------------------------------------------------------------------------


def test_curve_values_against_the_closed_forms() -> None:
    d = plot_json("huber", "mse", "mae", "-p", "delta=1.0", "--range", "-3:3")
    assert d["axis"] == "residual" and d["task"] == "regression" and d["grad"] is False and d["label"] == 0.0
    assert d["y_label"] == "loss" and d["notes"] == []
    x = np.array(d["x"])
    assert_close(x, np.linspace(-3.0, 3.0, 401), atol=1e-15)
    ys = series(d)
    assert list(ys) == ["huber[delta=1]", "mse", "mae"]
    assert_close(ys["mse"], x * x)
    assert_close(ys["mae"], np.abs(x))
    assert_close(ys["huber[delta=1]"], huber(x, 1.0))


def test_a_parameter_list_draws_one_curve_per_value_in_json_and_csv() -> None:
    args = ("huber", "-p", "delta=0.5,1,2", "--range", "-4:4", "--points", "81")
    d = plot_json(*args)
    x = np.array(d["x"])
    ys = series(d)
    assert list(ys) == ["huber[delta=0.5]", "huber[delta=1]", "huber[delta=2]"]
    for delta in (0.5, 1.0, 2.0):
        assert_close(ys[f"huber[delta={delta:g}]"], huber(x, delta))
    rows = csv_rows(ok("plot", *args, "-f", "csv").stdout)
    assert list(rows[0]) == ["residual", *ys]
    assert len(rows) == 81
    for i, row in enumerate(rows):
        assert float(row["residual"]) == x[i]
        for name, y in ys.items():
            assert float(row[name]) == y[i]  # CSV keeps full precision (repr)


def test_derivative_curves_are_the_analytic_derivatives_and_the_slope_of_the_loss() -> None:
    names = ["mse", "mae", "huber", "pseudo_huber", "log_cosh", "smooth_l1", "pinball"]
    args = (*names, "-p", "delta=1.5", "-p", "quantile=0.8", "--range", "-3:3", "--points", "2001")
    d, g = plot_json(*args), plot_json(*args, "--grad")
    assert g["grad"] is True and g["y_label"] == "d loss / dr"
    x = np.array(d["x"])
    assert_close(np.array(g["x"]), x)
    # Each name carries the parameters given to it.
    ys = {k.split("[")[0]: v for k, v in series(d).items()}
    dys = {k.split("[")[0]: v for k, v in series(g).items()}
    assert [s["name"] for s in d["series"]] == [
        *("mse", "mae", "huber[delta=1.5]", "pseudo_huber[delta=1.5]", "log_cosh", "smooth_l1", "pinball[quantile=0.8]")
    ]
    assert_close(dys["mse"], 2 * x)
    assert_close(dys["mae"], np.sign(x))  # 0 at r = 0
    assert_close(dys["huber"], huber_d(x, 1.5))
    assert_close(dys["pseudo_huber"], x / np.sqrt(1 + (x / 1.5) ** 2), rel=1e-12)
    assert_close(dys["log_cosh"], np.tanh(x), rel=1e-12)
    assert_close(ys["log_cosh"], np.logaddexp(x, -x) - math.log(2.0), rel=1e-9, atol=1e-15)
    assert_close(dys["smooth_l1"], np.clip(x, -1.0, 1.0))
    # pinball at label 0: r = p, loss max(-q p, (1 - q) p)
    assert_close(ys["pinball"], pinball(np.zeros_like(x), x, 0.8))
    assert_close(dys["pinball"], pinball_d(np.zeros_like(x), x, 0.8))
    kinks = {"mae": (0.0,), "huber": (), "smooth_l1": (), "pinball": (0.0,)}
    for name in names:
        assert_slope(x, ys[name], dys[name], kinks.get(name, ()))


def test_binary_losses_through_the_sigmoid_on_a_logit_axis() -> None:
    args = ("bce", "bce_logits", "hinge", "squared_hinge", "--axis", "logit", "--points", "2001")
    d, g = plot_json(*args), plot_json(*args, "--grad")
    assert d["axis"] == "logit" and d["label"] == 1.0 and d["x_label"] == "predicted logit (label 1)"
    assert g["y_label"] == "d loss / dx"
    x = np.array(d["x"])
    assert_close(x, np.linspace(-6.0, 6.0, 2001), atol=1e-15)
    ys, dys = series(d), series(g)
    softplus_neg = np.logaddexp(0.0, -x)  # -log sigmoid(x)
    # bce (probabilities through p = sigmoid(x)) and bce_logits are one curve.
    assert_close(ys["bce_logits"], softplus_neg, rel=1e-12)
    assert_close(ys["bce"], softplus_neg, rel=1e-9)
    assert_close(ys["bce"], ys["bce_logits"], rel=1e-9)
    assert_close(dys["bce_logits"], sigmoid(x) - 1.0, rel=1e-9, atol=1e-15)
    assert_close(dys["bce"], sigmoid(x) - 1.0, rel=1e-9, atol=1e-15)  # -1/p times p (1 - p)
    assert_close(ys["hinge"], np.maximum(0.0, 1.0 - x))
    assert_close(dys["hinge"], np.where(x < 1.0, -1.0, 0.0))
    assert_close(ys["squared_hinge"], np.maximum(0.0, 1.0 - x) ** 2)
    for name, kinks in (("bce", ()), ("bce_logits", ()), ("hinge", (1.0,)), ("squared_hinge", ())):
        assert_slope(x, ys[name], dys[name], kinks)
    # Label 0 mirrors the curves.
    d0 = plot_json("bce", "bce_logits", "--axis", "logit", "--label", "0", "--points", "101")
    x0 = np.array(d0["x"])
    for y in series(d0).values():
        assert_close(y, np.logaddexp(0.0, x0), rel=1e-9)


def test_binary_losses_on_a_probability_axis_including_logit_losses() -> None:
    args = ("bce", "bce_logits", "hinge", "brier", "--axis", "probability", "--points", "2001")
    d, g = plot_json(*args), plot_json(*args, "--grad")
    assert d["axis"] == "probability" and g["y_label"] == "d loss / dp"
    p = np.array(d["x"])
    assert_close(p, np.linspace(0.01, 0.99, 2001), rel=1e-15)
    ys, dys = series(d), series(g)
    assert_close(ys["bce"], -np.log(p), rel=1e-12)
    assert_close(ys["bce_logits"], -np.log(p), rel=1e-9)  # drawn at x = logit(p)
    assert_close(dys["bce"], -1.0 / p, rel=1e-12)
    assert_close(dys["bce_logits"], -1.0 / p, rel=1e-9)  # (sigmoid(x) - 1) / (p (1 - p))
    assert_close(ys["hinge"], np.maximum(0.0, 1.0 - logit(p)), rel=1e-9, atol=1e-12)
    assert_close(dys["hinge"], np.where(logit(p) < 1.0, -1.0 / (p * (1 - p)), 0.0), rel=1e-9)
    assert_close(ys["brier"], (1.0 - p) ** 2, rel=1e-12)
    assert_close(dys["brier"], -2.0 * (1.0 - p), rel=1e-12)
    hinge_kink = float(sigmoid(np.array(1.0)))
    for name, kinks in (("bce", ()), ("bce_logits", ()), ("hinge", (hinge_kink,)), ("brier", ())):
        assert_slope(p, ys[name], dys[name], kinks)


def test_multiclass_losses_on_logits_and_probabilities() -> None:
    args = ("softmax_ce", "cce", "nll", "--classes", "4", "--points", "1001")
    d, g = plot_json(*args), plot_json(*args, "--grad")
    assert d["axis"] == "logit" and d["classes"] == 4 and d["task"] == "multiclass"
    assert d["x_label"] == "logit of the true class (class 0 of 4)"
    t = np.array(d["x"])
    # Logits [t, 0, 0, 0]: -log softmax_0 = -t + log(e^t + 3); its derivative softmax_0 - 1.
    want = -t + np.logaddexp(t, math.log(3.0))
    dwant = np.exp(t) / (np.exp(t) + 3.0) - 1.0
    ys, dys = series(d), series(g)
    for name in ("softmax_ce", "cce", "nll"):
        assert_close(ys[name], want, rel=1e-9)
        assert_close(dys[name], dwant, rel=1e-9, atol=1e-15)
        assert_slope(t, ys[name], dys[name])
    assert "cce takes probabilities: drawn through p = softmax(x)" in d["notes"]
    # On a probability axis (the others share 1 - t): -log t, derivative -1/t, for all three.
    d, g = plot_json(*args, "--axis", "probability"), plot_json(*args, "--axis", "probability", "--grad")
    t = np.array(d["x"])
    ys, dys = series(d), series(g)
    for name in ("softmax_ce", "cce", "nll"):
        assert_close(ys[name], -np.log(t), rel=1e-9)
        assert_close(dys[name], -1.0 / t, rel=1e-9)
        assert_slope(t, ys[name], dys[name], tol=5e-3)  # steep near t = 0.01: a coarser difference


def test_every_registered_loss_draws_a_derivative_that_is_the_slope_of_its_curve() -> None:
    """In-process over the whole registry (the plugin loss included), on every axis it has."""
    from lossctl.registry import Task, registry

    checked = []
    for lo in registry():
        if lo.name == "zero_one":
            continue  # a step: no slope to compare (its derivative is 0 on either side)
        axes = [None] if lo.task is Task.REGRESSION else ["probability", "logit"]
        if lo.name == "margin_ranking":
            axes = ["logit"]  # two scores: no probability axis
        for axis in axes:
            # Regression at y_true = 2: every loss of a positive target has a curve there too (and
            # smape is continuous there; at y_true = 0 it is 2 for any p != 0).
            label = 2.0 if lo.task is Task.REGRESSION else None
            c = plot.curves([lo], axis=axis, points=1201, classes=4, label=label)
            dc = plot.curves([lo], axis=axis, points=1201, classes=4, label=label, grad=True)
            y, dy = c.series[0][1], dc.series[0][1]
            assert np.array_equal(np.isfinite(y), np.isfinite(dy)), f"{lo.name}: the gaps differ"
            if np.isfinite(y).sum() < 100:
                continue  # gaussian_nll: see test_gaussian_nll_is_drawn_at_unit_variance
            try:
                assert_slope(c.x, y, dy, kinks=None)
            except AssertionError as e:
                raise AssertionError(f"{lo.name} on the {c.axis} axis: {e}") from None
            checked.append(lo.name)
    assert set(checked) >= set(registry().names()) - {"zero_one", "gaussian_nll"}
    assert "cauchy" in checked  # the session's plugin loss


def test_gaussian_nll_is_drawn_at_unit_variance() -> None:
    d = plot_json("gaussian_nll", "--points", "7")
    x = np.array(d["x"])
    assert_close(series(d)["gaussian_nll"], 0.5 * x * x)  # 0.5 (log 1 + r^2 / 1)


def test_gaps_where_the_prediction_leaves_the_domain() -> None:
    d = plot_json("poisson", "mse", "--points", "13")  # label 0; poisson's rate must be >= 0
    x = np.array(d["x"])
    ys = series(d)
    assert np.isnan(ys["poisson"][x < 0]).all() and [v for v in d["series"][0]["y"] if v is None]
    assert_close(ys["poisson"][x >= 0], x[x >= 0])  # p - 0 log p = p
    assert np.isfinite(ys["mse"]).all()
    g = plot_json("poisson", "--label", "2", "--range", "-3:3", "--points", "13", "--grad")
    x = np.array(g["x"])
    dy = series(g)["poisson"]
    assert np.isnan(dy[x <= -2]).all()  # p = x + 2 <= 0: outside (or -inf at 0)
    p = x[x > -2] + 2
    assert_close(dy[x > -2], 1.0 - 2.0 / p, rel=1e-12)
    rows = csv_rows(ok("plot", "poisson", "--points", "5", "-f", "csv").stdout)
    assert [r["poisson"] for r in rows] == ["", "", "0.0", "1.5", "3.0"]
    # msle: log1p of a prediction below -1 is undefined.
    d = plot_json("msle", "--range", "-3:3", "--points", "7")
    assert [v is None for v in d["series"][0]["y"]] == [True, True, True, False, False, False, False]


# --- plot: images --------------------------------------------------------------------------------


def test_png_and_svg_are_written_atomically_beside_the_chart(tmp_path: Path) -> None:
    png, svg = tmp_path / "curves.png", tmp_path / "curves.svg"
    r = ok("plot", "huber", "mse", "mae", "--grad", "--png", png, "--svg", svg, "--width", "60", "--height", "8")
    assert "derivatives of huber, mse, mae" in r.stdout  # the terminal chart is still printed
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    root = ET.fromstring(svg.read_bytes())
    assert root.tag.endswith("svg")
    svg_text = svg.read_text()  # matplotlib keeps each text as a comment beside its glyphs
    assert "d loss / dr" in svg_text
    for label in ("huber", "mse", "mae"):  # the legend names each curve (drawn in its own line style)
        assert f"<!-- {label} -->" in svg_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "curves.svg"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual mode, not the temporary's 0600
    # A name with another extension is written as PNG unless it ends in .svg.
    other = tmp_path / "chart.img"
    ok("plot", "bce", "--png", other, "-f", "csv")
    assert other.read_bytes()[:8] == PNG_MAGIC


def test_a_real_process_prints_the_chart_without_colour_and_errors_without_traceback() -> None:
    cmds = [
        ["plot", "huber", "mse", "mae", "-p", "delta=1.0", "--range", "-3:3"],
        ["plot", "mse", "bce"],
    ]
    procs = lossctl_procs(cmds, FORCE_COLOR="1", TERM="xterm-256color", COLUMNS="90")
    (out, err), (out2, err2) = ((p.stdout, p.stderr) for p in procs)
    assert procs[0].returncode == 0, err
    assert err == "" and "\x1b" not in out
    assert "* huber[delta=1]" in out and "o mse" in out and "+ mae" in out
    assert max(len(line) for line in out.splitlines()) <= 90  # the terminal's width
    assert procs[1].returncode == 2 and out2 == ""
    assert err2.count("\n") == 1 and err2.startswith("lossctl: error: one chart shows losses of one task")


@pytest.mark.parametrize("flag", ["--png", "--svg"])
def test_an_unwritable_image_target_fails_before_any_work(tmp_path: Path, flag: str) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    targets = {
        "missing directory": (tmp_path / "nope" / "out.img", "does not exist"),
        "under a file": (a_file / "out.img", "does not exist"),
        "a directory": (tmp_path, "not a regular file"),
    }
    for target, needle in targets.values():
        # An invalid --range would fail later: the target is checked first, and nothing is drawn.
        err = assert_error(run("plot", "mse", "--range", "3:-3", flag, target), needle)
        assert str(target.name) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


def test_a_failed_image_write_leaves_the_old_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.png"
    target.write_bytes(b"old image")

    def broken(c: Any, path: str, title: str = "", fmt_of: str = "") -> None:
        with open(path, "wb") as fh:
            fh.write(PNG_MAGIC + b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plot, "write_image", broken)
    assert_error(run("plot", "mse", "--png", target), "keep.png", "No space left on device")
    assert target.read_bytes() == b"old image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


# --- plot: errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, needles",
    [
        (["mse", "bce"], ["one task", "mse (regression)", "bce (binary)"]),
        (["huber", "softmax_ce"], ["one task"]),
        (["mse", "--range", "3:-3"], ["--range '3:-3'", "LOW < HIGH"]),
        (["mse", "--range", "1:1"], ["--range '1:1'"]),
        (["mse", "--range", "abc"], ["--range 'abc'"]),
        (["mse", "--range", "-3"], ["--range '-3'"]),
        (["mse", "--range", "nan:3"], ["--range 'nan:3'"]),
        (["mse", "--range", "-inf:3"], ["--range '-inf:3'"]),
        (["hubr"], ["'hubr' is not a loss", "Did you mean 'huber'?"]),
        (["mse", "maee"], ["'maee' is not a loss", "'mae'"]),
        (["bce", "--range", "-0.5:0.5"], ["a probability axis lies within 0:1"]),
        (["bce", "--axis", "probability", "--range", "0.5:1.5"], ["a probability axis lies within 0:1"]),
        (["cce", "--axis", "probability", "--range", "0:2"], ["a probability axis lies within 0:1"]),
        (["mse", "--axis", "logit"], ["regression losses are drawn against the residual"]),
        (["bce", "--label", "2"], ["--label 2"]),
        (["mse", "--points", "1"], ["--points 1"]),
        (["softmax_ce", "--classes", "1"], ["--classes 1"]),
        (["margin_ranking", "--axis", "probability"], ["margin_ranking", "--axis logit"]),
        (["mse", "-p", "delta=1"], ["delta"]),
        (["huber", "-p", "delta=0"], ["delta=0", "outside"]),
        ([], ["no loss given"]),
    ],
)
def test_plot_errors_are_one_line(args: list[str], needles: list[str]) -> None:
    assert_error(run("plot", *args), *needles)


# --- eval --grad ---------------------------------------------------------------------------------


def largest_rows(mag: np.ndarray, k: int) -> list[int]:
    """Rows by |gradient|, largest first; ties in row order."""
    return [int(i) for i in np.lexsort((np.arange(mag.shape[0]), -mag))[:k]]


def check_summary(
    g: dict[str, Any], dcost: np.ndarray, per_row: np.ndarray, k: int = 5, rows: np.ndarray | None = None
) -> None:
    """The gradient summary of one result against d(cost)/d(prediction) and per-row gradients
    (``rows``: the file row of each evaluated row, when some were left out)."""
    mag = np.abs(per_row) if per_row.ndim == 1 else np.sqrt((per_row**2).sum(axis=1))
    assert rel_close(g["cost_grad_norm"], float(np.sqrt(np.sum(dcost**2))), 1e-10), (g, np.sqrt(np.sum(dcost**2)))
    assert rel_close(g["mean_abs"], float(mag.mean()), 1e-10)
    assert rel_close(g["max_abs"], float(mag.max()), 1e-12)
    want = largest_rows(mag, k)
    assert [x["row"] for x in g["largest"]] == [int(i) if rows is None else int(rows[i]) for i in want]
    for x, i in zip(g["largest"], want, strict=True):
        if per_row.ndim == 1:
            assert rel_close(float(x["grad"]), float(per_row[i]), 1e-5) or abs(per_row[i]) < 1e-300


def test_regression_gradients_in_the_per_sample_file_and_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "rows.csv"
    y, p = reg_arrays()
    r = p - y
    n = r.shape[0]
    d = eval_json(REG, "-l", "mse,mae,huber,rmse,pinball", "-p", "quantile=0.8", "--grad", "--per-sample", out)
    rows = pd.read_csv(out)
    per_row = {
        "mse": 2 * r,
        "mae": np.sign(r),
        "huber": huber_d(r),
        "rmse": 2 * r,  # of the per-sample term r^2
        "pinball": pinball_d(y, p, 0.8),
    }
    assert list(rows.columns) == ["row"] + [c for name in per_row for c in (name, f"grad_{name}")]
    for name, g in per_row.items():
        assert_close(rows[f"grad_{name}"], g, rel=1e-15)
    assert_close(rows["huber"], huber(r))
    rmse = math.sqrt(float(np.mean(r * r)))
    dcost = {
        "mse": 2 * r / n,
        "mae": np.sign(r) / n,
        "huber": huber_d(r) / n,
        "rmse": r / (n * rmse),  # d sqrt(mean r^2) = 2 r / n / (2 rmse)
        "pinball": pinball_d(y, p, 0.8) / n,
    }
    res = {x["loss"]: x for x in d["results"]}
    for name in per_row:
        check_summary(res[name]["gradient"], dcost[name], per_row[name])
    # Ties (every |mae gradient| is 1) keep row order.
    assert [x["row"] for x in res["mae"]["gradient"]["largest"]] == [0, 1, 2, 3, 4]
    # The listed rows carry their inputs, loss and gradient.
    top = res["mse"]["gradient"]["largest"][0]
    i = top["row"]
    assert rel_close(top["loss"], float(r[i] ** 2)) and rel_close(float(top["grad"]), float(2 * r[i]), 1e-5)
    assert float(top["y_true"]) == pytest.approx(y[i], rel=1e-5)


@pytest.mark.parametrize("k", [1, 3, 12])
def test_top_sets_how_many_gradients_are_listed(k: int) -> None:
    y, p = reg_arrays()
    d = eval_json(REG, "-l", "mse,mae", "--grad", "--top", k)
    res = {x["loss"]: x for x in d["results"]}
    assert [x["row"] for x in res["mse"]["gradient"]["largest"]] == largest_rows(np.abs(p - y), k)
    assert [x["row"] for x in res["mae"]["gradient"]["largest"]] == list(range(k))
    assert len(res["mse"]["top"]) == k  # --top also lists the worst rows by loss


def test_weighted_gradients(data_dir: Path) -> None:
    df = pd.read_csv(data_dir / "weighted.csv")
    y, p, w = (df[c].to_numpy(float) for c in ("y_true", "y_pred", "w"))
    r = p - y
    d = eval_json(data_dir / "weighted.csv", "-l", "mse,rmse,huber,mae", "--weight", "w", "--grad")
    res = {x["loss"]: x for x in d["results"]}
    sw = w.sum()
    rmse = math.sqrt(float(np.sum(w * r * r) / sw))
    assert rel_close(res["rmse"]["cost"], rmse, 1e-12)
    check_summary(res["mse"]["gradient"], 2 * w * r / sw, 2 * r)
    check_summary(res["rmse"]["gradient"], w * r / (sw * rmse), 2 * r)
    check_summary(res["huber"]["gradient"], w * huber_d(r) / sw, huber_d(r))
    check_summary(res["mae"]["gradient"], w * np.sign(r) / sw, np.sign(r))


def test_binary_gradients_and_class_weights() -> None:
    df = frame(BIN)
    y, p, x = (df[c].to_numpy(float) for c in ("y_true", "y_pred", "logit"))
    n = y.shape[0]
    r = run("eval", BIN, "-l", "bce,bce_logits,hinge", "--grad", "--per-sample", "-", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    rows = pd.read_csv(io.StringIO(r.stdout))
    summary = csv_rows(r.stderr)  # the summary goes to stderr when the rows are on stdout
    assert {row["loss"] for row in summary} == {"bce", "bce_logits", "hinge"}
    t = np.where(y > 0, 1.0, -1.0)
    per_row = {
        "bce": (p - y) / (p * (1 - p)),
        "bce_logits": (1 - y) * sigmoid(x) - y * sigmoid(-x),  # no cancellation near p = 1
        "hinge": np.where(t * x < 1, -t, 0.0),
    }
    for name, g in per_row.items():
        assert_close(rows[f"grad_{name}"], g, rel=1e-9, atol=1e-300)
    # Class weights multiply each row's weight by its class's: d cost / dp = w_c g / sum(w_c).
    cw = np.where(y > 0, 0.7, 0.3)
    d = eval_json(BIN, "-l", "bce,bce_logits,hinge", "--class-weight", "0.3,0.7", "--grad")
    res = {x["loss"]: x for x in d["results"]}
    for name, g in per_row.items():
        check_summary(res[name]["gradient"], cw * g / cw.sum(), g)
    d = eval_json(BIN, "-l", "bce_logits", "--grad")
    check_summary(d["results"][0]["gradient"], per_row["bce_logits"] / n, per_row["bce_logits"])


def test_multiclass_gradients_per_class_column(tmp_path: Path) -> None:
    out = tmp_path / "mc.csv"
    df = frame(MULTI)
    y = df["label"].to_numpy(int)
    x = df[LOGIT_COLS].to_numpy(float)
    p = df[P_COLS].to_numpy(float)
    n = y.shape[0]
    onehot = np.eye(10)[y]
    d = eval_json(MULTI, "-l", "softmax_ce,cce", "--grad", "--per-sample", out, "--top", "4")
    rows = pd.read_csv(out)
    expect_cols = ["row", "softmax_ce"] + [f"grad_softmax_ce[{c}]" for c in LOGIT_COLS]
    expect_cols += ["cce"] + [f"grad_cce[{c}]" for c in P_COLS]
    assert list(rows.columns) == expect_cols
    g_sce = softmax(x) - onehot
    g_cce = -onehot / p
    assert_close(rows[[f"grad_softmax_ce[{c}]" for c in LOGIT_COLS]], g_sce, rel=1e-9, atol=1e-15)
    assert_close(rows[[f"grad_cce[{c}]" for c in P_COLS]], g_cce, rel=1e-12)
    res = {r["loss"]: r for r in d["results"]}
    check_summary(res["softmax_ce"]["gradient"], g_sce / n, g_sce, k=4)
    check_summary(res["cce"]["gradient"], g_cce / n, g_cce, k=4)
    first = res["softmax_ce"]["gradient"]["largest"][0]
    assert first["grad"].startswith("[") and first["grad"].endswith(", ...]")  # a row of 10, shown in part
    # Class weights (class 1 weighs 5): the weighted mean's gradient.
    cw = np.where(y == 1, 5.0, 1.0)
    d = eval_json(MULTI, "-l", "softmax_ce", "--class-weight", "1=5", "--grad")
    check_summary(d["results"][0]["gradient"], cw[:, None] * g_sce / cw.sum(), g_sce)


def test_nan_omit_keeps_the_rows_in_the_per_sample_file_with_nan_gradients(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "nan.csv"
    out = tmp_path / "rows.csv"
    df = pd.read_csv(src)
    y, p = df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)
    d = eval_json(src, "-l", "mse,huber", "--nan", "omit", "--grad", "--per-sample", out)
    rows = pd.read_csv(out)
    assert len(rows) == len(df) and list(rows["row"]) == list(range(len(df)))
    missing = np.isnan(p)
    assert missing.sum() == 4
    for col in ("mse", "grad_mse", "huber", "grad_huber"):
        assert rows[col][missing].isna().all() and rows[col][~missing].notna().all()
    r = (p - y)[~missing]
    assert_close(rows["grad_mse"][~missing], 2 * r)
    assert_close(rows["grad_huber"][~missing], huber_d(r))
    res = {x["loss"]: x for x in d["results"]}
    assert res["mse"]["omitted"] == 4 and res["mse"]["n"] == len(df) - 4
    # Largest rows are named by their row in the file, not their position among the kept rows.
    kept = np.flatnonzero(~missing)
    check_summary(res["mse"]["gradient"], 2 * r / r.shape[0], 2 * r, rows=kept)
    check_summary(res["huber"]["gradient"], huber_d(r) / r.shape[0], huber_d(r), rows=kept)
    assert [x["row"] for x in res["huber"]["gradient"]["largest"]] == [0, 1, 2, 4, 5]  # ties; row 3 is NaN


def test_grad_is_refused_where_it_has_no_meaning() -> None:
    assert_error(run("eval", REG, "-l", "huber", "--compat", "torch", "--grad"), "--compat", "huber")
    assert_error(run("eval", REG, "-l", "mse", "--compat", "all", "--grad"), "--compat")
    assert_error(run("eval", REG, "-l", "mse", "--reduction", "none", "--grad"), "--grad", "--reduction none")


def test_grad_lines_in_table_and_markdown() -> None:
    table = ok("eval", REG, "-l", "mse,huber", "--grad", "-f", "table").stdout
    for needle in ("‖d cost / d pred‖", "mean |grad|", "max |grad|", "mse: largest gradients", "huber: largest"):
        assert needle in table, needle
    d = eval_json(REG, "-l", "mse", "--grad")
    norm = d["results"][0]["gradient"]["cost_grad_norm"]
    line = next(x for x in table.splitlines() if "‖d cost / d pred‖" in x)
    assert f"{norm:.6g}" in line
    md = ok("eval", REG, "-l", "mse", "--grad", "-f", "markdown").stdout
    assert "grad_cost_grad_norm" in md and "**mse: largest gradients**" in md
    assert "| row | y_true | y_pred | loss | gradient |" in md
    # Without --grad no gradient appears anywhere.
    plain = eval_json(REG, "-l", "mse")
    assert "gradient" not in plain["results"][0]


# --- eval --sweep --------------------------------------------------------------------------------


def sweep_of(d: dict[str, Any]) -> dict[str, Any]:
    assert len(d["results"]) == 1
    return d["results"][0]["sweep"]


def check_sweep(sw: dict[str, Any], values: np.ndarray, costs: list[float]) -> None:
    assert_close(sw["values"], values, rel=1e-15)
    for v, got, want in zip(sw["values"], sw["costs"], costs, strict=True):
        assert rel_close(got, want), (v, got, want)
    finite = [(c, v) for v, c in zip(sw["values"], costs, strict=True) if math.isfinite(c)]
    best_cost, best_value = min(finite, key=lambda t: t[0])
    assert sw["least"]["value"] == best_value and rel_close(sw["least"]["cost"], best_cost)


@pytest.mark.parametrize(
    "grid, values",
    [
        ("delta=0.1:5:20", np.linspace(0.1, 5.0, 20)),
        ("delta=0.01:100:30:log", np.geomspace(0.01, 100.0, 30)),
        ("delta=0.5,1,2", np.array([0.5, 1.0, 2.0])),
        ("delta = 3 , 0.2", np.array([3.0, 0.2])),
    ],
)
def test_huber_sweep_equals_separate_evaluations(grid: str, values: np.ndarray) -> None:
    y, p = reg_arrays()
    d = eval_json(REG, "-l", "huber", "--sweep", grid)
    sw = sweep_of(d)
    assert sw["loss"] == "huber" and sw["param"] == "delta" and sw["n"] == 442 and sw["fixed"] == {}
    check_sweep(sw, values, [lossctl.evaluate(y, p, "huber", delta=float(v)).cost for v in values])
    for v, c in zip(values, sw["costs"], strict=True):
        assert rel_close(c, float(np.mean(huber(p - y, v))), 1e-10)
    # The result itself is still the cost at the default delta.
    assert rel_close(d["results"][0]["cost"], float(np.mean(huber(p - y, 1.0))), 1e-12)


def test_sweeps_with_weights_filters_and_other_losses(data_dir: Path) -> None:
    # Weighted.
    df = pd.read_csv(data_dir / "weighted.csv")
    y, p, w = (df[c].to_numpy(float) for c in ("y_true", "y_pred", "w"))
    values = np.linspace(0.5, 20, 9)
    sw = sweep_of(eval_json(data_dir / "weighted.csv", "-l", "huber", "--weight", "w", "--sweep", "delta=0.5:20:9"))
    check_sweep(sw, values, [lossctl.evaluate(y, p, "huber", w, delta=float(v)).cost for v in values])
    assert rel_close(sw["costs"][3], float(np.sum(w * huber(p - y, values[3])) / w.sum()), 1e-10)
    # --where: only the validation rows.
    reg = frame(REG)
    val = reg[reg["split"] == "validation"]
    yv, pv = val["y_true"].to_numpy(float), val["y_pred"].to_numpy(float)
    sw = sweep_of(eval_json(REG, "-l", "huber", "--where", "split=validation", "--sweep", "delta=1,5,25"))
    assert sw["n"] == len(val)
    check_sweep(sw, np.array([1.0, 5.0, 25.0]), [lossctl.evaluate(yv, pv, "huber", delta=v).cost for v in (1, 5, 25)])
    # Pinball over its quantile (both ends included).
    y, p = reg_arrays()
    qs = np.linspace(0.0, 1.0, 11)
    sw = sweep_of(eval_json(REG, "-l", "pinball", "--sweep", "quantile=0:1:11"))
    check_sweep(sw, qs, [lossctl.evaluate(y, p, "pinball", quantile=float(q)).cost for q in qs])
    assert rel_close(sw["costs"][9], float(np.mean(pinball(y, p, qs[9]))), 1e-10)
    # --reduction element_mean: the mean also divided by the K classes.
    mc = frame(MULTI)
    ym, pm = mc["label"].to_numpy(int), mc[P_COLS].to_numpy(float)
    sw = sweep_of(eval_json(MULTI, "-l", "cce", "--reduction", "element_mean", "--sweep", "eps=0,1e-3,0.05"))
    want = [lossctl.evaluate(ym, pm, "cce", reduction="element_mean", eps=e).cost for e in (0.0, 1e-3, 0.05)]
    check_sweep(sw, np.array([0.0, 1e-3, 0.05]), want)
    picked = pm[np.arange(len(ym)), ym]
    assert rel_close(sw["costs"][2], float(np.mean(-np.log(np.clip(picked, 0.05, 0.95)))) / 10, 1e-10)
    # --reduction sum sweeps the sum.
    sw = sweep_of(eval_json(REG, "-l", "huber", "--reduction", "sum", "--sweep", "delta=1,2"))
    check_sweep(sw, np.array([1.0, 2.0]), [float(np.sum(huber(p - y, v))) for v in (1.0, 2.0)])


def test_classification_sweeps_with_fixed_parameters_and_class_weights() -> None:
    df = frame(MULTI)
    y = df["label"].to_numpy(int)
    x = df[LOGIT_COLS].to_numpy(float)
    values = np.linspace(0.0, 0.3, 4)
    sw = sweep_of(eval_json(MULTI, "-l", "softmax_ce", "--sweep", "label_smoothing=0:0.3:4"))
    check_sweep(sw, values, [lossctl.evaluate(y, x, "softmax_ce", label_smoothing=float(s)).cost for s in values])
    # Independently: smoothed labels t = (1 - s) onehot + s / K against log_softmax.
    logp = x - np.logaddexp.reduce(x, axis=1, keepdims=True)
    for s, c in zip(values, sw["costs"], strict=True):
        t = (1 - s) * np.eye(10)[y] + s / 10
        assert rel_close(c, float(np.mean(-(t * logp).sum(axis=1))), 1e-9)
    # A fixed second parameter and class weights.
    b = frame(BIN)
    yb, xb = b["y_true"].to_numpy(float), b["logit"].to_numpy(float)
    d = eval_json(
        BIN,
        "-l",
        "bce_logits",
        "-p",
        "label_smoothing=0.1",
        "--class-weight",
        "0.3,0.7",
        "--sweep",
        "pos_weight=0.5,1,3",
    )
    sw = sweep_of(d)
    assert sw["fixed"] == {"label_smoothing": 0.1}
    cw = np.where(yb > 0, 0.7, 0.3)
    want = [
        lossctl.evaluate(yb, xb, "bce_logits", class_weight=[0.3, 0.7], pos_weight=v, label_smoothing=0.1).cost
        for v in (0.5, 1.0, 3.0)
    ]
    check_sweep(sw, np.array([0.5, 1.0, 3.0]), want)
    ys = yb * 0.9 + 0.05
    ref = 3.0 * ys * np.logaddexp(0, -xb) + (1 - ys) * np.logaddexp(0, xb)
    assert rel_close(sw["costs"][2], float(np.sum(cw * ref) / cw.sum()), 1e-9)


def test_sweep_with_nan_omit(data_dir: Path) -> None:
    df = pd.read_csv(data_dir / "nan.csv")
    y, p = df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)
    sw = sweep_of(eval_json(data_dir / "nan.csv", "-l", "huber", "--nan", "omit", "--sweep", "delta=0.5,2,8"))
    assert sw["n"] == len(df) - 4
    want = [lossctl.evaluate(y, p, "huber", nan="omit", delta=v).cost for v in (0.5, 2.0, 8.0)]
    check_sweep(sw, np.array([0.5, 2.0, 8.0]), want)
    keep = ~np.isnan(p)
    assert rel_close(sw["costs"][1], float(np.mean(huber(p[keep] - y[keep], 2.0))), 1e-10)
    # Under --nan propagate every cost is NaN, and there is no best value.
    sw = sweep_of(eval_json(data_dir / "nan.csv", "-l", "huber", "--nan", "propagate", "--sweep", "delta=0.5,2"))
    assert sw["costs"] == ["nan", "nan"] and sw["least"] is None


def test_best_is_the_least_finite_cost(data_dir: Path) -> None:
    src = data_dir / "zero_p.csv"  # the first row gives its true class p = 0: -log 0 without clipping
    d = eval_json(src, "-l", "cce", "--sweep", "eps=0,1e-7,1e-3,0.4")
    sw = sweep_of(d)
    assert sw["costs"][0] == "inf"
    p = np.array([[0.0, 0.5, 0.5], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    picked = p[[0, 1, 2], [0, 1, 2]]
    for eps, c in zip((1e-7, 1e-3, 0.4), sw["costs"][1:], strict=True):
        assert rel_close(c, float(np.mean(-np.log(np.clip(picked, eps, 1 - eps)))), 1e-12)
    finite = [c for c in sw["costs"] if c != "inf"]
    assert sw["least"]["cost"] == min(finite) and sw["least"]["value"] == 0.4
    rows = csv_rows(ok("eval", src, "-l", "cce", "--sweep", "eps=0,1e-7,1e-3,0.4", "-f", "csv").stdout)
    assert [r["least"] for r in rows] == ["False", "False", "False", "True"] and rows[0]["cost"] == "inf"


def test_sweep_table_csv_and_markdown_outputs() -> None:
    y, p = reg_arrays()
    table = ok("eval", REG, "-l", "huber", "--sweep", "delta=0.5:8:6", "-f", "table").stdout
    assert "huber: cost against delta, 442 rows, one pass" in table
    values = np.linspace(0.5, 8, 6)
    costs = [float(np.mean(huber(p - y, v))) for v in values]
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == ["delta", "cost"])
    body = [line.split() for line in lines[start + 1 : start + 7]]
    assert [float(b[0]) for b in body] == pytest.approx(values, rel=1e-5)
    assert [float(b[1]) for b in body] == pytest.approx(costs, rel=1e-9)
    assert body[0][2:] == ["<-", "least"] and all(len(b) == 2 for b in body[1:])
    # ... and a chart of the cost against delta, with its legend.
    chart_start = next(i for i, line in enumerate(lines) if i > start and line == "cost")
    assert any(line.strip() == "delta" for line in lines[chart_start:])
    assert any(line.strip() == "* huber" for line in lines[chart_start:])
    assert "sweep" in table.split("phase")[-1]  # the sweep pass is timed apart
    rows = csv_rows(ok("eval", REG, "-l", "huber", "--sweep", "delta=0.5:8:6", "-f", "csv").stdout)
    assert list(rows[0]) == ["loss", "param", "value", "cost", "least"]
    assert len(rows) == 6
    for row, v, c in zip(rows, values, costs, strict=True):
        assert row["loss"] == "huber" and row["param"] == "delta"
        assert float(row["value"]) == v and rel_close(float(row["cost"]), c, 1e-10)
    assert [row["least"] for row in rows] == ["True"] + ["False"] * 5
    md = ok("eval", REG, "-l", "huber", "--sweep", "delta=1,2", "-f", "markdown").stdout
    assert "huber: cost against delta" in md and "```" in md


@pytest.mark.parametrize(
    "args, needles",
    [
        (["-l", "huber,mae", "--sweep", "delta=1,2"], ["one loss"]),
        (["-l", "huber", "-l", "pinball", "--sweep", "delta=1,2"], ["one loss"]),
        (["-l", "huber", "-p", "delta=2", "--sweep", "delta=1,2"], ["-p delta", "--sweep delta"]),
        (["-l", "huber", "--sweep", "delta=0,1"], ["delta=0", "outside (0, inf)"]),
        (["-l", "huber", "--sweep", "delta=-1:1:3"], ["delta=-1", "outside"]),
        (["-l", "pinball", "--sweep", "quantile=0.5:1.5:3"], ["quantile=1.5", "outside [0, 1]"]),
        (["-l", "huber", "--sweep", "dleta=1,2"], ["huber has no parameter 'dleta'", "Did you mean 'delta'?"]),
        (["-l", "mse", "--sweep", "delta=1,2"], ["mse has no parameter 'delta'", "no parameters"]),
        (["-l", "huber", "--compat", "torch", "--sweep", "delta=1,2"], ["--compat"]),
        (["-l", "huber", "--sweep", "delta=1:2"], ["--sweep 'delta=1:2'", "start:stop:count"]),
        (["-l", "huber", "--sweep", "delta=a:b:3"], ["--sweep 'delta=a:b:3'"]),
        (["-l", "huber", "--sweep", "delta=1:2:1"], ["count from 2"]),
        (["-l", "huber", "--sweep", "delta=-1:2:5:log"], ["log grid needs positive ends"]),
        (["-l", "huber", "--sweep", "delta=0:2:5:log"], ["log grid needs positive ends"]),
        (["-l", "huber", "--sweep", "delta"], ["NAME=START:STOP:COUNT"]),
        (["-l", "huber", "--sweep", "=1,2"], ["NAME=START:STOP:COUNT"]),
        (["-l", "huber", "--sweep", "delta=1,,2"], ["--sweep 'delta=1,,2'"]),
        (["-l", "huber", "--sweep", "delta=1,inf"], ["finite"]),
        (["-l", "huber", "--sweep", "delta=1:2:3:lin"], ["--sweep 'delta=1:2:3:lin'"]),
        (["-l", "huber", "--reduction", "none", "--sweep", "delta=1,2"], ["none"]),
    ],
)
def test_sweep_errors_are_one_line(args: list[str], needles: list[str]) -> None:
    assert_error(run("eval", REG, *args), *needles)


def test_sweep_api_matches_the_cli() -> None:
    """``parse_grid`` and ``EvalResult.sweep`` give what the CLI prints."""
    from lossctl.api import parse_grid

    name, values = parse_grid("delta=0.2:3:5:log")
    assert name == "delta"
    assert_close(values, np.geomspace(0.2, 3.0, 5), rel=1e-15)
    y, p = reg_arrays()
    res = lossctl.evaluate(y, p, "huber")
    sw = res.sweep("delta", values)
    cli = sweep_of(eval_json(REG, "-l", "huber", "--sweep", "delta=0.2:3:5:log"))
    assert_close(sw.costs, cli["costs"], rel=1e-15)
    assert sw.least() == (cli["least"]["value"], cli["least"]["cost"])
    with pytest.raises(ValueError, match="no parameter"):
        res.sweep("beta", [1.0])
    torch_res = lossctl.evaluate(y, p, "huber", compat="torch")
    with pytest.raises(ValueError, match="--compat"):
        torch_res.sweep("delta", [1.0])


def test_image_format_follows_the_flag_and_a_bad_chart_writes_no_image(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    svg, png = tmp_path / "chart_without_extension", tmp_path / "named.svg"
    ok("plot", "mse", "--svg", svg, "--png", png, "--width", "60", "--height", "8")
    assert ET.fromstring(svg.read_bytes()).tag.endswith("svg")  # --svg: an SVG whatever the name
    assert png.read_bytes()[:8] == PNG_MAGIC  # --png: a PNG, even named .svg
    late = tmp_path / "late.png"
    r = run("plot", "mse", "--png", late, "--width", "5")
    assert r.exit_code == 2 and "width" in r.stderr
    assert not late.exists()  # the chart is checked before any image is written
