"""lossctl against the real frameworks: PyTorch and scikit-learn, each skipped when absent.

Everything runs in float64 (torch tensors included) so agreement is checked to ``RTOL`` = 1e-12
relative, per sample and for the cost, on seeded random inputs of a few sizes (one of them, 5000,
not a multiple of the engine's 1024-row blocks), with and without sample weights.

Where a framework's convention differs, the difference is tested, not skipped:

- torch losses take no sample weights, except ``BCELoss``/``BCEWithLogitsLoss(weight=w)``, whose
  'mean' is sum(w l) / n, while lossctl's weighted mean is sum(w l) / sum(w). For the others the
  weighted mean is built from torch's per-sample values (reduction='none').
- ``BCELoss`` clamps each log at -100, so p = 0 with label 1 costs 100 in torch and inf in lossctl
  (lossctl with eps = e^-100 gives torch's 100; the clamp on the p = 1 side has no eps equivalent).
- ``cross_entropy(weight=class_weights)`` with class ids averages by sum of the target weights:
  lossctl's weighted mean with sample_weight = class_weights[y].
- ``kl_div`` takes log-probabilities first and the target second; 'batchmean' is lossctl's cost,
  torch's 'mean' divides by n * K as well. torch gives NaN where y_c = p_c = 0 (0 * log 0 of the
  input); lossctl takes 0 log 0 = 0.
- torch has no binary hinge loss: hinge and squared hinge are compared with clamp formulas and with
  ``MultiMarginLoss`` on the two-column scores [0, s] (which is half the binary hinge).
- ``HuberLoss(delta)`` is lossctl's huber; ``SmoothL1Loss(beta)`` is huber(delta=beta) / beta.
- ``BCEWithLogitsLoss`` computes (1 - y) x - log_sigmoid(x), which cancels when the loss is small
  beside |x|: torch is then accurate to about an ulp of x, absolutely (log1p(e^-30) comes out 1.3%
  low, log1p(e^-700) as 0); per-sample comparisons allow that, and a test shows it.
- torch's log_softmax takes the log of a rounded sum, so for a confident, right prediction its
  cross-entropy is accurate to about K ulps of 1 absolutely, not relatively; so is lossctl's.
  Near-equal large logits (1e6 and 1e6 + 1) are another matter: torch is exact there and lossctl
  must match it.
- KL sums terms of both signs that cancel where p ~ y; torch and lossctl agree to a few ulps of the
  terms' magnitudes, not of a small KL, and are compared so.
- scikit-learn's ``log_loss`` clips probabilities to [eps, 1 - eps], eps = float64 machine epsilon
  (it no longer takes an eps argument): p = 0 with label 1 costs -log(eps) = 36.04, not inf; this
  is lossctl with ``eps=np.finfo(float).eps``.
- scikit-learn's ``hinge_loss`` reads labels with a LabelBinarizer fitted on y_true alone: with
  labels {0, 1} or {-1, 1} both present, the larger is +1, as in lossctl; if y_true holds a single
  class, every sample is read as the negative class (even with labels=[0, 1]).

The table at the end must agree with the tests; every loss's framework conventions (``--compat``)
are checked in tests/test_compat.py, which also requires each loss to have a comparison.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import lossctl
from lossctl.registry import registry

RTOL = 1e-12
EPS = float(np.finfo(np.float64).eps)
SIZES = (7, 1024, 5000)  # 5000 is not a multiple of the engine's block of 1024 rows
WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
SIZED = pytest.mark.parametrize("n", SIZES)

# Which losses each framework is compared with, filled in by @compares on the tests themselves.
COMPARED: dict[str, set[str]] = {"torch": set(), "sklearn": set()}


def compares(framework: str, *losses: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def mark(test: Callable[..., None]) -> Callable[..., None]:
        COMPARED[framework].update(losses)
        return test

    return mark


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def skm() -> Any:
    pytest.importorskip("sklearn")
    import sklearn.metrics

    return sklearn.metrics


# --- helpers --------------------------------------------------------------------------------------


def close(got: Any, want: Any, what: str = "", atol: Any = 0.0) -> None:
    """float64 agreement to relative 1e-12, exact where the reference is 0 or inf.

    ``atol`` (a scalar or one bound per element) is added only where a framework's own formula is
    accurate in absolute rather than relative terms; each use says why.
    """
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    if np.all(np.asarray(atol) == 0):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=0, err_msg=what)
        return
    ok = (g == w) | (np.abs(g - w) <= RTOL * np.abs(w) + atol)
    if not np.all(ok):
        i = np.flatnonzero(~ok)[:5]
        raise AssertionError(
            f"{what}: {int((~ok).sum())} of {ok.size} differ beyond rtol {RTOL:g} + atol; "
            f"first at {i.tolist()}: got {g.ravel()[i].tolist()}, want {w.ravel()[i].tolist()}"
        )


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded by the key (crc32, not hash(): that changes from run to run)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def weights(rng: np.random.Generator, n: int) -> np.ndarray:
    w = rng.uniform(0.0, 2.0, n)
    w[::7] = 0.0  # a zero weight drops a row
    w[0] = 1.5  # keep the sum positive for tiny n
    return w


def evaluate(y: Any, p: Any, loss: str, w: Any = None, **params: float) -> lossctl.EvalResult:
    return lossctl.evaluate(y, p, loss, sample_weight=w, keep_per_sample=True, **params)


def weighted_mean(values: np.ndarray, w: np.ndarray | None) -> float:
    if w is None:
        return float(np.mean(values))
    return float(np.sum(w * values) / np.sum(w))


def check_against_per_sample(res: lossctl.EvalResult, ref: np.ndarray, w: np.ndarray | None, what: str) -> None:
    """lossctl's per-sample values equal the framework's, and its (weighted) mean is their mean."""
    close(res.per_sample, ref, f"{what}: per-sample")
    close(res.cost, weighted_mean(ref, w), f"{what}: cost")


def regression_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = rng_for("regression", n)
    y = rng.normal(0.0, 3.0, n)
    p = y + rng.normal(0.0, 2.0, n)  # residuals on both sides of every delta tested
    return y, p, weights(rng, n)


def probabilities(rng: np.random.Generator, n: int) -> np.ndarray:
    """Strictly inside (0, 1), with a few near the ends (but above torch's clamp at e^-100)."""
    p = 1.0 / (1.0 + np.exp(-rng.normal(0.0, 4.0, n)))
    extremes = [1e-30, 1.0 - 1e-16, 1e-8, 1.0 - 1e-8, 0.5]
    p[: min(n, len(extremes))] = extremes[: min(n, len(extremes))]
    return p


def logits(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(0.0, 5.0, n)
    extremes = [30.0, -30.0, 1e4, -1e4, 700.0, -700.0, 1e-10]
    x[: min(n, len(extremes))] = extremes[: min(n, len(extremes))]
    return x


def labels01(rng: np.random.Generator, n: int, soft: bool) -> np.ndarray:
    if soft:
        y = rng.uniform(0.0, 1.0, n)
        y[::5] = 1.0  # hard labels mixed in
        y[1::5] = 0.0
        return y
    return rng.integers(0, 2, n).astype(np.float64)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def multiclass_data(n: int, k: int, huge: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(class ids, logits, soft label rows, weights); with ``huge``, rows with logits +-1e4."""
    rng = rng_for("multiclass", n, k, huge)
    x = rng.normal(0.0, 3.0, (n, k))
    if huge:
        rows = np.arange(0, n, 3)
        x[rows, rng.integers(0, k, rows.size)] = 1e4
        x[rows, (rng.integers(0, k, rows.size))] = -1e4
    ids = rng.integers(0, k, n)
    soft = softmax(rng.normal(0.0, 1.0, (n, k)))
    return ids, x, soft, weights(rng, n)


# --- PyTorch: regression ----------------------------------------------------------------------------

TORCH_REGRESSION = [
    pytest.param("mse", {}, "MSELoss", id="mse"),
    pytest.param("mae", {}, "L1Loss", id="mae"),
    *(pytest.param("huber", {"delta": d}, "HuberLoss", id=f"huber-delta={d}") for d in (0.1, 1.0, 2.5, 100.0)),
]


@compares("torch", "mse", "mae", "huber")
@pytest.mark.parametrize("loss, params, module", TORCH_REGRESSION)
@WEIGHTED
@SIZED
def test_torch_regression(torch: Any, loss: str, params: dict[str, float], module: str, weighted: bool, n: int) -> None:
    y, p, w = regression_data(n)
    w = w if weighted else None
    cls = getattr(torch.nn, module)
    yt, pt = torch.from_numpy(y), torch.from_numpy(p)
    res = evaluate(y, p, loss, w, **params)
    ref = cls(reduction="none", **params)(pt, yt).numpy()
    check_against_per_sample(res, ref, w, loss)
    if not weighted:
        close(res.cost, cls(reduction="mean", **params)(pt, yt).item(), "mean")
        close(
            lossctl.evaluate(y, p, loss, reduction="sum", keep_per_sample=True, **params).cost,
            cls(reduction="sum", **params)(pt, yt).item(),
        )


@compares("torch", "rmse")
@WEIGHTED
@SIZED
def test_torch_rmse_is_root_of_mse_loss(torch: Any, weighted: bool, n: int) -> None:
    """torch has no RMSE loss: lossctl's rmse is sqrt(MSELoss); its per-sample term is the squared error."""
    y, p, w = regression_data(n)
    w = w if weighted else None
    yt, pt = torch.from_numpy(y), torch.from_numpy(p)
    res = evaluate(y, p, "rmse", w)
    se = torch.nn.MSELoss(reduction="none")(pt, yt).numpy()
    close(res.per_sample, se)
    close(res.cost, math.sqrt(weighted_mean(se, w)))
    if not weighted:
        close(res.cost, torch.sqrt(torch.nn.MSELoss()(pt, yt)).item())


@pytest.mark.parametrize("beta", [0.1, 1.0, 2.5])
def test_torch_smooth_l1_is_huber_over_beta(torch: Any, beta: float) -> None:
    y, p, _ = regression_data(5000)
    ref = torch.nn.SmoothL1Loss(reduction="none", beta=beta)(torch.from_numpy(p), torch.from_numpy(y)).numpy()
    close(evaluate(y, p, "huber", delta=beta).per_sample / beta, ref)


# --- PyTorch: binary --------------------------------------------------------------------------------


@compares("torch", "bce")
@pytest.mark.parametrize("soft", [False, True], ids=["hard-labels", "soft-labels"])
@WEIGHTED
@SIZED
def test_torch_bce(torch: Any, soft: bool, weighted: bool, n: int) -> None:
    rng = rng_for("bce", n, soft)
    p, y, w = probabilities(rng, n), labels01(rng, n, soft), weights(rng, n)
    pt, yt = torch.from_numpy(p), torch.from_numpy(y)
    if not weighted:
        res = evaluate(y, p, "bce")
        close(res.per_sample, torch.nn.BCELoss(reduction="none")(pt, yt).numpy(), "per-sample")
        close(res.cost, torch.nn.BCELoss()(pt, yt).item(), "mean")
        return
    res = evaluate(y, p, "bce", w)
    wt = torch.from_numpy(w)
    close(res.per_sample, torch.nn.BCELoss(reduction="none")(pt, yt).numpy(), "per-sample")
    # BCELoss(weight=w) rescales each term; its 'mean' divides by n, lossctl's by sum(w).
    torch_sum = torch.nn.BCELoss(weight=wt, reduction="sum")(pt, yt).item()
    torch_mean = torch.nn.BCELoss(weight=wt, reduction="mean")(pt, yt).item()
    close(res.total, torch_sum, "sum of w * l")
    close(torch_mean, res.total / n, "torch's weighted 'mean' is sum(w l) / n")
    close(res.cost, torch_sum / w.sum(), "lossctl's weighted mean is sum(w l) / sum(w)")


def test_torch_bce_clamps_log_at_minus_100(torch: Any) -> None:
    """torch clamps log(p) and log(1 - p) at -100; lossctl does not clip unless asked (eps)."""
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    p = np.array([0.0, 1.0, 1e-50, 0.0, 0.5])
    ref = torch.nn.BCELoss(reduction="none")(torch.from_numpy(p), torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(ref[:3], [100.0, 100.0, 100.0])
    got = evaluate(y, p, "bce").per_sample
    np.testing.assert_array_equal(got[:2], [math.inf, math.inf])  # -log 0, no clamp
    close(got[2], 50 * math.log(10.0))  # -log(1e-50) = 115.13, below torch's clamp
    close(got[3:], ref[3:])  # 0 log 0 = 0 in both; the ordinary case agrees
    # Clipping p at e^-100 reproduces torch on the p -> 0 side (not on the p -> 1 side: 1 - e^-100 rounds to 1).
    clipped = evaluate(y, p, "bce", eps=math.exp(-100.0)).per_sample
    close(clipped[[0, 2]], ref[[0, 2]])
    assert clipped[1] == math.inf


# torch computes (1 - y) x - log_sigmoid(x): where the loss is small beside |x| (a confident, right
# logit) the two terms cancel and torch keeps only about one ulp of x in absolute terms. lossctl's
# y softplus(-x) + (1 - y) softplus(x) adds non-negative terms and does not cancel.
TORCH_BCE_LOGITS_ATOL = 4 * EPS


@compares("torch", "bce_logits")
@pytest.mark.parametrize("soft", [False, True], ids=["hard-labels", "soft-labels"])
@WEIGHTED
@SIZED
def test_torch_bce_with_logits(torch: Any, soft: bool, weighted: bool, n: int) -> None:
    rng = rng_for("bce_logits", n, soft)
    x, y, w = logits(rng, n), labels01(rng, n, soft), weights(rng, n)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    res = evaluate(y, x, "bce_logits", w if weighted else None)
    ref = torch.nn.BCEWithLogitsLoss(reduction="none")(xt, yt).numpy()
    close(res.per_sample, ref, "per-sample", atol=TORCH_BCE_LOGITS_ATOL * np.abs(x))
    if not weighted:
        close(res.cost, torch.nn.BCEWithLogitsLoss()(xt, yt).item(), "mean")
        return
    wt = torch.from_numpy(w)
    torch_sum = torch.nn.BCEWithLogitsLoss(weight=wt, reduction="sum")(xt, yt).item()
    close(res.total, torch_sum, "sum of w * l")
    close(torch.nn.BCEWithLogitsLoss(weight=wt)(xt, yt).item(), res.total / n, "torch's weighted 'mean' is /n")
    close(res.cost, torch_sum / w.sum(), "lossctl's weighted mean is sum(w l) / sum(w)")


def test_torch_bce_with_logits_cancels_for_confident_logits(torch: Any) -> None:
    """The difference, explicitly: at x = -30, y = 0 the loss is log1p(e^-30) = 9.3576e-14; torch gives
    9.2371e-14 (1.3% off, within an ulp of 30) and 0 at x = -700, where lossctl keeps 9.86e-305."""
    x = np.array([-30.0, 30.0, -40.0, -700.0, 700.0])
    y = np.array([0.0, 1.0, 0.0, 0.0, 1.0])
    exact = np.log1p(np.exp(-np.abs(x)))  # no cancellation: full relative accuracy
    ref = torch.nn.BCEWithLogitsLoss(reduction="none")(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    close(evaluate(y, x, "bce_logits").per_sample, exact, "lossctl is accurate")
    assert np.all(np.abs(ref - exact) <= TORCH_BCE_LOGITS_ATOL * np.abs(x)), "torch is within an ulp of x"
    assert abs(ref[0] - exact[0]) > 1e-3 * exact[0], "torch loses relative accuracy at x = -30"
    assert ref[3] == 0.0 < exact[3]


HINGE_LABELS = {
    "pm1": np.array([-1.0, 1.0]),
    "01": np.array([0.0, 1.0]),
    "mixed": np.array([-1.0, 0.0, 1.0]),  # lossctl reads 0 as the negative class
}


@compares("torch", "hinge", "squared_hinge")
@pytest.mark.parametrize("loss, power", [("hinge", 1), ("squared_hinge", 2)])
@pytest.mark.parametrize("labels", list(HINGE_LABELS))
@WEIGHTED
@SIZED
def test_torch_hinge(torch: Any, loss: str, power: int, labels: str, weighted: bool, n: int) -> None:
    rng = rng_for("hinge", n, labels)
    y = rng.choice(HINGE_LABELS[labels], n)
    s = rng.normal(0.0, 2.0, n)
    s[: min(n, 3)] = [1.0, -1.0, 0.0][: min(n, 3)]  # on the margin for one label or the other
    w = weights(rng, n) if weighted else None
    st = torch.from_numpy(s)
    t = torch.where(torch.from_numpy(y) > 0, 1.0, -1.0).to(torch.float64)
    clamp = torch.clamp(1.0 - t * st, min=0.0) ** power
    res = evaluate(y, s, loss, w)
    check_against_per_sample(res, clamp.numpy(), w, f"{loss} vs clamp")
    # MultiMarginLoss on [0, s] with target 1 for a positive label: max(0, 1 - s)^p / 2.
    two = torch.stack([torch.zeros_like(st), st], dim=1)
    target = (torch.from_numpy(y) > 0).long()
    mm = torch.nn.MultiMarginLoss(p=power, margin=1.0, reduction="none")(two, target).numpy()
    close(res.per_sample, 2.0 * mm, f"{loss} vs 2 * MultiMarginLoss")


# --- PyTorch: multiclass ----------------------------------------------------------------------------


# torch's log_softmax subtracts log(sum_j exp(x_j - max)), the log of a rounded sum of K terms: for a
# confident, right prediction (a loss of 1e-5, say) it is accurate to about K ulps of 1 in absolute
# terms, not relatively, and so is lossctl's logsumexp. Per-sample comparisons allow that much.
def torch_lse_atol(k: int) -> float:
    return 4 * k * EPS


MULTICLASS_SHAPES = [
    pytest.param(n, k, huge, id=f"n={n}-K={k}{'-huge' if huge else ''}")
    for n, k, huge in ((7, 3, False), (1024, 2, False), (5000, 10, False), (5000, 4, True), (1000, 50, False))
]


@compares("torch", "softmax_ce")
@pytest.mark.parametrize("n, k, huge", MULTICLASS_SHAPES)
@WEIGHTED
def test_torch_cross_entropy_class_ids(torch: Any, n: int, k: int, huge: bool, weighted: bool) -> None:
    ids, x, _, w = multiclass_data(n, k, huge)
    xt, it = torch.from_numpy(x), torch.from_numpy(ids)
    F = torch.nn.functional
    ref = F.cross_entropy(xt, it, reduction="none").numpy()
    if not weighted:
        res = evaluate(ids, x, "softmax_ce")
        close(res.per_sample, ref, "softmax_ce per-sample", atol=torch_lse_atol(k))
        close(res.cost, F.cross_entropy(xt, it).item(), "mean")
        return
    # Per-class weights in torch are per-sample weights class_weight[y] in lossctl, mean included.
    cw = rng_for("cw", k).uniform(0.1, 3.0, k)
    res = evaluate(ids, x, "softmax_ce", cw[ids])
    close(res.cost, F.cross_entropy(xt, it, weight=torch.from_numpy(cw)).item(), "class-weighted mean")
    res = evaluate(ids, x, "softmax_ce", w)
    close(res.per_sample, ref, "softmax_ce per-sample", atol=torch_lse_atol(k))
    close(res.cost, weighted_mean(ref, w), "softmax_ce, sample weights")


@compares("torch", "softmax_ce")
@pytest.mark.parametrize("n, k, huge", MULTICLASS_SHAPES)
@pytest.mark.parametrize("targets", ["soft", "one-hot"])
@WEIGHTED
def test_torch_cross_entropy_probability_targets(
    torch: Any, n: int, k: int, huge: bool, targets: str, weighted: bool
) -> None:
    ids, x, soft, w = multiclass_data(n, k, huge)
    y = soft if targets == "soft" else np.eye(k)[ids]
    w = w if weighted else None
    F = torch.nn.functional
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    res = evaluate(y, x, "softmax_ce", w)
    ref = F.cross_entropy(xt, yt, reduction="none").numpy()
    close(res.per_sample, ref, "softmax_ce per-sample", atol=torch_lse_atol(k))
    close(res.cost, weighted_mean(ref, w), "softmax_ce cost")
    if not weighted:
        close(res.cost, F.cross_entropy(xt, yt).item(), "mean")


@pytest.mark.parametrize("base", [1e3, 1e6, 1e15])
@pytest.mark.parametrize("layout", ["ids", "one-hot"])
def test_torch_cross_entropy_large_near_equal_logits(torch: Any, base: float, layout: str) -> None:
    """Logits far from 0 but close to each other: torch subtracts the maximum first (x - max is exact
    here) and is accurate; the loss depends only on the differences."""
    x = np.array([[base, base + 1.0], [base, base + 2.0], [base + 2.0, base - 2.0]])
    ids = np.array([0, 1, 1])
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(ids), reduction="none").numpy()
    close(ref, softmax_ce_of_offsets(x - base, ids), "torch is accurate")
    y = ids if layout == "ids" else np.eye(2)[ids]
    close(evaluate(y, x, "softmax_ce").per_sample, ref, "lossctl")


def softmax_ce_of_offsets(d: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """softmax cross-entropy of small logits (the offsets from a common base), plainly."""
    return np.log(np.exp(d).sum(axis=1)) - d[np.arange(d.shape[0]), ids]


@compares("torch", "cce")
@pytest.mark.parametrize("n, k, huge", MULTICLASS_SHAPES[:3] + MULTICLASS_SHAPES[4:])
@WEIGHTED
def test_torch_nll_loss_on_log_probabilities(torch: Any, n: int, k: int, huge: bool, weighted: bool) -> None:
    ids, x, soft, w = multiclass_data(n, k, huge)
    p = softmax(x)
    F = torch.nn.functional
    log_p, it = torch.log(torch.from_numpy(p)), torch.from_numpy(ids)
    ref = F.nll_loss(log_p, it, reduction="none").numpy()
    res = evaluate(ids, p, "cce", w if weighted else None)
    check_against_per_sample(res, ref, w if weighted else None, "cce")
    if weighted:
        cw = rng_for("cw", k).uniform(0.1, 3.0, k)
        close(evaluate(ids, p, "cce", cw[ids]).cost, F.nll_loss(log_p, it, weight=torch.from_numpy(cw)).item())
    else:
        close(res.cost, F.nll_loss(log_p, it).item(), "mean")
    # Soft labels: cross_entropy on log p is -sum y log p, since log_softmax(log p) = log p - log(sum p)
    # and the rows sum to 1 (to rounding).
    soft_ref = F.cross_entropy(log_p, torch.from_numpy(soft), reduction="none").numpy()
    close(evaluate(soft, p, "cce").per_sample, soft_ref, "cce, soft labels")


@compares("torch", "kl_div")
@pytest.mark.parametrize("n, k, huge", MULTICLASS_SHAPES[:3] + MULTICLASS_SHAPES[4:])
@WEIGHTED
def test_torch_kl_div_batchmean(torch: Any, n: int, k: int, huge: bool, weighted: bool) -> None:
    ids, x, soft, w = multiclass_data(n, k, huge)
    p = softmax(x)
    F = torch.nn.functional
    log_p, yt = torch.log(torch.from_numpy(p)), torch.from_numpy(soft)
    ref = F.kl_div(log_p, yt, reduction="none").sum(dim=1).numpy()
    res = evaluate(soft, p, "kl_div", w if weighted else None)
    # KL adds terms of both signs and y_c (log y_c - log p_c) cancels where p_c ~ y_c: torch and lossctl
    # are both accurate to a few ulps of the terms' magnitudes, sum_c y_c (|log y_c| + |log p_c|), not
    # of a small KL. (A KL of 2e-5 from terms of 5e-3 differs by 5e-12 relative.)
    scale = (soft * (np.abs(np.log(soft)) + np.abs(np.log(p)))).sum(axis=1)
    close(res.per_sample, ref, "kl_div per-sample", atol=8 * EPS * scale)
    close(res.cost, weighted_mean(ref, w if weighted else None), "kl_div cost")
    if not weighted:
        close(res.cost, F.kl_div(log_p, yt, reduction="batchmean").item(), "batchmean")
        with warnings.catch_warnings():  # torch warns that 'mean' is not 'batchmean'; that is the point
            warnings.simplefilter("ignore", UserWarning)
            torch_mean = F.kl_div(log_p, yt, reduction="mean").item()
        close(res.cost / k, torch_mean, "torch 'mean' also divides by K")
        close(res.cost, F.kl_div(log_p, torch.log(yt), reduction="batchmean", log_target=True).item())
    # With class ids, KL(one-hot || p) = -log p_c.
    one_hot = torch.from_numpy(np.eye(k)[ids])
    close(evaluate(ids, p, "kl_div").per_sample, F.kl_div(log_p, one_hot, reduction="none").sum(dim=1).numpy())


def test_torch_kl_div_zero_probabilities(torch: Any) -> None:
    """y_c = p_c = 0: torch computes 0 * (log 0 - log 0) = NaN, lossctl takes 0 log 0 = 0.

    y_c > 0 = p_c: inf in both."""
    y = np.array([[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]])
    p = np.array([[0.0, 0.25, 0.75], [0.0, 0.25, 0.75]])
    F = torch.nn.functional
    ref = F.kl_div(torch.log(torch.from_numpy(p)), torch.from_numpy(y), reduction="none").sum(dim=1).numpy()
    got = evaluate(y, p, "kl_div").per_sample
    assert math.isnan(ref[0])
    close(got[0], 0.5 * math.log(2.0) + 0.5 * math.log(0.5 / 0.75))
    assert ref[1] == got[1] == math.inf


# --- scikit-learn -------------------------------------------------------------------------------------


def sk_regression_metrics(skm: Any) -> list[tuple[str, Callable[..., float]]]:
    out = [("mse", skm.mean_squared_error), ("mae", skm.mean_absolute_error)]
    if hasattr(skm, "root_mean_squared_error"):  # scikit-learn >= 1.4
        out.append(("rmse", skm.root_mean_squared_error))
    return out


@compares("sklearn", "mse", "mae", "rmse")
@WEIGHTED
@SIZED
def test_sklearn_regression(skm: Any, weighted: bool, n: int) -> None:
    y, p, w = regression_data(n)
    w = w if weighted else None
    metrics = sk_regression_metrics(skm)
    assert {"mse", "mae"} <= {name for name, _ in metrics}
    for name, metric in metrics:
        close(evaluate(y, p, name, w).cost, metric(y, p, sample_weight=w), name)


@compares("sklearn", "msle")
@WEIGHTED
@SIZED
def test_sklearn_mean_squared_log_error(skm: Any, weighted: bool, n: int) -> None:
    rng = rng_for("msle", n)
    y = rng.exponential(3.0, n)  # non-negative: every scikit-learn version accepts it
    p = y * rng.lognormal(0.0, 0.5, n)
    w = weights(rng, n) if weighted else None
    close(evaluate(y, p, "msle", w).cost, skm.mean_squared_log_error(y, p, sample_weight=w))


@compares("sklearn", "bce")
@WEIGHTED
@SIZED
def test_sklearn_log_loss_binary(skm: Any, weighted: bool, n: int) -> None:
    rng = rng_for("log_loss", n)
    # Inside sklearn's clip [eps, 1 - eps] (see the next test for outside it).
    p = probabilities(rng, n).clip(1e-15, 1.0 - 1e-15)
    y = labels01(rng, n, soft=False)
    w = weights(rng, n) if weighted else None
    close(evaluate(y, p, "bce", w).cost, skm.log_loss(y, p, sample_weight=w, labels=[0, 1]))


def test_sklearn_log_loss_clips_at_machine_epsilon(skm: Any) -> None:
    """scikit-learn clips to [eps, 1 - eps] (eps = 2.2e-16): lossctl gives inf unless given the same eps."""
    eps = float(np.finfo(np.float64).eps)
    y = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([0.0, 1.0, 1e-300, 0.25])
    sk = skm.log_loss(y, p, labels=[0, 1])
    assert math.isfinite(sk)
    assert evaluate(y, p, "bce").cost == math.inf
    close(evaluate(y, p, "bce", eps=eps).cost, sk)
    close(sk, (3 * -math.log(eps) - math.log(0.75)) / 4)


@compares("sklearn", "cce", "softmax_ce")
@pytest.mark.parametrize("n, k, huge", MULTICLASS_SHAPES[:3] + MULTICLASS_SHAPES[4:])
@WEIGHTED
def test_sklearn_log_loss_multiclass(skm: Any, n: int, k: int, huge: bool, weighted: bool) -> None:
    ids, x, _, w = multiclass_data(n, k, huge)
    w = w if weighted else None
    p = softmax(x)
    labels = list(range(k))  # some classes may be absent from y_true for small n
    sk = skm.log_loss(ids, p, sample_weight=w, labels=labels)
    close(evaluate(ids, p, "cce", w).cost, sk, "cce")
    close(evaluate(np.eye(k)[ids], p, "cce", w).cost, sk, "cce, one-hot rows")
    # softmax_ce on the logits is log_loss on their softmax (to the rounding of the softmax).
    close(evaluate(ids, x, "softmax_ce", w).cost, sk, "softmax_ce")


@compares("sklearn", "bce_logits")
@WEIGHTED
@SIZED
def test_sklearn_log_loss_on_sigmoid_of_logits(skm: Any, weighted: bool, n: int) -> None:
    """Moderate logits only: scikit-learn takes 1 - sigmoid(x), which loses digits for large x."""
    rng = rng_for("bce_logits_sk", n)
    x = rng.normal(0.0, 3.0, n).clip(-10.0, 10.0)
    y = labels01(rng, n, soft=False)
    w = weights(rng, n) if weighted else None
    p = 1.0 / (1.0 + np.exp(-x))
    close(evaluate(y, x, "bce_logits", w).cost, skm.log_loss(y, p, sample_weight=w, labels=[0, 1]))


@compares("sklearn", "hinge")
@pytest.mark.parametrize("labels", ["pm1", "01"])
@WEIGHTED
@SIZED
def test_sklearn_hinge_loss_binary(skm: Any, labels: str, weighted: bool, n: int) -> None:
    rng = rng_for("sk_hinge", n, labels)
    y = rng.choice(HINGE_LABELS[labels], n)
    y[:2] = HINGE_LABELS[labels]  # both classes present (see the single-class test)
    s = rng.normal(0.0, 2.0, n)
    w = weights(rng, n) if weighted else None
    close(evaluate(y, s, "hinge", w).cost, skm.hinge_loss(y, s, sample_weight=w))


def test_sklearn_hinge_loss_single_class_reads_as_negative(skm: Any) -> None:
    """A y_true of one class is binarised to -1 by scikit-learn, even with labels=[0, 1]."""
    s = np.array([0.5, 2.0, -1.0, 0.0])
    ones = np.ones(4)
    sk = skm.hinge_loss(ones, s, labels=[0, 1])
    close(sk, evaluate(-ones, s, "hinge").cost)  # = mean(max(0, 1 + s))
    close(evaluate(ones, s, "hinge").cost, float(np.mean(np.maximum(0.0, 1.0 - s))))
    assert evaluate(ones, s, "hinge").cost != pytest.approx(sk)


@pytest.mark.parametrize("loss, task", [("bce", "binary"), ("hinge", "binary"), ("softmax_ce", "multiclass")])
@WEIGHTED
def test_sklearn_accuracy(skm: Any, loss: str, task: str, weighted: bool) -> None:
    rng = rng_for("accuracy", loss)
    n = 5000
    w = weights(rng, n) if weighted else None
    if task == "multiclass":
        ids, x, _, _ = multiclass_data(n, 5)
        got = evaluate(ids, x, loss, w).accuracy
        want = skm.accuracy_score(ids, x.argmax(axis=1), sample_weight=w)
    elif loss == "bce":
        y, p = labels01(rng, n, soft=False), probabilities(rng, n)
        got = evaluate(y, p, loss, w).accuracy
        want = skm.accuracy_score(y, (p > 0.5).astype(float), sample_weight=w)
    else:
        y, s = rng.choice([-1.0, 1.0], n), rng.normal(0.0, 1.0, n)
        got = evaluate(y, s, loss, w).accuracy
        want = skm.accuracy_score(y, np.where(s > 0, 1.0, -1.0), sample_weight=w)
    close(got, want)


# --- every loss is compared, or says why not -------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    torch: str = ""  # what lossctl is compared with in PyTorch
    sklearn: str = ""  # ... in scikit-learn
    none: str = ""  # why there is no framework comparison at all


ORACLE_ONLY = "checked against the mpmath oracle in tests/test_oracles.py instead"

FRAMEWORK_COVERAGE: dict[str, Coverage] = {
    "mse": Coverage(torch="nn.MSELoss", sklearn="metrics.mean_squared_error"),
    "rmse": Coverage(torch="sqrt of nn.MSELoss (torch has no RMSE)", sklearn="metrics.root_mean_squared_error"),
    "mae": Coverage(torch="nn.L1Loss", sklearn="metrics.mean_absolute_error"),
    "msle": Coverage(sklearn="metrics.mean_squared_log_error"),
    "huber": Coverage(torch="nn.HuberLoss(delta); nn.SmoothL1Loss(beta) = huber / beta"),
    "pseudo_huber": Coverage(none=f"no torch or scikit-learn equivalent; {ORACLE_ONLY}"),
    "log_cosh": Coverage(none=f"no torch or scikit-learn equivalent (Keras has one); {ORACLE_ONLY}"),
    "bce": Coverage(torch="nn.BCELoss (log clamped at -100)", sklearn="metrics.log_loss, binary (clips at eps)"),
    "bce_logits": Coverage(torch="nn.BCEWithLogitsLoss", sklearn="metrics.log_loss on sigmoid(logits)"),
    "hinge": Coverage(torch="clamp(1 - t s, min=0); 2 * nn.MultiMarginLoss on [0, s]", sklearn="metrics.hinge_loss"),
    "squared_hinge": Coverage(torch="clamp(1 - t s, min=0) ** 2; 2 * nn.MultiMarginLoss(p=2) on [0, s]"),
    "cce": Coverage(torch="F.nll_loss on log p; F.cross_entropy(log p, soft labels)", sklearn="metrics.log_loss"),
    "softmax_ce": Coverage(torch="F.cross_entropy, ids and probability targets", sklearn="log_loss on softmax(x)"),
    "kl_div": Coverage(torch="F.kl_div(log p, y, reduction='batchmean')"),
}


def test_coverage_table_matches_the_tests() -> None:
    # The hand-written, float64 comparisons here cover the first losses in depth; every loss's
    # --compat conventions are checked against the frameworks in tests/test_compat.py, which also
    # fails when a loss has no comparison at all.
    names = registry().names(builtin=True)
    stale = set(FRAMEWORK_COVERAGE) - set(names)
    assert not stale, f"FRAMEWORK_COVERAGE names losses that are not in the registry: {sorted(stale)}"
    for name in FRAMEWORK_COVERAGE:
        cov = FRAMEWORK_COVERAGE[name]
        assert cov.torch or cov.sklearn or cov.none, f"{name}: name a comparison or the reason there is none"
        assert not (cov.none and (cov.torch or cov.sklearn)), f"{name}: compared, so no reason for none"
        # What the table claims is what the tests (marked with @compares) actually run.
        assert bool(cov.torch) == (name in COMPARED["torch"]), f"{name}: torch coverage and tests disagree"
        assert bool(cov.sklearn) == (name in COMPARED["sklearn"]), f"{name}: sklearn coverage and tests disagree"
