"""``--compat``: each framework's own answer, checked against the framework itself.

Every convention a loss declares (``Loss.compat``) is verified here, one of two ways:

- live, against PyTorch and scikit-learn when they are installed (``Convention.call``), on seeded
  random inputs and on the edge values (probabilities 0 and 1, logits +-100 and +-inf, class ids
  at both ends, zero vectors), in the framework's own precision;
- against golden values for Keras and Optax, produced by ``scripts/make_goldens.py`` with the
  real libraries (their versions are recorded in ``tests/goldens/*.json``).

Tolerances follow the issue: 1e-6 relative for frameworks computing in float32 (lossctl widens
the framework's float32 inputs and computes in float64, so float32 rounding inside the framework
remains; an absolute 1e-6 allows for float32 results that round a tiny loss to 0), 1e-12 relative
for float64 ones. A test fails when a declared loss has no reference comparison at all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lossctl
from lossctl.api import compat_params
from lossctl.errors import InputError, UsageError
from lossctl.registry import FRAMEWORK_DTYPE, FRAMEWORKS, Pred, Task, registry
from lossctl.samples import draw

GOLDENS = Path(__file__).parent / "goldens"
LOSSES = list(registry())
# Losses no framework has: they are checked against the NumPy reference and the mpmath oracle.
NO_FRAMEWORK = {
    "pseudo_huber": "no framework ships it; tests/test_oracles.py checks it against mpmath",
    "smape": "no framework ships it; tests/test_oracles.py checks it against mpmath",
}
K = 4


def _load(framework: str) -> dict[str, Any]:
    path = GOLDENS / f"{framework}.json"
    return json.loads(path.read_text()) if path.exists() else {"cases": []}


GOLDEN = {fw: _load(fw) for fw in ("keras", "optax")}


def _num(x: Any) -> Any:
    if isinstance(x, str):
        return float(x)
    if isinstance(x, list):
        return [_num(v) for v in x]
    return x


def close(got: float, want: float, dtype: str) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return got == want
    rtol, atol = (1e-6, 1e-6) if dtype == "float32" else (1e-12, 1e-300)
    return abs(got - want) <= rtol * abs(want) + atol


# --- every convention is verified ---------------------------------------------------------------


def _golden_pairs() -> set[tuple[str, str]]:
    return {(c["loss"], fw) for fw, d in GOLDEN.items() for c in d["cases"]}


def test_every_loss_has_a_framework_comparison_or_a_reason() -> None:
    golden = _golden_pairs()
    for lo in [lo for lo in LOSSES if lo.origin == "built-in"]:  # a plugin's frameworks are its own affair
        assert lo.compat or lo.name in NO_FRAMEWORK, f"{lo.name}: declare its frameworks, or say why none"
        for fw, conv in lo.compat.items():
            assert fw in FRAMEWORKS
            verified = conv.call is not None or (lo.name, fw) in golden
            assert verified, f"{lo.name}/{fw}: no live comparison and no golden values (scripts/make_goldens.py)"
    assert set(NO_FRAMEWORK) <= {lo.name for lo in LOSSES}


def test_goldens_name_only_declared_conventions() -> None:
    for fw, d in GOLDEN.items():
        for c in d["cases"]:
            lo = lossctl.get_loss(c["loss"])
            assert fw in lo.compat, f"golden {fw} case for {lo.name}, which does not declare {fw}"
    assert GOLDEN["keras"]["cases"] and GOLDEN["optax"]["cases"], "run scripts/make_goldens.py"


# --- golden values (Keras, Optax) -----------------------------------------------------------------

GOLDEN_CASES = [(fw, i, c) for fw, d in GOLDEN.items() for i, c in enumerate(d["cases"])]


def _user_params(lo: Any, fw: str, case: dict[str, Any]) -> tuple[dict[str, float], int | None]:
    """The parameters a user would pass: those the framework exposes, from the case's lossctl
    parameters (or its framework keywords mapped back); the rest must equal the convention's."""
    conv = lo.compat[fw]
    back = {v: k for k, v in conv.kwargs.items()}
    params = {k: float(v) for k, v in case["params"].items() if k != "ignore_index"}
    for k, v in case.get("framework_kwargs", {}).items():
        if k in back and isinstance(v, (int, float)) and not isinstance(v, bool):
            params.setdefault(back[k], float(v))
    ignore = case["params"].get("ignore_index")
    given = {k: v for k, v in params.items() if k in conv.kwargs}
    resolved = compat_params(lo, fw, given)
    for k, v in params.items():
        if k not in conv.kwargs and k in resolved:
            same = v == resolved[k] or (v < 0 and k == "alpha" and resolved[k] < 0)
            same = same or (k == "eps" and conv.clip_pred is not None)  # the clip is the convention's eps
            assert same, f"{lo.name}/{fw}: the golden case used {k}={v}; the convention fixes {resolved[k]}"
    return given, None if ignore is None else int(ignore)


@pytest.mark.parametrize(
    "fw, i, case", GOLDEN_CASES, ids=[f"{fw}-{c['loss']}-{c['case']}-{i}" for fw, i, c in GOLDEN_CASES]
)
def test_compat_matches_golden(fw: str, i: int, case: dict[str, Any]) -> None:
    lo = lossctl.get_loss(case["loss"])
    given, ignore = _user_params(lo, fw, case)
    yt = np.asarray(_num(case["y_true"]), dtype=np.float64)
    yp = np.asarray(_num(case["y_pred"]), dtype=np.float64)
    if lo.task is Task.MULTICLASS and case.get("label_format") == "ids":
        yt = yt.astype(np.int64)
    if yt.ndim == 2 and yt.shape[1] == 1 and lo.task is not Task.MULTICLASS:
        yt = yt[:, 0]
    if yp.ndim == 2 and yp.shape[1] == 1 and lo.task is not Task.MULTICLASS and not lo.pred_columns:
        yp = yp[:, 0]
    w = None if case.get("sample_weight") is None else np.asarray(_num(case["sample_weight"]), dtype=np.float64)
    expected = float(_num(case["expected"]))

    def run() -> Any:
        return lossctl.evaluate(yt, yp, lo, w, compat=fw, ignore_index=ignore, keep_per_sample=True, **given)

    if math.isnan(expected):  # the framework gives NaN: lossctl refuses the row (undefined, or outside)
        with pytest.raises(InputError, match="undefined|NaN|outside"):
            run()
        return
    r = run()
    assert close(r.cost, expected, "float32"), (r.cost, expected, case.get("notes"))
    if case.get("per_sample") is not None and ignore is None:
        want = np.asarray(_num(case["per_sample"]), dtype=np.float64).reshape(-1)
        for got_i, want_i in zip(r.per_sample, want, strict=True):
            assert close(float(got_i), float(want_i), "float32"), (got_i, want_i)


# --- live: PyTorch and scikit-learn ---------------------------------------------------------------

LIVE = [(lo, fw) for lo in LOSSES for fw, conv in lo.compat.items() if conv.call is not None]


def _framework_available(fw: str) -> None:
    pytest.importorskip({"torch": "torch", "sklearn": "sklearn"}[fw])


def _edge_inputs(lo: Any, rng: np.random.Generator) -> list[tuple[Any, Any]]:
    """The issue's edge values for this kind of loss (the framework must accept them)."""
    out = []
    if lo.pred_columns:
        return out
    if lo.task is Task.MULTICLASS:
        eye = np.eye(K)
        if lo.prediction is Pred.PROBABILITY:
            p = np.vstack([eye, np.full((1, K), 1.0 / K), eye[::-1]])
            if lo.pred_rows == "probabilities":
                pass
        elif lo.pred_rows == "log_probabilities":
            with np.errstate(divide="ignore"):
                p = np.log(np.vstack([np.full((1, K), 1.0 / K), 0.5 * eye[[0, 1]] + 0.5 * eye[[1, 2]]]))
            p = p[np.isfinite(p).all(axis=1)] if lo.name != "nll" else p
        else:
            p = np.vstack([100.0 * eye, -100.0 * eye, np.zeros((1, K))])
        ids = np.arange(p.shape[0]) % K
        ids[0], ids[-1] = 0, K - 1  # both ends of the range
        out.append((ids, p))
        if lo.name in ("cosine",):  # zero vectors
            out.append((np.array([0, 1]), np.vstack([np.zeros(K), np.ones(K)])))
        return out
    if lo.task is Task.BINARY:
        labels = [-1.0, 0.0, 1.0] if any(c.labels for c in lo.compat.values()) else [0.0, 1.0]
        if lo.prediction is Pred.PROBABILITY:
            preds = [0.0, 1.0, 0.5, 1e-30]
        else:
            preds = [-100.0, 100.0, 0.0, -math.inf, math.inf]
        y = np.repeat(labels, len(preds))
        p = np.tile(preds, len(labels))
        return [(y, p)]
    y, p = draw(lo, rng, 8)
    y[0] = p[0]  # an exact hit
    return [(y, p)]


def _cast(a: Any, dtype: str) -> Any:
    a = np.asarray(a)
    return a.astype(dtype) if a.dtype.kind == "f" else a


def _framework_cost(lo: Any, fw: str, yt: Any, yp: Any, dtype: str, params: dict[str, float]) -> float:
    conv = lo.compat[fw]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(conv.call(_cast(yt, dtype), _cast(yp, dtype), **params))
        except (ValueError, RuntimeError) as e:  # the framework refuses the input
            pytest.skip(f"{fw} refuses this input: {str(e)[:80]}")


def _check(lo: Any, fw: str, yt: Any, yp: Any, params: dict[str, float]) -> None:
    dtype = lo.compat[fw].dtype or FRAMEWORK_DTYPE[fw]
    want = _framework_cost(lo, fw, yt, yp, dtype, params)
    if math.isnan(want):
        with pytest.raises(InputError, match="undefined|NaN|outside"):
            lossctl.evaluate(yt, yp, lo, compat=fw, **params)
        return
    got = lossctl.evaluate(yt, yp, lo, compat=fw, **params).cost
    assert close(got, want, dtype), (lo.name, fw, got, want)


def _exposed_grid(lo: Any, fw: str) -> list[dict[str, float]]:
    """The framework's defaults, then each parameter it exposes at another valid value."""
    conv = lo.compat[fw]
    grid: list[dict[str, float]] = [{}]
    for p in lo.params:
        if p.name in conv.kwargs:
            default = compat_params(lo, fw, {})[p.name]
            for v in (0.1, 0.5, 1.5, 2.0, 1.0):
                if v != default and p.domain.contains(v):
                    grid.append({p.name: v})
                    break
    return grid


@pytest.mark.parametrize("lo, fw", LIVE, ids=[f"{fw}-{lo.name}" for lo, fw in LIVE])
def test_compat_matches_framework_on_random_inputs(lo: Any, fw: str) -> None:
    _framework_available(fw)
    rng = np.random.default_rng(17)
    for n in (37, 2000):  # (one row: scikit-learn reads a single class as negative; the edges cover it)
        yt, yp = draw(lo, rng, n, k=K)
        if lo.compat[fw].dtype or FRAMEWORK_DTYPE[fw] == "float32":
            yp = yp.astype(np.float32).astype(np.float64)
            if lo.pred_rows == "probabilities":
                yp = yp / yp.sum(axis=1, keepdims=True)
        for params in _exposed_grid(lo, fw):
            _check(lo, fw, yt, yp, params)


@pytest.mark.parametrize("lo, fw", LIVE, ids=[f"{fw}-{lo.name}" for lo, fw in LIVE])
def test_compat_matches_framework_on_edge_values(lo: Any, fw: str) -> None:
    _framework_available(fw)
    cases = _edge_inputs(lo, np.random.default_rng(3))
    if not cases:
        pytest.skip(f"{lo.name}: named prediction columns; covered by the random inputs")
    for yt, yp in cases:
        _check(lo, fw, yt, yp, {})


# --- the example, and the CLI ---------------------------------------------------------------


def test_bce_of_a_certain_wrong_answer_per_framework() -> None:
    y, p = [1.0], [0.0]
    assert lossctl.evaluate(y, p, "bce").cost == math.inf
    assert lossctl.evaluate(y, p, "bce", compat="torch").cost == pytest.approx(100.0, rel=1e-12)
    assert lossctl.evaluate(y, p, "bce", compat="keras").cost == pytest.approx(-math.log(np.float32(1e-7)), rel=1e-7)
    assert lossctl.evaluate(y, p, "bce", compat="sklearn").cost == pytest.approx(-math.log(2.0**-52), rel=1e-12)
    # Keras's upper clip is 1 - 2^-23 in float32: the two sides are not symmetric.
    assert lossctl.evaluate([0.0], [1.0], "bce", compat="keras").cost == pytest.approx(23 * math.log(2), rel=1e-7)


def test_missing_framework_and_unexposed_parameter_are_clear() -> None:
    with pytest.raises(UsageError, match="optax has no bce loss.*torch, keras, sklearn"):
        lossctl.evaluate([1.0], [0.5], "bce", compat="optax")
    with pytest.raises(UsageError, match="binary_cross_entropy has no parameter for lossctl's 'label_smoothing'"):
        lossctl.evaluate([1.0], [0.5], "bce", compat="torch", label_smoothing=0.1)
    with pytest.raises(UsageError, match="not a framework"):
        lossctl.evaluate([1.0], [0.5], "bce", compat="jax")


def test_weighted_divisor_follows_the_framework() -> None:
    y, p, w = [0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [1.0, 0.0, 3.0]
    own = lossctl.evaluate(y, p, "mse", w)
    assert own.cost == pytest.approx(4.0 / 4.0) and own.divisor == 4.0
    keras = lossctl.evaluate(y, p, "mse", w, compat="keras")  # sum(w l) / n, zero-weight rows counted
    assert keras.cost == pytest.approx(4.0 / 3.0) and keras.divisor == 3.0
    assert lossctl.evaluate(y, p, "mse", w, compat="sklearn").cost == pytest.approx(1.0)


def test_torch_bce_weight_and_class_weighted_cross_entropy() -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional  # noqa: N806
    rng = np.random.default_rng(5)
    y = (rng.random(50) < 0.5).astype(np.float32)
    p = rng.random(50).astype(np.float32)
    w = rng.random(50).astype(np.float32)
    w[::5] = 0
    want = float(F.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(y), weight=torch.from_numpy(w)))
    assert close(lossctl.evaluate(y, p, "bce", w, compat="torch").cost, want, "float32")
    ids = rng.integers(0, K, 60)
    x = rng.normal(0, 2, (60, K)).astype(np.float32)
    cw = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32)
    want = float(F.cross_entropy(torch.from_numpy(x), torch.from_numpy(ids), weight=torch.from_numpy(cw)))
    got = lossctl.evaluate(ids, x, "softmax_ce", compat="torch", class_weight=cw).cost
    assert close(got, want, "float32")
    # lossctl's own class-weighted mean is the same weighted mean (sum of w l over sum of w).
    own = lossctl.evaluate(ids, x.astype(np.float64), "softmax_ce", class_weight=cw)
    assert own.cost == pytest.approx(want, rel=1e-6)
    ignore = ids.copy()
    ignore[::4] = -100
    want = float(F.cross_entropy(torch.from_numpy(x), torch.from_numpy(ignore), ignore_index=-100))
    r = lossctl.evaluate(ignore, x, "softmax_ce", compat="torch", ignore_index=-100)
    assert close(r.cost, want, "float32") and r.ignored == 15 and r.n == 45


def test_kl_div_reductions() -> None:
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    y = np.array([[0.1, 0.1, 0.8], [0.5, 0.5, 0.0]])
    batch = lossctl.evaluate(y, p, "kl_div")
    element = lossctl.evaluate(y, p, "kl_div", reduction="element_mean")
    assert element.cost == pytest.approx(batch.cost / 3, rel=1e-14)
    assert element.divisor == 6.0 and batch.divisor == 2.0
    torch_default = lossctl.evaluate(y, p, "kl_div", compat="torch")
    assert torch_default.cost == pytest.approx(element.cost, rel=1e-6)


def test_class_weights_need_hard_labels_and_one_per_class() -> None:
    with pytest.raises(InputError, match="soft label"):
        lossctl.evaluate([0.3, 1.0], [0.5, 0.5], "bce", class_weight=[1.0, 2.0])
    with pytest.raises(UsageError, match="3 class weights given for 2 classes"):
        lossctl.evaluate([0.0, 1.0], [0.5, 0.5], "bce", class_weight=[1.0, 2.0, 3.0])
    r = lossctl.evaluate([0.0, 1.0], [0.5, 0.25], "bce", class_weight={1: 3.0})
    assert r.cost == pytest.approx((math.log(2) + 3 * math.log(4)) / 4)
    with pytest.raises(UsageError, match="classification"):
        lossctl.evaluate([0.0], [1.0], "mse", class_weight=[1.0])


def test_labels_taken_as_given() -> None:
    # optax uses the label as the target: a 0 label costs max(0, 1 - 0 s) = 1 whatever the score.
    assert lossctl.evaluate([0.0, 1.0], [0.3, -0.2], "hinge", compat="optax").cost == pytest.approx(1.1, rel=1e-6)
    assert lossctl.evaluate([-1.0, 1.0], [0.3, -0.2], "hinge", compat="optax").cost == pytest.approx(1.25, rel=1e-6)
    # Keras converts 0/1 labels only when all of them are 0 or 1.
    assert lossctl.evaluate([0.0, 1.0], [0.3, -0.2], "hinge", compat="keras").cost == pytest.approx(1.25, rel=1e-6)
    assert lossctl.evaluate([0.0, -1.0], [0.3, -0.2], "hinge", compat="keras").cost == pytest.approx(0.9, rel=1e-6)


def test_every_loss_describes_each_framework() -> None:
    from lossctl.docs import describe_dict

    for lo in LOSSES:
        fws = describe_dict(lo)["frameworks"]
        assert [f["framework"] for f in fws] == list(FRAMEWORKS)
        for f in fws:
            assert f["has_loss"] == (f["framework"] in lo.compat)
            if f["has_loss"]:
                assert f["api"] and f["dtype"] in ("float32", "float64") and f["weighted_mean_divides_by"]


# --- the CLI ----------------------------------------------------------------------------------------


def _cli(*args: Any) -> Any:
    from typer.testing import CliRunner

    from lossctl.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preds.csv"
    path.write_text(text)
    return path


def test_cli_compat_all_shows_each_framework_and_the_difference(tmp_path: Path) -> None:
    f = _csv(tmp_path, "y_true,y_pred\n1,0\n0,0.2\n1,0.9\n")
    r = _cli("eval", f, "--loss", "bce", "--compat", "all", "-f", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    rows = {x["label"]: x for x in d["results"]}
    assert set(rows) == {"bce", "bce (torch)", "bce (keras)", "bce (sklearn)"}
    assert rows["bce"]["cost"] == "inf"
    assert rows["bce (torch)"]["cost"] == pytest.approx((100 - math.log(0.8) - math.log(0.9)) / 3, rel=1e-6)
    assert rows["bce (torch)"]["api"] == "torch.nn.functional.binary_cross_entropy"
    assert d["skipped"] == {"bce/optax": "optax has no bce loss"}
    table = _cli("eval", f, "--loss", "bce", "--compat", "all", "-f", "table")
    assert table.exit_code == 0 and "bce (keras)" in table.stdout and "optax has no bce loss" in table.stdout


def test_cli_compat_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    f = _csv(tmp_path, "y_true,y_pred\n1,0.5\n")
    r = _cli("eval", f, "--loss", "bce", "--compat", "optax")
    assert r.exit_code == 2 and "optax has no bce loss" in r.stderr and "Traceback" not in r.output
    r = _cli("eval", f, "--loss", "bce", "--compat", "torch", "-p", "label_smoothing=0.1")
    assert r.exit_code == 2 and "label_smoothing" in r.stderr


def test_cli_parameter_lists_class_weights_and_ignore_index(tmp_path: Path) -> None:
    f = _csv(tmp_path, "y_true,y_pred\n1,0\n2,3\n3,3\n")
    r = _cli("eval", f, "--loss", "pinball", "-p", "quantile=0.1,0.5,0.9", "-f", "json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["results"]
    assert [x["label"] for x in res] == ["pinball[quantile=0.1]", "pinball[quantile=0.5]", "pinball[quantile=0.9]"]
    assert [x["cost"] for x in res] == pytest.approx([0.9 / 3 + 0.1 / 3, 0.5 / 3 + 0.5 / 3, 0.1 / 3 + 0.9 / 3])
    f = _csv(tmp_path, "label,logit_0,logit_1,logit_2\n0,2,0,0\n2,0,0,1\n-100,5,0,0\n")
    r = _cli("eval", f, "--loss", "softmax_ce", "--ignore-index", "-100", "--class-weight", "1,1,3", "-f", "json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["results"][0]
    lse0 = math.log(math.exp(2) + 2)
    lse2 = math.log(2 + math.e)
    assert row["ignored"] == 1 and row["n"] == 2 and row["divisor"] == 4.0
    assert row["cost"] == pytest.approx((lse0 - 2 + 3 * (lse2 - 1)) / 4, rel=1e-12)


def test_describe_lists_each_framework(tmp_path: Path) -> None:
    r = _cli("describe", "multiclass_hinge", "-f", "json")
    assert r.exit_code == 0
    fws = {f["framework"]: f for f in json.loads(r.stdout)["frameworks"]}
    assert fws["keras"]["api"] == "keras.losses.categorical_hinge" and fws["keras"]["params"] == {"rival_floor": 0.0}
    assert not fws["torch"]["has_loss"]
    md = _cli("describe", "bce", "-f", "markdown").stdout
    assert "| torch | `torch.nn.functional.binary_cross_entropy` |" in md and "| optax | - | has no such loss |" in md
