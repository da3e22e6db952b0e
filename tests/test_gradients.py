"""Every loss's declared derivative (``Loss.grad``), checked against independent evidence.

The contract (registry.py, above ``Loss.grad``): ``grad`` is dl/d(prediction) of the per-sample
loss (the logits for the logits forms, each column of a row for multiclass and named-column
losses), and at a kink it is the subgradient of least magnitude. The checks here, per loss:

- the registry: every built-in loss declares ``grad``, with the signature of its layout;
- finite differences: the compiled gradient (``engine.run_grad``) against an 8th-order central
  difference of the independent NumPy reference ``lo.reference``, one prediction coordinate at a
  time, at default and non-default parameters, on random valid points away from kinks;
- kinks (``KINKS``, with every loss either there or in ``SMOOTH``): one-sided derivatives by
  high-order one-sided differences; the declared value lies between them and is the one of least
  magnitude (equal to both where they agree);
- PyTorch autograd (``TORCH``, or ``NO_TORCH`` with a reason): the same points, and the kinks where
  torch's own convention is the least-magnitude subgradient (abs'(0) = 0, relu'(0) = 0);
- hard values (``HARD``): the gradient is finite wherever the loss is, with the right limit;
- the plumbing: class ids equal one-hot rows, the compiled gradient equals the plain Python
  ``lo.grad`` row by row, and float32 inputs give the gradient of their float64 values.

A loss without ``grad`` fails every test that needs it (it is not skipped): each loss must
declare one. The generic checks run over the whole registry, so the example plugin that
tests/conftest.py loads is covered like a built-in loss; the hand-written tables are about
lossctl's own losses and must cover every built-in one. Each test handles one loss, so its kernel
is compiled (or loaded from the disk cache) once per worker and reused.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import sys
import zlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import lossctl
from lossctl import engine
from lossctl.domains import Interval, OneOf
from lossctl.registry import JIT_HELPERS, Pred, Task, registry
from lossctl.samples import K, param_grid

LOSSES = list(registry())  # plugins included (tests/conftest.py loads the example one)
BY_NAME = {lo.name: lo for lo in LOSSES}
BUILTIN = registry().names(builtin=True)  # what the hand-written tables must cover
INF = math.inf
N_POINTS = 50


def ids(losses):  # type: ignore[no-untyped-def]
    return [lo.name for lo in losses]


def require_grad(lo) -> None:  # type: ignore[no-untyped-def]
    if lo.grad is None:
        pytest.fail(f"{lo.name} declares no grad: every built-in loss must declare its derivative")


def is_row(lo) -> bool:  # type: ignore[no-untyped-def]
    """Whether the prediction is a row (multiclass, or named prediction columns)."""
    return bool(lo.pred_columns) or lo.task is Task.MULTICLASS


def ptuple(lo, given) -> tuple[float, ...]:  # type: ignore[no-untyped-def]
    return tuple(lo.resolve_params(given).values())


def compiled(lo, y, x, given, dtype=np.float64):  # type: ignore[no-untyped-def]
    """engine.run_grad on (y, x): class ids (1-D labels of a multiclass loss) as int64."""
    require_grad(lo)
    y = np.asarray(y)
    if lo.task is Task.MULTICLASS and y.ndim == 1:
        y = np.ascontiguousarray(y, dtype=np.int64)
    else:
        y = np.ascontiguousarray(y, dtype=dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    return engine.run_grad(lo, engine.layout_for(lo, y.ndim), y, x, ptuple(lo, given))


def reference(lo, y, x, given):  # type: ignore[no-untyped-def]
    with np.errstate(all="ignore"):
        return np.asarray(lo.reference(y, x, **lo.resolve_params(given)), dtype=np.float64)


# --- parameters -------------------------------------------------------------------------------

# Non-default parameter sets per loss, from each Param's domain; every parameter is varied at least
# once (test_param_sets_vary_every_parameter). The clipping values make clipping active for some
# of the random points (probabilities are drawn in (0.02, 0.98), variances from about 0.02).
EXTRA_PARAMS: dict[str, list[dict[str, float]]] = {
    "huber": [{"delta": 0.3}, {"delta": 2.5}],
    "pseudo_huber": [{"delta": 0.3}, {"delta": 2.5}],
    "smooth_l1": [{"beta": 0.3}, {"beta": 2.5}, {"beta": 0.0}],
    "mape": [{"eps": 0.5}, {"percent": 1.0}],
    "pinball": [{"quantile": 0.1}, {"quantile": 0.9}, {"quantile": 0.0}, {"quantile": 1.0}],
    "poisson": [{"eps": 1e-3}, {"eps": 0.5}],
    "tweedie": [{"power": 1.0}, {"power": 1.2}, {"power": 2.0}, {"power": 3.0}],
    "gaussian_nll": [{"eps": 0.3}, {"full": 1.0}],
    "bce": [{"eps": 0.05}, {"log_floor": -2.0}, {"label_smoothing": 0.1}],
    "bce_logits": [{"pos_weight": 3.0}, {"pos_weight": 0.0}, {"label_smoothing": 0.1}],
    "focal": [{"gamma": 0.0}, {"gamma": 0.5}, {"alpha": 0.25}],
    "focal_logits": [{"gamma": 0.0}, {"gamma": 0.5}, {"alpha": 0.25}],
    "zero_one": [{"threshold": 0.3}],
    "margin_ranking": [{"margin": 0.5}, {"margin": -0.5}],
    "cce": [{"eps": 0.05}, {"label_smoothing": 0.1}],
    "softmax_ce": [{"label_smoothing": 0.1}],
    "multiclass_hinge": [{"margin": 0.0}, {"margin": 2.5}, {"rival_floor": 0.0}],
    "multiclass_hinge_ww": [{"margin": 0.5}, {"margin": 2.5}],
    "categorical_focal": [{"gamma": 0.0}, {"gamma": 0.5, "alpha": 0.25}],
    "cosine": [{"eps": 2.0}],
    "cosine_similarity": [{"eps": 2.0}],
    "dice": [{"smooth": 1.0}, {"eps": 0.5}],
    "tversky": [{"alpha": 0.7, "beta": 0.3}, {"alpha": 1.0, "beta": 1.0}, {"smooth": 1.0, "eps": 0.1}],
}


def param_sets(lo) -> list[dict[str, float]]:  # type: ignore[no-untyped-def]
    if lo.name in EXTRA_PARAMS or not lo.params:
        return [{}, *EXTRA_PARAMS.get(lo.name, [])]
    return [{}, *param_grid(lo)[1:]]  # no hand-picked values (a plugin): a small and a large one per Param


def _key(given) -> tuple[tuple[str, float], ...]:  # type: ignore[no-untyped-def]
    return tuple(sorted(given.items()))


# --- random valid points away from kinks ------------------------------------------------------


def _binary_labels(lo, rng, n):  # type: ignore[no-untyped-def]
    if isinstance(lo.y_true, OneOf):  # the hinge labels -1, 0, 1
        return rng.choice(np.asarray(lo.y_true.values, dtype=float), n)
    kind = rng.integers(0, 3, n)  # hard 0 and 1, and soft labels
    return np.where(kind == 0, 0.0, np.where(kind == 1, 1.0, rng.random(n)))


def _prob_rows(rng, n, k):  # type: ignore[no-untyped-def]
    """Probability rows summing to 1 with every entry in [0.03, 0.88]: the stencils stay inside (0, 1)."""
    return 0.85 * rng.dirichlet(np.full(k, 1.5), n) + 0.15 / k


def _draw(lo, rng, n):  # type: ignore[no-untyped-def]
    """Typical valid (y, x): x the prediction (n,) or rows (n, m); multiclass labels as (n, K) rows."""
    if lo.pred_columns:
        if lo.task is Task.BINARY:  # margin_ranking: a label and two scores
            return _binary_labels(lo, rng, n), rng.normal(0.0, 1.5, (n, 2))
        y = rng.normal(0.0, 2.0, n)  # gaussian_nll: a mean and a variance
        return y, np.column_stack([y + rng.normal(0.0, 1.5, n), rng.gamma(2.0, 0.5, n) + 0.02])
    if lo.task is Task.MULTICLASS:
        if lo.pred_rows == "probabilities":
            x = _prob_rows(rng, n, K)
        elif lo.pred_rows == "log_probabilities":
            x = np.log(_prob_rows(rng, n, K))
        elif lo.prediction is Pred.PROBABILITY:  # independent per-class probabilities (dice, tversky)
            x = rng.uniform(0.02, 0.98, (n, K))
        else:
            x = rng.normal(0.0, 2.0, (n, K))
        hot = np.eye(K)[rng.integers(0, K, n)]
        if not lo.label_rows_are_distributions:
            if isinstance(lo.y_true, Interval) and lo.y_true.low == 0.0:  # multi-label rows, some soft
                y = (rng.random((n, K)) < 0.4).astype(float)
                y = np.maximum(y, hot)  # at least one positive per row
                soft = rng.random(n) < 0.3
                y[soft] = rng.random((int(soft.sum()), K))
            else:  # label vectors (cosine)
                y = rng.normal(0.0, 1.0, (n, K))
        elif lo.hard_labels:
            y = hot
        else:  # half one-hot, half soft label distributions
            y = np.where((rng.random(n) < 0.5)[:, None], hot, rng.dirichlet(np.full(K, 0.7), n))
        return y, x
    if lo.task is Task.BINARY:
        y = _binary_labels(lo, rng, n)
        if lo.prediction is Pred.PROBABILITY:
            return y, rng.uniform(0.02, 0.98, n)
        return y, rng.normal(0.0, 3.0, n)
    y = lo.y_true.sample(rng, n)
    if lo.y_true.low == 0.0 and lo.y_true.low_closed:  # counts: some exact zeros
        y = np.where(rng.random(n) < 0.2, 0.0, y)
    low = lo.y_pred.low
    if math.isfinite(low):  # a bounded-below prediction (counts, rates, log1p): near the target
        return y, low + (y - low + 0.5) * np.exp(rng.normal(0.0, 0.6, n))
    return y, y + rng.normal(0.0, 1.5, n) * np.where(rng.random(n) < 0.1, 10.0, 1.0)


def _sign(y):  # type: ignore[no-untyped-def]
    return np.where(np.asarray(y) > 0, 1.0, -1.0)


def _rows(d, x):  # type: ignore[no-untyped-def]
    """A per-row distance for every column of x."""
    return np.broadcast_to(np.asarray(d, dtype=float)[:, None], x.shape)


def _cs_dist(y, x, q):  # type: ignore[no-untyped-def]
    """Crammer-Singer: distance of each score to where the loss changes form along it."""
    d = np.full(x.shape, INF)
    margin, floor = q["margin"], q["rival_floor"]
    for i in range(x.shape[0]):
        c = int(np.argmax(y[i]))
        others = [x[i, j] for j in range(x.shape[1]) if j != c]
        rival = max([floor, *others])
        d[i, c] = abs(rival - x[i, c] + margin)
        for j in range(x.shape[1]):
            if j == c:
                continue
            rest = max([floor] + [x[i, k] for k in range(x.shape[1]) if k not in (c, j)])
            d[i, j] = min(abs(x[i, j] - rest), abs(x[i, j] - (x[i, c] - margin)))
    return d


def _ww_dist(y, x, q):  # type: ignore[no-untyped-def]
    c = np.argmax(y, axis=1)
    rows = np.arange(x.shape[0])
    xc = x[rows, c][:, None]
    m = np.abs(x - xc + q["margin"])  # rival j: its own term's kink; x_c: every term's kink
    m[rows, c] = INF
    d = m.copy()
    d[rows, c] = m.min(axis=1)
    return d


def _bce_dist(y, p, q):  # type: ignore[no-untyped-def]
    eps, floor = q["eps"], math.exp(q["log_floor"])
    return np.minimum.reduce([p, 1 - p, np.abs(p - eps), np.abs(1 - eps - p), np.abs(p - floor), np.abs(1 - p - floor)])


def _cos_dist(y, p, q):  # type: ignore[no-untyped-def]
    norm = np.linalg.norm(p, axis=1)
    return _rows(np.minimum(norm, np.abs(norm - q["eps"]) if q["eps"] > 0 else INF), p)


def _tversky_den(y, p, q):  # type: ignore[no-untyped-def]
    tp = (y * p).sum(1)
    return _rows(tp + q["alpha"] * ((1 - y) * p).sum(1) + q["beta"] * (y * (1 - p)).sum(1) + q["smooth"] + q["eps"], p)


# Per loss: the distance, along each prediction coordinate, to the nearest point where the loss
# changes form (a kink, a clipping bound) or is singular (log 0, 1/0): the finite-difference step
# stays well inside it. Entire functions (not listed) use a step relative to |x| only.
TROUBLE = {
    "msle": lambda y, x, q: 1.0 + x,
    "rmsle": lambda y, x, q: 1.0 + x,
    "mae": lambda y, x, q: np.abs(x - y),
    "huber": lambda y, x, q: np.abs(np.abs(x - y) - q["delta"]),
    "pseudo_huber": lambda y, x, q: np.full_like(x, q["delta"]),  # its curvature scale
    "smooth_l1": lambda y, x, q: np.abs(np.abs(x - y) - q["beta"]),
    "mape": lambda y, x, q: np.abs(x - y),
    "smape": lambda y, x, q: np.minimum(np.abs(x - y), np.abs(x)),
    "pinball": lambda y, x, q: np.abs(x - y),
    "poisson": lambda y, x, q: x + q["eps"],
    "poisson_deviance": lambda y, x, q: x,
    "gamma_deviance": lambda y, x, q: x,
    "tweedie": lambda y, x, q: x,
    "gaussian_nll": lambda y, x, q: np.column_stack(
        [np.full(len(x), INF), np.minimum(x[:, 1], np.abs(x[:, 1] - q["eps"]) if q["eps"] > 0 else INF)]
    ),
    "bce": _bce_dist,
    "focal": lambda y, x, q: np.minimum(x, 1 - x),
    "hinge": lambda y, x, q: np.abs(1 - _sign(y) * x),
    "squared_hinge": lambda y, x, q: np.abs(1 - _sign(y) * x),
    "zero_one": lambda y, x, q: np.abs(x - q["threshold"]),
    "margin_ranking": lambda y, x, q: _rows(np.abs(q["margin"] - _sign(y) * (x[:, 0] - x[:, 1])), x),
    "cce": lambda y, x, q: np.minimum.reduce([x, 1 - x, np.abs(x - q["eps"]), np.abs(1 - q["eps"] - x)]),
    "kl_div": lambda y, x, q: x,
    "categorical_focal": lambda y, x, q: np.minimum(x, 1 - x),
    "multiclass_hinge": _cs_dist,
    "multiclass_hinge_ww": _ww_dist,
    "cosine": _cos_dist,
    "cosine_similarity": _cos_dist,
    "dice": lambda y, x, q: _tversky_den(y, x, {"alpha": 0.5, "beta": 0.5, **q}),
    "tversky": _tversky_den,
}

# The step: h = 1e-3 max(1, |x|), at most 1/20 of the distance to trouble (an 8th-order stencil
# spans 4 h), as a power of two. Points closer to trouble than 1% of max(1, |x|) are not used.
NEAR = 0.01


def _steps(x, dist):  # type: ignore[no-untyped-def]
    scale = np.maximum(1.0, np.abs(x))
    with np.errstate(all="ignore"):
        h = 2.0 ** np.floor(np.log2(np.minimum(1e-3 * scale, 0.05 * dist)))
    return h, dist >= NEAR * scale


@functools.cache
def fd_points(name: str, key: tuple[tuple[str, float], ...]) -> tuple[Any, Any, Any]:
    """N_POINTS valid points (y, x) for a loss at the given parameters, away from trouble, with the
    finite-difference step of each prediction coordinate."""
    lo = BY_NAME[name]
    given = dict(key)
    q = lo.resolve_params(given)
    rng = np.random.default_rng(zlib.crc32(repr((name, key)).encode()))
    y, x = _draw(lo, rng, 8 * N_POINTS)
    dist = TROUBLE.get(name, lambda y, x, q: np.full(x.shape, INF))(y, x, q)
    h, ok = _steps(x, np.asarray(dist, dtype=float))
    usable = ok & np.isfinite(h) & (h > 0)
    if usable.ndim == 2:  # a row is used only if every coordinate is
        usable = usable.all(axis=1)
    rows = np.flatnonzero(usable & np.isfinite(reference(lo, y, x, given)))[:N_POINTS]
    assert len(rows) >= N_POINTS // 2, f"{name} {given}: only {len(rows)} usable points were drawn"
    return y[rows], x[rows], h[rows]


# --- finite differences -----------------------------------------------------------------------

C8 = np.array([1 / 280, -4 / 105, 1 / 5, -4 / 5, 0.0, 4 / 5, -1 / 5, 4 / 105, -1 / 280])
OFFSETS = np.arange(-4.0, 5.0)


def central_difference(lo, y, x, h, given):  # type: ignore[no-untyped-def]
    """dl/dx by the 8th-order central difference of the reference, perturbing one prediction
    coordinate at a time, and the largest |l| on each stencil (for the rounding allowance).

    Multiclass rows are perturbed one column at a time, so a perturbed probability row no longer
    sums to 1: the references do not check row sums (only the CLI/API validation does), so they
    are differentiated directly; the contract's derivative treats each column as free as well."""
    if x.ndim == 1:
        xs = x[None, :] + OFFSETS[:, None] * h[None, :]
        f = reference(lo, np.tile(y, 9), xs.ravel(), given).reshape(9, -1)
        return C8 @ f / h, np.abs(f).max(axis=0)
    n, m = x.shape
    xs = np.broadcast_to(x, (m, 9, n, m)).copy()
    for j in range(m):
        xs[j, :, :, j] += OFFSETS[:, None] * h[None, :, j]
    ys = np.broadcast_to(y, (m, 9, *y.shape)).reshape(m * 9 * n, *y.shape[1:])
    f = reference(lo, ys, xs.reshape(m * 9 * n, m), given).reshape(m, 9, n)
    return np.einsum("k,jkn->nj", C8, f) / h, np.abs(f).max(axis=1).T


def assert_matches_fd(got, fd, mag, h, what: str) -> None:  # type: ignore[no-untyped-def]
    # rtol 1e-6 for the truncation error, and the rounding of the reference amplified by 1/h.
    tol = 1e-6 * np.abs(fd) + 1e-8 + 1e-12 * mag / h
    bad = ~(np.abs(got - fd) <= tol)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        pytest.fail(
            f"{what}: {int(bad.sum())} of {bad.size} differ; first at {i}: got {float(got[i])!r}, "
            f"finite difference {float(fd[i])!r}"
        )


# --- kinks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kink:
    """A point where the loss changes form; every prediction coordinate is checked there."""

    y: Any
    x: Any
    params: tuple[tuple[str, float], ...] = ()
    # "" when torch's own function/formula gives the least-magnitude value here; else why not.
    not_torch: str = ""


def kink(y, x, not_torch: str = "", **params: float) -> Kink:  # type: ignore[no-untyped-def]
    return Kink(y, x, tuple(sorted(params.items())), not_torch)


CLAMP = "torch.clamp passes the gradient at its bound (the one-sided slope that is not 0)"
_Y5 = [0.3, -1.0, 2.0, 0.5, 1.0]

KINKS: dict[str, list[Kink]] = {
    "mae": [kink(1.5, 1.5), kink(-2.0, -2.0), kink(0.0, 0.0)],
    # Differentiable at |r| = delta: both one-sided derivatives are +-delta.
    "huber": [kink(0.0, 1.0), kink(0.0, -1.0), kink(2.0, 1.0), kink(0.0, 0.3, delta=0.3), kink(1.0, 3.5, delta=2.5)],
    "smooth_l1": [kink(0.0, 1.0), kink(0.0, -1.0), kink(1.0, 3.5, beta=2.5), kink(0.7, 0.7, beta=0.0)],
    "mape": [kink(2.0, 2.0), kink(-3.0, -3.0), kink(0.2, 0.2, eps=0.5), kink(2.0, 2.0, percent=1.0)],
    "smape": [
        kink(1.5, 1.5),
        kink(-2.0, -2.0),
        # p = 0 (|p| in the denominator): one side is flat (the loss is 2 there), so 0.
        kink(1.0, 0.0, not_torch="abs'(0) = 0 in the denominator leaves the numerator's slope -2/|y|"),
        kink(-2.0, 0.0, not_torch="abs'(0) = 0 in the denominator leaves the numerator's slope"),
    ],
    "pinball": [kink(1.0, 1.0, quantile=q) for q in (0.5, 0.1, 0.9, 0.0, 1.0)],
    # The variance floor: flat below eps.
    "gaussian_nll": [
        kink(1.0, [0.0, 0.5], eps=0.5, not_torch=CLAMP),
        kink(0.0, [0.5, 0.25], eps=0.25, not_torch=CLAMP),
        kink(2.0, [0.5, 0.125], eps=0.125, not_torch=CLAMP),
    ],
    "bce": [
        kink(1.0, 0.05, eps=0.05, not_torch=CLAMP),
        kink(0.0, 1.0 - 0.05, eps=0.05, not_torch=CLAMP),
        kink(0.3, 0.05, eps=0.05, not_torch=CLAMP),
        kink(1.0, 0.25, log_floor=math.log(0.25), not_torch=CLAMP),
    ],
    "hinge": [kink(1.0, 1.0), kink(-1.0, -1.0), kink(0.0, -1.0)],
    "squared_hinge": [kink(1.0, 1.0), kink(-1.0, -1.0), kink(0.0, -1.0)],
    # Piecewise constant: a jump at the threshold, derivative 0 (the least-magnitude choice).
    "zero_one": [kink(1.0, 0.5), kink(0.0, 0.5), kink(1.0, 0.3, threshold=0.3)],
    "margin_ranking": [
        kink(
            1.0, [2.0, 1.0], margin=1.0, not_torch="margin_ranking_loss uses clamp_min, which passes the gradient at 0"
        ),
        kink(-1.0, [1.0, 1.5], margin=0.5, not_torch="clamp_min passes the gradient at 0"),
        kink(1.0, [0.5, 0.5], not_torch="clamp_min passes the gradient at 0"),
    ],
    "cce": [
        kink([1.0, 0, 0, 0, 0], [0.05, 0.3, 0.3, 0.3, 0.05], eps=0.05, not_torch=CLAMP),
        kink([0, 1.0, 0, 0, 0], [0.05, 0.3, 0.3, 0.3, 0.05], eps=0.05, label_smoothing=0.1, not_torch=CLAMP),
        kink([0.2, 0.3, 0.5, 0, 0], [0.05, 0.3, 0.3, 0.3, 0.05], eps=0.05, not_torch=CLAMP),
    ],
    "multiclass_hinge": [
        kink([1.0, 0, 0, 0, 0], [3.0, 2.0, 0.0, -1.0, -2.0]),  # at the margin
        kink([0, 0, 1.0, 0, 0], [0.5, 1.5, 1.5, -1.0, 0.0], margin=0.0),  # margin 0: the true class ties the rival
        kink([1.0, 0, 0, 0, 0], [0.5, -1.0, -2.0, -3.0, -4.0], rival_floor=-0.5),  # at the margin, the floor rival
        # The best rival ties the floor: the floor stays the rival (the rival's slope 0 is the least).
        kink([1.0, 0, 0, 0, 0], [1.0, -0.5, -2.0, -3.0, -4.0], margin=2.0, rival_floor=-0.5, not_torch=CLAMP),
    ],
    "multiclass_hinge_ww": [
        kink([1.0, 0, 0, 0, 0], [1.0, 0.0, 0.5, -3.0, -2.0]),  # one rival at the margin, one inside
        kink([0, 1.0, 0, 0, 0], [-1.5, -0.5, -1.5, 2.0, -4.0], margin=1.0),  # two rivals at the margin
    ],
    # The norm floor |p| = eps, crossed along the first coordinate: inside, cos grows with |p|; outside
    # it does not depend on |p|, so the radial slope 0 is the least-magnitude one.
    "cosine": [kink(_Y5, [0.5, 0, 0, 0, 0], eps=0.5), kink(_Y5, [0, 0, -0.5, 0, 0], eps=0.5)],
    "cosine_similarity": [kink(_Y5, [0.5, 0, 0, 0, 0], eps=0.5), kink(_Y5, [0, 0, -0.5, 0, 0], eps=0.5)],
}

# Losses differentiable everywhere inside their domain (no kink, no clipping in the prediction).
SMOOTH = {
    "mse",
    "rmse",
    "msle",
    "rmsle",
    "pseudo_huber",
    "log_cosh",
    "poisson",
    "poisson_log",
    "poisson_deviance",
    "gamma_deviance",
    "tweedie",
    "bce_logits",
    "focal",
    "focal_logits",
    "soft_margin",
    "brier",
    "softmax_ce",
    "kl_div",
    "nll",
    "categorical_focal",
    "multiclass_brier",
    "dice",
    "tversky",
}

# One-sided derivative at 0 from the points 0, 1, ..., 6 (times h): 6th order.
FWD6 = np.array([-49 / 20, 6.0, -15 / 2, 20 / 3, -15 / 4, 6 / 5, -1 / 6])


def one_sided(lo, y, x, j, given):  # type: ignore[no-untyped-def]
    """(left, right) derivatives of the loss along prediction coordinate j at (y, x)."""
    xj = x if np.ndim(x) == 0 else x[j]
    h = 2.0 ** math.floor(math.log2(2**-14 * max(1.0, abs(xj))))
    steps = np.arange(7.0) * h
    if np.ndim(x) == 0:
        xs = np.concatenate([x - steps, x + steps])
    else:
        xs = np.tile(np.asarray(x, dtype=float), (14, 1))
        xs[:7, j] -= steps
        xs[7:, j] += steps
    ys = np.tile(np.asarray(y, dtype=float), (14, 1)) if np.ndim(y) else np.full(14, float(y))
    f = reference(lo, ys, xs, given)
    return -(FWD6 @ f[:7]) / h, (FWD6 @ f[7:]) / h


def least_magnitude(left: float, right: float) -> tuple[float, float, float]:
    """The least-magnitude value between the one-sided derivatives, with the interval's ends
    widened by the finite-difference tolerance: (expected, low, high)."""
    tl, tr = 1e-7 * max(1.0, abs(left)), 1e-7 * max(1.0, abs(right))
    (a, ta), (b, tb) = sorted([(left, tl), (right, tr)])
    low, high = a - ta, b + tb
    if abs(left - right) <= tl + tr:  # differentiable here: both sides agree
        return 0.5 * (left + right), low, high
    if low <= 0.0 <= high:
        return 0.0, low, high
    return (a, low, high) if abs(a) < abs(b) else (b, low, high)


def kink_cases(name: str) -> list[Kink]:
    return KINKS.get(name, [])


# --- hard values ------------------------------------------------------------------------------

# (y, x, params, expected): the gradient must be finite wherever the loss is finite (the points
# are chosen where the exact gradient is representable: near p = 0 it can overflow legitimately,
# e.g. gamma_deviance at p = 1e-300), and equal ``expected`` (None: finiteness only). Expected
# values are the exact derivative or its limit (rtol 1e-10), including where the loss overflows
# to inf but the slope is still plain (mae of a residual that overflows is still +1).
_S2 = 1 / (2 * math.sqrt(2.0))
HARD: dict[str, list[tuple[Any, Any, dict[str, float], Any]]] = {
    "mse": [(0.0, 1e150, {}, 2e150), (1e300, 1e300, {}, 0.0), (0.0, 5e-324, {}, 1e-323)],
    "rmse": [(0.0, 1e150, {}, 2e150), (1e300, 1e300, {}, 0.0)],
    "mae": [(1e300, 1e300, {}, 0.0), (-1e300, 1e300, {}, 1.0), (0.0, 5e-324, {}, 1.0), (5e-324, 0.0, {}, -1.0)],
    "msle": [
        (0.0, 1e300, {}, 2 * math.log1p(1e300) / (1 + 1e300)),
        (3.0, 3.0, {}, 0.0),
        (0.0, -1 + 2**-30, {}, 2 * math.log(2**-30) / 2**-30),
    ],
    "rmsle": [(0.0, 1e300, {}, 2 * math.log1p(1e300) / (1 + 1e300)), (3.0, 3.0, {}, 0.0)],
    "huber": [
        (-1e300, 1e300, {}, 1.0),
        (1e300, -1e300, {"delta": 2.5}, -2.5),
        (0.0, 0.0, {}, 0.0),
        (0.0, 1e300, {}, 1.0),
    ],
    "pseudo_huber": [
        (-1e300, 1e300, {}, 1.0),
        (0.0, -1e200, {"delta": 2.5}, -2.5),
        (0.0, 5e-324, {}, 5e-324),
        (0.0, 0.0, {}, 0.0),
        (0.0, 1e-300, {"delta": 1e-300}, 1e-300 / math.sqrt(2.0)),
    ],
    "log_cosh": [(0.0, 1e300, {}, 1.0), (0.0, -1e4, {}, -1.0), (0.0, 5e-324, {}, 5e-324), (-1e300, 1e300, {}, 1.0)],
    "smooth_l1": [(-1e300, 1e300, {}, 1.0), (0.0, 1e300, {}, 1.0), (0.0, 5e-324, {"beta": 0.0}, 1.0), (0, 0, {}, 0)],
    "mape": [
        (0.0, 0.0, {}, 0.0),  # an exact hit on zero costs 0; every other p costs inf: slope 0
        (1e-300, 1e-300, {}, 0.0),
        (-1e300, 1e300, {}, 1e-300),
        (1e-300, 1.0, {}, 1e300),
        (1e-300, 1.0, {"percent": 1.0}, 1e302),
        (0.0, 1.0, {"eps": 1e-7}, 1e7),
    ],
    "smape": [
        (0.0, 0.0, {}, 0.0),  # 0 there, 2 everywhere around it: least magnitude 0
        (0.0, 3.0, {}, 0.0),  # 2 for every p != 0
        (1e300, -1e300, {}, 0.0),  # opposite signs: 2 throughout
        (1e300, 1e300, {}, 0.0),
    ],
    "pinball": [
        (0.0, 0.0, {"quantile": 0.9}, 0.0),
        (-1e300, 1e300, {"quantile": 0.9}, 1 - 0.9),
        (1e300, -1e300, {"quantile": 0.9}, -0.9),
    ],
    "poisson": [
        (0.0, 0.0, {}, 1.0),
        (1.0, 0.0, {"eps": 1e-8}, 1.0 - 1e8),
        (0.0, 1e300, {}, 1.0),
        (2.0, 1e300, {}, 1.0),
    ],
    "poisson_log": [
        (0.0, -INF, {}, 0.0),
        (2.0, -1e4, {}, -2.0),
        (0.0, 700.0, {}, math.exp(700.0)),
        (3.0, -INF, {}, -3.0),
    ],
    "poisson_deviance": [
        (0.0, 1e-300, {}, 2.0),
        (1.0, 1e-300, {}, 2 * (1 - 1e300)),
        (1e300, 1e300, {}, 0.0),
        (0.0, 1e300, {}, 2.0),
    ],
    "gamma_deviance": [
        (1.0, 1e-150, {}, 2 * (1e150 - 1 / 1e-150**2)),
        (1e300, 1e300, {}, 0.0),
        (1e-300, 1e-300, {}, 0.0),
        (2.0, 1e300, {}, 2e-300),
    ],
    "tweedie": [
        (0.0, 1e-300, {}, 2e150),
        (1e300, 1e300, {}, 0.0),
        (0.0, 1e-300, {"power": 1.0}, 2.0),
        (1e-300, 1e-300, {"power": 2.0}, 0.0),
    ],
    "gaussian_nll": [
        (0.0, [0.0, 0.0], {"eps": 1e-6}, [0.0, 0.0]),  # variance floored: flat in it
        (1.0, [0.0, 0.0], {"eps": 1e-6}, [-1e6, 0.0]),
        (0.0, [1e150, 1.0], {}, [1e150, 0.5 * (1 - 1e300)]),
        (0.0, [0.0, 1e-300], {}, [0.0, 0.5e300]),
    ],
    "bce": [
        (0.0, 0.0, {}, 1.0),
        (1.0, 1.0, {}, -1.0),
        (1.0, 0.0, {"log_floor": -100.0}, 0.0),
        (0.0, 1.0, {"log_floor": -100.0}, 0.0),
        (1.0, 0.0, {"eps": 1e-7}, 0.0),
        (0.0, 1.0, {"eps": 1e-7}, 0.0),
        (1.0, 1e-300, {}, -1e300),
        (0.0, 1 - 2**-53, {}, 2.0**53),
    ],
    "bce_logits": [
        (1.0, 1e4, {}, 0.0),
        (1.0, -1e4, {}, -1.0),
        (1.0, 1e300, {}, 0.0),
        (1.0, -1e300, {}, -1.0),
        (1.0, INF, {}, 0.0),
        (1.0, -INF, {}, -1.0),
        (0.0, 1e4, {}, 1.0),
        (0.0, -1e4, {}, 0.0),
        (0.0, 1e300, {}, 1.0),
        (0.0, -1e300, {}, 0.0),
        (0.0, -INF, {}, 0.0),
        (0.0, INF, {}, 1.0),
        (1.0, -1e4, {"pos_weight": 3.0}, -3.0),
        (1.0, 1e4, {"label_smoothing": 0.1}, 0.05),
    ],
    "hinge": [
        (1.0, 1e300, {}, 0.0),
        (1.0, -1e300, {}, -1.0),
        (1.0, INF, {}, 0.0),
        (1.0, -INF, {}, -1.0),
        (0.0, 1e300, {}, 1.0),
        (-1.0, -1e300, {}, 0.0),
    ],
    "squared_hinge": [(1.0, 1e300, {}, 0.0), (1.0, -1e150, {}, -2 * (1 + 1e150)), (-1.0, 1e150, {}, 2 * (1 + 1e150))],
    "focal": [
        (1.0, 1.0, {}, 0.0),
        (0.0, 0.0, {}, 0.0),
        (1.0, 1.0, {"gamma": 0.0}, -1.0),
        (0.0, 0.0, {"gamma": 0.0}, 1.0),
        (1.0, 1.0, {"gamma": 0.5}, 0.0),  # (1 - p)^-0.5 log p -> 0: finite although a factor is not
        (0.0, 0.0, {"gamma": 0.5}, 0.0),
        (1.0, 1e-300, {}, None),
    ],
    "focal_logits": [
        (1.0, 1e4, {}, 0.0),
        (1.0, -1e4, {}, -1.0),
        (1.0, 1e300, {}, 0.0),
        (1.0, -1e300, {}, -1.0),
        (1.0, INF, {}, 0.0),
        (0.0, -1e4, {}, 0.0),
        (0.0, 1e4, {}, 1.0),
        (0.0, 1e300, {}, 1.0),
        (0.0, -INF, {}, 0.0),
        (1.0, -1e4, {"alpha": 0.25}, -0.25),
        (1.0, -1e4, {"gamma": 0.0}, -1.0),
        (1.0, 1e4, {"gamma": 0.5}, 0.0),
    ],
    "soft_margin": [
        (1.0, 1e4, {}, 0.0),
        (1.0, -1e4, {}, -1.0),
        (-1.0, 1e300, {}, 1.0),
        (0.0, -1e300, {}, 0.0),
        (1.0, INF, {}, 0.0),
    ],
    "brier": [(0.0, 0.0, {}, 0.0), (1.0, 0.0, {}, -2.0), (0.0, 1.0, {}, 2.0)],
    "zero_one": [(1.0, 0.0, {}, 0.0), (1.0, 1.0, {}, 0.0), (0.0, 0.5, {}, 0.0)],
    "margin_ranking": [
        (1.0, [1e300, -1e300], {}, [0.0, 0.0]),
        (-1.0, [1e300, -1e300], {}, [1.0, -1.0]),
        (1.0, [-1e300, 1e300], {}, [-1.0, 1.0]),
    ],
    "cce": [
        ([1.0, 0, 0], [1.0, 0, 0], {}, [-1.0, 0, 0]),
        ([0, 1.0, 0], [0.5, 0.5, 0], {}, [0, -2.0, 0]),
        ([1.0, 0, 0], [1e-300, 0.5, 0.5], {}, [-1e300, 0, 0]),
        ([0, 1.0, 0], [1.0, 0, 0], {"eps": 1e-7}, [0, 0, 0]),
    ],
    "softmax_ce": [
        ([1.0, 0, 0], [1e4, 0.0, -1e4], {}, [0, 0, 0]),
        ([0, 1.0, 0], [1e4, 0.0, -1e4], {}, [1.0, -1.0, 0]),
        ([0, 1.0, 0], [-INF, 0.0, 0.0], {}, [0, -0.5, 0.5]),  # -inf masks a class
        ([1.0, 0, 0], [1e300, 0.0, -1e300], {}, [0, 0, 0]),
        ([0, 0, 1.0], [1e300, 0.0, -1e300], {}, [1.0, 0, -1.0]),
        ([1.0, 0, 0], [0.0, 0.0, 0.0], {"label_smoothing": 0.3}, [1 / 3 - 0.8, 1 / 3 - 0.1, 1 / 3 - 0.1]),
    ],
    "kl_div": [
        ([0.5, 0.5, 0], [0.5, 0.5, 0], {}, [-1.0, -1.0, 0]),
        ([1.0, 0, 0], [1.0, 0, 0], {}, [-1.0, 0, 0]),
    ],
    "nll": [
        ([0, 1.0, 0], [-INF, 0.0, -INF], {}, [0, -1.0, 0]),
        ([1.0, 0, 0], [-1e300, -1e-300, -INF], {}, [-1.0, 0, 0]),
    ],
    "multiclass_hinge": [
        ([0, 1.0, 0], [1e300, -1e300, 0.0], {}, [1.0, -1.0, 0]),
        ([1.0, 0, 0], [1e300, -1e300, 0.0], {}, [0, 0, 0]),
    ],
    "multiclass_hinge_ww": [([0, 1.0, 0], [1e300, -1e300, 0.0], {}, [1.0, -2.0, 1.0])],
    "categorical_focal": [
        ([1.0, 0, 0], [1.0, 0, 0], {}, [0, 0, 0]),
        ([1.0, 0, 0], [1.0, 0, 0], {"gamma": 0.0}, [-1.0, 0, 0]),
        ([1.0, 0, 0], [1.0, 0, 0], {"gamma": 0.5}, [0, 0, 0]),
        ([0, 1.0, 0], [0.5, 0.5, 0], {}, [0, math.log(0.5) - 0.5, 0]),
    ],
    "multiclass_brier": [([1.0, 0, 0], [1.0, 0, 0], {}, [0, 0, 0]), ([1.0, 0, 0], [0, 1.0, 0], {}, [-2.0, 2.0, 0])],
    "cosine": [
        ([1.0, 0, 0], [1e300, 1e300, 0], {}, [-_S2 * 1e-300, _S2 * 1e-300, 0]),
        ([1.0, 0, 0], [1e-300, 1e-300, 0], {}, [-_S2 * 1e300, _S2 * 1e300, 0]),
        ([0, 0, 0], [1.0, 2.0, 3.0], {"eps": 1e-8}, [0, 0, 0]),
    ],
    # -cos differs from 1 - cos by a constant: the same slopes
    "cosine_similarity": [
        ([1.0, 0, 0], [1e300, 1e300, 0], {}, [-_S2 * 1e-300, _S2 * 1e-300, 0]),
        ([1.0, 0, 0], [1e-300, 1e-300, 0], {}, [-_S2 * 1e300, _S2 * 1e300, 0]),
        ([0, 0, 0], [1.0, 2.0, 3.0], {"eps": 1e-8}, [0, 0, 0]),
    ],
    "dice": [
        ([0, 0, 0], [0, 0, 0], {"smooth": 1.0}, [1.0, 1.0, 1.0]),
        ([1.0, 0, 1.0], [1.0, 0, 1.0], {}, [-0.25, 0.25, -0.25]),
    ],
    "tversky": [([1.0, 0], [1.0, 0], {"alpha": 1.0, "beta": 0.0}, [0, 1.0])],
}


# --- PyTorch formulas -------------------------------------------------------------------------
# Per-sample losses written with torch (T.torch, T.F = torch.nn.functional), in float64, called as
# f(T, y, p, **params) with every parameter of the loss. Multiclass labels are (n, K) rows.


def _t_sign(y):  # type: ignore[no-untyped-def]
    return (y > 0).double() * 2.0 - 1.0


def _t_bce(T, y, p, eps, log_floor, label_smoothing):  # type: ignore[no-untyped-def]
    t = y * (1 - label_smoothing) + label_smoothing / 2
    if eps == 0 and log_floor <= -100:  # F.binary_cross_entropy clamps each log at -100
        return T.F.binary_cross_entropy(p, t, reduction="none")
    q = T.torch.clamp(p, eps, 1 - eps)
    log_p = T.torch.clamp(T.torch.log(q), min=log_floor)
    log_q = T.torch.clamp(T.torch.log1p(-q), min=log_floor)
    return -(t * log_p + (1 - t) * log_q)


def _t_alpha(y, alpha):  # type: ignore[no-untyped-def]
    return alpha * y + (1 - alpha) * (1 - y) if alpha >= 0 else 1.0


def _t_focal(T, y, p, gamma, alpha):  # type: ignore[no-untyped-def]
    m = y * (1 - p) + (1 - y) * p
    return _t_alpha(y, alpha) * m**gamma * T.F.binary_cross_entropy(p, y, reduction="none")


def _t_focal_logits(T, y, x, gamma, alpha):  # type: ignore[no-untyped-def]
    p = T.torch.sigmoid(x)  # as torchvision.ops.sigmoid_focal_loss
    m = y * (1 - p) + (1 - y) * p
    return _t_alpha(y, alpha) * m**gamma * T.F.binary_cross_entropy_with_logits(x, y, reduction="none")


def _t_tweedie(T, y, p, power):  # type: ignore[no-untyped-def]
    if power == 1:
        return 2 * (T.torch.xlogy(y, y) - T.torch.xlogy(y, p) - y + p)
    if power == 2:
        return 2 * (T.torch.log(p / y) + y / p - 1)
    k = power
    return 2 * (y ** (2 - k) / ((1 - k) * (2 - k)) - y * p ** (1 - k) / (1 - k) + p ** (2 - k) / (2 - k))


def _t_crammer_singer(T, y, x, margin, rival_floor):  # type: ignore[no-untyped-def]
    rival = x.masked_fill(y > 0.5, -INF).max(dim=1).values
    if rival_floor > -INF:
        rival = T.torch.clamp(rival, min=rival_floor)
    return T.F.relu(rival - (x * y).sum(1) + margin)


def _t_cos(T, y, p, eps):  # type: ignore[no-untyped-def]
    # Spelled out: F.cosine_similarity's backward inside the eps floor is not the derivative of its
    # own forward (torch 2.13: autograd -0.359 where a finite difference of it gives -0.238).
    ny = T.torch.clamp(T.torch.linalg.vector_norm(y, dim=1), min=eps)
    np_ = T.torch.clamp(T.torch.linalg.vector_norm(p, dim=1), min=eps)
    return (y * p).sum(1) / (ny * np_)


def _t_tversky(T, y, p, alpha, beta, smooth, eps):  # type: ignore[no-untyped-def]
    tp = (y * p).sum(1)
    fp = ((1 - y) * p).sum(1)
    fn = (y * (1 - p)).sum(1)
    return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth + eps)


def _t_nll(T, y, x):  # type: ignore[no-untyped-def]
    # F.nll_loss takes class ids (hard rows); a soft label row weights the log-probabilities.
    hard = (y == 1).any(dim=1)
    return T.torch.where(hard, T.F.nll_loss(x, y.argmax(1), reduction="none"), -(y * x).sum(1))


TORCH = {
    "mse": lambda T, y, p: T.F.mse_loss(p, y, reduction="none"),
    "rmse": lambda T, y, p: T.F.mse_loss(p, y, reduction="none"),  # the per-sample term
    "mae": lambda T, y, p: T.F.l1_loss(p, y, reduction="none"),
    "msle": lambda T, y, p: (T.torch.log1p(p) - T.torch.log1p(y)) ** 2,
    "rmsle": lambda T, y, p: (T.torch.log1p(p) - T.torch.log1p(y)) ** 2,
    "huber": lambda T, y, p, delta: T.F.huber_loss(p, y, reduction="none", delta=delta),
    "pseudo_huber": lambda T, y, p, delta: delta**2 * (T.torch.sqrt(1 + ((p - y) / delta) ** 2) - 1),
    "log_cosh": lambda T, y, p: T.torch.log(T.torch.cosh(p - y)),
    "smooth_l1": lambda T, y, p, beta: T.F.smooth_l1_loss(p, y, reduction="none", beta=beta),
    "mape": lambda T, y, p, eps, percent: (
        T.torch.abs(p - y) / T.torch.clamp(T.torch.abs(y), min=eps) * (100.0 if percent else 1.0)
    ),
    "smape": lambda T, y, p: 2 * T.torch.abs(p - y) / (T.torch.abs(y) + T.torch.abs(p)),
    "pinball": lambda T, y, p, quantile: quantile * T.F.relu(y - p) + (1 - quantile) * T.F.relu(p - y),
    "poisson": lambda T, y, p, eps: T.F.poisson_nll_loss(p, y, log_input=False, eps=eps, reduction="none"),
    "poisson_log": lambda T, y, x: T.F.poisson_nll_loss(x, y, log_input=True, reduction="none"),
    "poisson_deviance": lambda T, y, p: 2 * (T.torch.xlogy(y, y) - T.torch.xlogy(y, p) - y + p),
    "gamma_deviance": lambda T, y, p: 2 * (T.torch.log(p / y) + y / p - 1),
    "tweedie": _t_tweedie,
    # F.gaussian_nll_loss floors the variance without passing the gradient through the floor (its
    # slope below eps is the unfloored formula's at eps): the floor is applied first, with torch.clamp.
    "gaussian_nll": lambda T, y, mv, eps, full: T.F.gaussian_nll_loss(
        mv[:, 0], y, T.torch.clamp(mv[:, 1], min=eps), full=bool(full), eps=eps, reduction="none"
    ),
    "bce": _t_bce,
    "bce_logits": lambda T, y, x, pos_weight, label_smoothing: T.F.binary_cross_entropy_with_logits(
        x,
        y * (1 - label_smoothing) + label_smoothing / 2,
        pos_weight=T.torch.tensor(pos_weight, dtype=T.torch.float64),
        reduction="none",
    ),
    "hinge": lambda T, y, s: T.F.relu(1 - _t_sign(y) * s),
    "squared_hinge": lambda T, y, s: T.F.relu(1 - _t_sign(y) * s) ** 2,
    "focal": _t_focal,
    "focal_logits": _t_focal_logits,
    "soft_margin": lambda T, y, s: T.F.soft_margin_loss(s, _t_sign(y), reduction="none"),
    "brier": lambda T, y, p: (p - y) ** 2,
    "margin_ranking": lambda T, y, x, margin: T.F.margin_ranking_loss(
        x[:, 0], x[:, 1], _t_sign(y), margin=margin, reduction="none"
    ),
    "cce": lambda T, y, p, eps, label_smoothing: (
        -T.torch.xlogy(y * (1 - label_smoothing) + label_smoothing / y.shape[1], T.torch.clamp(p, eps, 1 - eps)).sum(1)
    ),
    "softmax_ce": lambda T, y, x, label_smoothing: T.F.cross_entropy(
        x, y, label_smoothing=label_smoothing, reduction="none"
    ),
    "kl_div": lambda T, y, p: T.F.kl_div(T.torch.log(p), y, reduction="none").sum(1),
    "nll": _t_nll,
    "multiclass_hinge": _t_crammer_singer,
    # multi_margin_loss divides each sample's sum by K
    "multiclass_hinge_ww": lambda T, y, x, margin: (
        T.F.multi_margin_loss(x, y.argmax(1), margin=margin, reduction="none") * x.shape[1]
    ),
    "categorical_focal": lambda T, y, p, gamma, alpha: -(y * alpha * (1 - p) ** gamma * T.torch.log(p)).sum(1),
    "multiclass_brier": lambda T, y, p: ((p - y) ** 2).sum(1),
    "cosine": lambda T, y, p, eps: 1 - _t_cos(T, y, p, eps),
    "cosine_similarity": lambda T, y, p, eps: -_t_cos(T, y, p, eps),
    "dice": lambda T, y, p, smooth, eps: 1 - (2 * (y * p).sum(1) + smooth) / (y.sum(1) + p.sum(1) + smooth + eps),
    "tversky": _t_tversky,
}

NO_TORCH = {
    "zero_one": "piecewise constant: torch comparisons carry no gradient, so there is no formula to differentiate",
}
TORCH_LOSSES = [lo for lo in LOSSES if lo.name in TORCH]


def torch_grad(T, lo, y, x, given):  # type: ignore[no-untyped-def]
    yt = T.torch.tensor(np.asarray(y, dtype=float), dtype=T.torch.float64)
    xt = T.torch.tensor(np.asarray(x, dtype=float), dtype=T.torch.float64, requires_grad=True)
    loss = TORCH[lo.name](T, yt, xt, **lo.resolve_params(given))
    assert tuple(loss.shape) == (xt.shape[0],), f"the torch formula of {lo.name} is not per-sample"
    (g,) = T.torch.autograd.grad(loss.sum(), xt)
    return g.numpy()


# --- the tables are complete ------------------------------------------------------------------


def test_every_builtin_loss_is_here() -> None:
    assert len(BUILTIN) >= 40
    assert set(BUILTIN) <= set(BY_NAME)


def test_kink_table_covers_every_loss() -> None:
    assert not set(KINKS) & SMOOTH, "a loss is both in KINKS and SMOOTH"
    assert set(KINKS) | SMOOTH == set(BUILTIN), f"missing: {sorted(set(BUILTIN) - set(KINKS) - SMOOTH)}"


def test_torch_table_covers_every_loss() -> None:
    assert not set(TORCH) & set(NO_TORCH)
    missing = sorted(set(BUILTIN) - set(TORCH) - set(NO_TORCH))
    assert set(TORCH) | set(NO_TORCH) == set(BUILTIN), f"missing: {missing}"
    for name, why in NO_TORCH.items():
        assert why, f"{name} needs a reason"


def test_param_sets_vary_every_parameter() -> None:
    assert set(EXTRA_PARAMS) <= set(BUILTIN)
    for lo in (BY_NAME[name] for name in BUILTIN):
        for given in param_sets(lo):
            lo.resolve_params(given)  # inside each Param's domain
        for p in lo.params:
            assert any(s.get(p.name, p.default) != p.default for s in EXTRA_PARAMS.get(lo.name, [])), (
                f"{lo.name}: parameter {p.name} is never varied"
            )


# --- 1. the registry --------------------------------------------------------------------------


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_declares_grad(lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    assert callable(lo.grad)
    # grad(y, p, *params) -> dl/dp, or grad(y, x, out, *params) writing a row
    expected = (3 if is_row(lo) else 2) + len(lo.params)
    takes = len(inspect.signature(lo.grad).parameters)
    assert takes == expected, f"{lo.name}.grad takes {takes} arguments; its layout needs {expected}"


# --- 2. finite differences --------------------------------------------------------------------


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_matches_finite_differences(lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    for given in param_sets(lo):
        y, x, h = fd_points(lo.name, _key(given))
        got = compiled(lo, y, x, given)
        assert got.shape == x.shape
        fd, mag = central_difference(lo, y, x, h, given)
        assert_matches_fd(got, fd, mag, h, f"{lo.name} {given}")


# --- 3. kinks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lo", [BY_NAME[n] for n in KINKS], ids=list(KINKS))
def test_least_magnitude_subgradient_at_kinks(lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    for case in kink_cases(lo.name):
        given = dict(case.params)
        x = np.asarray(case.x, dtype=float)
        y = np.asarray(case.y, dtype=float)
        got = compiled(lo, y[None] if y.ndim else y.reshape(1), x[None] if x.ndim else x.reshape(1), given)[0]
        for j in range(x.size):
            left, right = one_sided(lo, y if y.ndim else float(y), x if x.ndim else float(x), j, given)
            expected, low, high = least_magnitude(left, right)
            g = float(got[j]) if x.ndim else float(got)
            where = f"{lo.name} {given} at y={case.y}, x={case.x}, coordinate {j}: one-sided {left:.10g}, {right:.10g}"
            assert low <= g <= high, f"{where}: {g!r} is not between them"
            tol = 1e-7 * max(1.0, min(abs(left), abs(right)))
            assert abs(g - expected) <= tol, f"{where}: {g!r} is not the least-magnitude value {expected!r}"


# --- 4. PyTorch autograd ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def T():  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    return SimpleNamespace(torch=torch, F=torch.nn.functional)


@pytest.mark.parametrize("lo", TORCH_LOSSES, ids=ids(TORCH_LOSSES))
def test_matches_torch_autograd(T, lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    for given in param_sets(lo):
        y, x, _ = fd_points(lo.name, _key(given))
        want = torch_grad(T, lo, y, x, given)
        np.testing.assert_allclose(compiled(lo, y, x, given), want, rtol=1e-10, atol=1e-12, err_msg=f"{given}")
    for case in kink_cases(lo.name):
        if case.not_torch:
            continue
        given = dict(case.params)
        y = np.asarray(case.y, dtype=float)[None] if np.ndim(case.y) else np.asarray([case.y], dtype=float)
        x = np.asarray(case.x, dtype=float)[None] if np.ndim(case.x) else np.asarray([case.x], dtype=float)
        want = torch_grad(T, lo, y, x, given)
        np.testing.assert_allclose(
            compiled(lo, y, x, given), want, rtol=1e-12, atol=1e-15, err_msg=f"kink {case.y}, {case.x}, {given}"
        )


# --- 5. hard values ---------------------------------------------------------------------------


@pytest.mark.parametrize("lo", [BY_NAME[n] for n in HARD], ids=list(HARD))
def test_hard_values(lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    for y, x, given, expected in HARD[lo.name]:
        ya = np.asarray([y], dtype=float)
        xa = np.asarray([x], dtype=float)
        with np.errstate(all="ignore"):
            loss = reference(lo, ya, xa, given)[0]
        got = compiled(lo, ya, xa, given)[0]
        where = f"{lo.name} {given} at y={y!r}, x={x!r} (loss {loss!r})"
        if math.isfinite(loss):
            assert np.isfinite(got).all(), f"{where}: the loss is finite but the gradient is {got!r}"
        if expected is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-300, err_msg=where)


def test_hard_value_signs_bce_logits() -> None:
    """The limits at huge logits, named: at x = +1e4 a positive costs nothing (slope 0) and a
    negative costs x (slope 1)."""
    lo = BY_NAME["bce_logits"]
    got = compiled(lo, np.array([1.0, 0.0, 1.0, 0.0]), np.array([1e4, 1e4, -1e4, -1e4]), {})
    assert got.tolist() == [0.0, 1.0, -1.0, 0.0]


# --- 6. the plumbing --------------------------------------------------------------------------

KERNEL_IDS = [lo for lo in LOSSES if lo.kernel_ids is not None]


@pytest.mark.parametrize("lo", KERNEL_IDS, ids=ids(KERNEL_IDS))
def test_class_ids_match_one_hot_rows(lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    for given in param_sets(lo):
        _, x, _ = fd_points(lo.name, _key(given))
        c = np.random.default_rng(len(x)).integers(0, K, len(x))
        by_id = compiled(lo, c, x, given)
        by_row = compiled(lo, np.eye(K)[c], x, given)
        np.testing.assert_array_equal(by_id, by_row, err_msg=f"{given}")


@contextlib.contextmanager
def plain_python_helpers():  # type: ignore[no-untyped-def]
    """The kernel helpers (softplus, smoothed, ...) as the plain Python functions they were
    declared as, for the duration. Once a kernel is compiled the engine swaps each helper for its
    numba-compiled self in the lossctl modules (registry.jit_helper); calling those from Python
    would not be plain Python, and would compile every helper again in each test process."""
    plain = {id(fn) for fn in JIT_HELPERS}
    swapped = []
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("lossctl"):  # where the engine swaps them (plugins too)
            continue
        for attr, value in list(vars(module).items()):
            py = getattr(value, "py_func", None)
            if py is not None and id(py) in plain:
                swapped.append((module, attr, value))
                setattr(module, attr, py)
    try:
        yield
    finally:
        for module, attr, value in swapped:
            setattr(module, attr, value)


def _python_grad(lo, y, x, given):  # type: ignore[no-untyped-def]
    """The declared grad called as plain Python, row by row (numpy scalars: IEEE division)."""
    q = ptuple(lo, given)
    out = np.empty(x.shape)
    with np.errstate(all="ignore"), plain_python_helpers():
        for i in range(x.shape[0]):
            if x.ndim == 1:
                out[i] = lo.grad(np.float64(y[i]), np.float64(x[i]), *q)
            else:
                row = np.empty(x.shape[1])
                lo.grad(np.float64(y[i]) if np.ndim(y[i]) == 0 else y[i], x[i], row, *q)
                out[i] = row
    return out


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_compiled_equals_python(lo) -> None:  # type: ignore[no-untyped-def]
    require_grad(lo)
    for given in param_sets(lo):
        y, x, _ = fd_points(lo.name, _key(given))
        got = compiled(lo, y, x, given)
        np.testing.assert_array_equal(got, _python_grad(lo, y, x, given), err_msg=f"{given}")
    for case in kink_cases(lo.name):
        given = dict(case.params)
        y = np.asarray([case.y], dtype=float)
        x = np.asarray([case.x], dtype=float)
        np.testing.assert_array_equal(compiled(lo, y, x, given), _python_grad(lo, y, x, given))


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_float32_inputs(lo) -> None:  # type: ignore[no-untyped-def]
    """float32 inputs give the gradient of their float64 values: the elementwise kernel widens
    per element; rows (multiclass, named columns) are widened by lossctl.evaluate."""
    require_grad(lo)
    given = param_sets(lo)[-1]
    y, x, _ = fd_points(lo.name, _key(given))
    x32 = x.astype(np.float32)
    if lo.pred_rows == "probabilities":
        x32 = x32 / x32.sum(axis=1, keepdims=True, dtype=np.float32)
    y32 = y.astype(np.float32)
    want = compiled(lo, y32.astype(np.float64), x32.astype(np.float64), given)
    if is_row(lo):
        got = lossctl.evaluate(y32, x32, lo, reduction="none", **given).gradient()
    else:
        got = compiled(lo, y32, x32, given, dtype=np.float32)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
